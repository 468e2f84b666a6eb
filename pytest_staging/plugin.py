"""pytest-staging: glue only. Options, ini keys, markers, fixtures and the role switch
(inactive / controller / xdist worker). The logic lives in settings, policy, items, controller,
verdict and reports."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_staging import hookspecs, promotion
from pytest_staging.gates.performance import pytest_glue as performance_glue
from pytest_staging.policy import BUILTIN_GATES, PolicyError, load_policy
from pytest_staging.settings import (
    DEFAULT_REPORT_DIR,
    ENV_URL,
    NO_URL,
    Settings,
    SettingsError,
    find_url,
    report_dir_of,
    resolve,
)

# Only an active run needs requests, the controller and the gates: an inactive run (no URL)
# imports none of them, so the installed plugin costs next to nothing.
if TYPE_CHECKING:
    from pytest_staging.client import StagingSession
    from pytest_staging.controller import Controller

SETTINGS_KEY = pytest.StashKey[Settings]()
CONTROLLER_KEY: pytest.StashKey[Controller] = pytest.StashKey()

GATE_HELP = {
    "integration": "integration gate: the deployed system works with its real dependencies",
    "security": "security gate: headers, cookies, TLS, exposure and source checks",
    "performance": "performance gate: load tests with thresholds",
}


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def _seconds(low: float) -> Any:
    """An option type for a number of seconds of at least ``low`` (a usage error otherwise)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value >= low or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected seconds >= {low:g}, got {text!r}")
        return value

    return parse


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("staging", "staging: release gate for a live staging environment")
    group.addoption("--staging-url", dest="staging_url", metavar="URL",
                    help="base URL of the staging target; activates the release gate "
                         "[env STAGING_URL, ini staging_url]")
    group.addoption("--staging-policy", dest="staging_policy", metavar="FILE",
                    help="release policy TOML file [env STAGING_POLICY, ini staging_policy, "
                         "else [tool.pytest-staging] in pyproject.toml]")
    group.addoption("--staging-report-dir", dest="staging_report_dir", metavar="DIR",
                    help=f"where verdict.json and the reports go [{DEFAULT_REPORT_DIR}]")
    group.addoption("--staging-gate", dest="staging_gate", action="append", metavar="NAME",
                    help="run only this gate; repeatable [all gates]")
    group.addoption("--staging-expect-version", dest="staging_expect_version", metavar="V",
                    help="version the target must report at start and end "
                         "[env STAGING_EXPECT_VERSION]")
    group.addoption("--staging-header", dest="staging_header", action="append",
                    metavar="'NAME: VALUE'",
                    help="extra header on every request, $VAR expanded from the environment; "
                         "repeatable")
    group.addoption("--staging-ca-bundle", dest="staging_ca_bundle", metavar="FILE",
                    help="CA bundle to verify the target's TLS certificate [system CAs]")
    group.addoption("--staging-insecure", dest="staging_insecure", action="store_true",
                    help="do not verify TLS certificates (a verdict warning) [off]")
    group.addoption("--staging-allow-destructive", dest="staging_allow_destructive",
                    action="store_true",
                    help="run destructive tests even on a sensitive target [off]")
    group.addoption("--staging-source", dest="staging_source", metavar="PATH",
                    help="source tree the security gate scans with bandit, once per run "
                         "[policy security.bandit.source, else no scan]")
    group.addoption("--staging-wait", dest="staging_wait", type=_seconds(0.0), metavar="SECONDS",
                    help="how long to wait for the target to become ready [policy, 30]")
    group.addoption("--staging-timeout", dest="staging_timeout", type=_seconds(0.001),
                    metavar="SECONDS",
                    help="default timeout of each request of the staging client [policy, 10]")
    group.addoption("--staging-retries", dest="staging_retries", type=promotion.retries_count,
                    metavar="N",
                    help="rerun a failed test up to N times with pytest-rerunfailures; one that "
                         "passes only on retry is flaky [policy flaky.retries, 0]")
    group.addoption("--staging-key-env", dest="staging_key_env", metavar="NAME",
                    help="env var holding the HMAC-SHA256 key that signs verdict.json "
                         "[STAGING_VERDICT_KEY]")
    parser.addini("staging_url", "base URL of the staging target")
    parser.addini("staging_policy", "release policy TOML file, relative to the ini file")
    parser.addini("staging_report_dir", "where verdict.json and the reports go, relative to "
                                        "the ini file")
    # The performance gate's options (after these), staging_load fixture and isolation hooks.
    pluginmanager.register(performance_glue, "staging-performance")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> Any:
    """A conftest that cannot be imported ends the run before pytest_configure: an earlier GO
    verdict.json would survive it. Replace it with a NO-GO when the run is meant to be active."""
    try:
        return (yield)
    except Exception as exc:
        known = early_config.known_args_namespace
        if getattr(known, "staging_url", None) or os.environ.get(ENV_URL):
            # Options are not parsed into config.option yet: the early namespace has them.
            given = getattr(known, "staging_report_dir", None)
            report_dir = Path(given) if given else report_dir_of(early_config)
            from pytest_staging.controller import write_placeholder
            from pytest_staging.redact import Redactor

            reason = str(exc).strip().splitlines() or [type(exc).__name__]
            with contextlib.suppress(OSError):
                write_placeholder(Path(report_dir), f"usage error: conftest: {reason[0]}",
                                  Redactor(), exit_status=4)
        raise


def _register_markers(config: pytest.Config, gates: Any) -> None:
    for name in gates:
        config.addinivalue_line("markers", f"{name}: {GATE_HELP.get(name, f'{name} gate')}")
    config.addinivalue_line("markers", "advisory: this test reports but never blocks promotion")
    config.addinivalue_line("markers", "destructive: changes data; never run against a target "
                                       "that matches sensitive_url")


def _declared_gates(config: pytest.Config) -> list[str]:
    """Gate markers to register even in an inactive run, so --strict-markers stays clean."""
    try:
        return list(load_policy(config.getoption("staging_policy", None), config.rootpath).gates)
    except (PolicyError, OSError):
        return list(BUILTIN_GATES)


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        if "staging_url" in workerinput:
            _configure_worker(config, workerinput)
        else:
            _register_markers(config, _declared_gates(config))
        return
    url, source = find_url(config)
    if not url:
        url = config.hook.pytest_staging_default_url(config=config)
        source = "pytest_staging_default_url"
    if not url:
        _register_markers(config, _declared_gates(config))
        return
    _configure_controller(config, url, source)


def _fail_usage(config: pytest.Config, message: str) -> None:
    """A usage error in an active run: a NO-GO verdict that says so, then pytest's exit 4."""
    from pytest_staging.controller import write_placeholder
    from pytest_staging.redact import Redactor

    report_dir = report_dir_of(config)
    # The usage error below is the message that matters if even this cannot be written.
    with contextlib.suppress(OSError):
        write_placeholder(Path(report_dir), f"usage error: {message}", Redactor(),
                          exit_status=4)
    raise pytest.UsageError(f"pytest-staging: {message}")


def _configure_controller(config: pytest.Config, url: str, source: str) -> None:
    from pytest_staging.controller import Controller, XdistControllerHooks
    from pytest_staging.gates.security import gate as security_gate
    from pytest_staging.items import ItemHooks

    try:
        settings = resolve(config, url, source)
    except (PolicyError, SettingsError) as exc:
        _fail_usage(config, str(exc))
        return
    _register_markers(config, settings.policy.gates)
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(performance_glue.PerformanceHooks(), "staging-performance-run")
    if config.option.collectonly:
        # Listing tests decides nothing: show the gate selection, touch no verdict.
        config.pluginmanager.register(
            ItemHooks(settings, settings.redactor(), lambda: False), "staging-items")
        security_gate.register(config, settings)
        return
    problem = promotion.usage_problem(config, settings)
    if problem:
        _fail_usage(config, problem)
    controller = Controller(config, settings)
    try:
        controller.start()
    except OSError as exc:
        raise pytest.UsageError(
            f"pytest-staging: cannot write the verdict to {settings.report_dir}: "
            f"{exc.strerror or exc}") from None
    config.stash[CONTROLLER_KEY] = controller
    config.pluginmanager.register(controller, "staging-controller")
    promotion.register(config, controller)
    if config.pluginmanager.hasplugin("xdist") and _xdist_active(config):
        config.pluginmanager.register(XdistControllerHooks(controller), "staging-xdist")
    else:
        # The destructive guard needs the redirect chain, known once the target was checked.
        items = ItemHooks(settings, controller.redactor, lambda: controller.target.sensitive,
                          controller.blocked)
        config.pluginmanager.register(items, "staging-items")
        security_gate.register(config, settings)


def _xdist_active(config: pytest.Config) -> bool:
    """Whether xdist will run the tests on workers (its DSession is in charge)."""
    return getattr(config.option, "dist", "no") != "no" and not config.option.collectonly


def _configure_worker(config: pytest.Config, workerinput: dict[str, Any]) -> None:
    from pytest_staging.gates.security import gate as security_gate
    from pytest_staging.items import ItemHooks

    try:
        settings = resolve(config, workerinput["staging_url"], "controller")
    except (PolicyError, SettingsError) as exc:
        raise pytest.UsageError(f"pytest-staging: {exc}") from None
    _register_markers(config, settings.policy.gates)
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(performance_glue.PerformanceHooks(), "staging-performance-run")
    config.pluginmanager.register(performance_glue.WorkerLockHooks(), "staging-performance-lock")
    sensitive = bool(workerinput.get("staging_sensitive", False))
    blocked = str(workerinput.get("staging_blocked", ""))
    items = ItemHooks(settings, settings.redactor(), lambda: sensitive, lambda: blocked)
    config.pluginmanager.register(items, "staging-items")
    config.pluginmanager.register(promotion.FlakyProperty(), "staging-flaky")
    security_gate.register(config, settings)


def _settings(config: pytest.Config) -> Settings:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        pytest.fail(NO_URL, pytrace=False)
    return settings


@pytest.fixture(scope="session")
def staging_url(pytestconfig: pytest.Config) -> str:
    """The staging target's base URL, normalised with a trailing slash."""
    return _settings(pytestconfig).url


@pytest.fixture
def staging(request: pytest.FixtureRequest, pytestconfig: pytest.Config
            ) -> Iterator[StagingSession]:
    """A ``requests.Session`` aimed at the staging target.

    Relative paths join the base URL (``staging.get("/health")``); every request has the
    policy's timeout; idempotent requests are retried on connection errors and 502/503/504;
    ``--staging-header`` values are sent; the last exchanges are attached to a failing test's
    report as evidence, with secrets redacted.
    """
    from pytest_staging.client import StagingSession
    from pytest_staging.connection_pool import shared_adapter
    from pytest_staging.items import CLIENT_KEY

    settings = _settings(pytestconfig)
    policy = settings.policy
    client = StagingSession(
        settings.url,
        timeout=policy["target.timeout"],
        retries=policy["target.retries"],
        headers=settings.headers,
        params=dict(settings.params),
        verify=settings.verify,
        keep=policy["target.evidence"],
        body_limit=policy["target.evidence_body"],
        # Per-test cookies and headers, one kept-alive connection pool per process.
        adapter=shared_adapter(pytestconfig, policy["target.retries"]),
    )
    request.node.stash[CLIENT_KEY] = client
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def staging_scan(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Any:
    """Run the security gate's passive checks on a path, URL or ``requests.Response``.

    ``staging_scan("/account")`` checks headers and cookies of that page (relative paths join
    the base URL); ``staging_scan(response)`` checks a response you already have (e.g. a
    logged-in page); ``families=("headers", "cookies", "exposure", "cors", "transport")``
    picks the checks. Returns finding dicts with policy levels applied and records them in the
    verdict; asserting on them is up to the test.
    """
    from pytest_staging.gates.security import gate as security_gate

    settings = _settings(pytestconfig)
    sec = security_gate.security_settings(pytestconfig, settings)
    return security_gate.make_scanner(request.node, settings, sec)
