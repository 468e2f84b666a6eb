"""pytest-staging: glue only. Options, ini keys, markers, fixtures and the role switch
(inactive / controller / xdist worker). The logic lives in settings, policy, items, controller,
verdict and reports."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_staging import (
    exit_codes,
    github_annotations,
    hookspecs,
    insecure_tls,
    junit_hooks,
    log_redaction,
    lost_interrupts,
    missing_url,
    promotion,
    pytest_html_hooks,
    report_dir_lock,
    run_setup,
    worker_stops,
)
from pytest_staging.browser import glue as browser_glue
from pytest_staging.durations import seconds_option
from pytest_staging.gates.performance import pytest_glue as performance_glue
from pytest_staging.policy import BUILTIN_GATES, PolicyError, load_policy
from pytest_staging.settings import (
    DEFAULT_REPORT_DIR,
    SETTINGS_KEY,
    Settings,
    SettingsError,
    active_settings,
    report_dir_of,
    resolve,
    setting,
)
from pytest_staging.stale import (
    MAIN_KEY,
    RUN_ID_KEY,
    early_target,
    invalidate_early,
    write_placeholder,
)

# Only an active run needs requests, the controller and the gates: an inactive run (no URL)
# imports none of them, so the installed plugin costs next to nothing.
if TYPE_CHECKING:
    from pytest_staging.client import StagingSession
    from pytest_staging.controller import Controller

CONTROLLER_KEY: pytest.StashKey[Controller] = pytest.StashKey()
#: The placeholder's reason of an active run that only lists its tests (--collect-only).
NO_TEST_KEY = pytest.StashKey[str]()
#: Where the URL came from when a conftest's pytest_staging_default_url hook gave it.
DEFAULT_URL_SOURCE = "started by conftest"

GATE_HELP = {
    "integration": "integration gate: the deployed system works with its real dependencies",
    "security": "security gate: headers, cookies, TLS, exposure and source checks",
    "performance": "performance gate: load tests with thresholds",
    "parity": "parity gate: staging compared with production (read-only)",
    "contract": "contract gate: the API conforms to its OpenAPI document (Schemathesis)",
}


def _end_of_process() -> None:
    """The last atexit hook of the process (registered when pytest loads the plugin, before
    any conftest, plugin or test registers theirs): see ``controller.ignore_late_signals``."""
    controller = sys.modules.get("pytest_staging.controller")
    if controller is not None:  # never imported: no active run, no late handler
        controller.ignore_late_signals()


atexit.register(_end_of_process)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


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
                         "its value is a secret, redacted in every output (unless "
                         "--staging-public-header NAME); repeatable")
    group.addoption("--staging-public-header", dest="staging_public_header", action="append",
                    metavar="NAME",
                    help="a --staging-header / --staging-compare-header whose value is not "
                         "secret (shown as typed in the reports); repeatable [policy "
                         "target.public_headers, else every header value is redacted]")
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
    group.addoption("--staging-wait", dest="staging_wait", type=seconds_option(0.0),
                    metavar="SECONDS",
                    help="how long to wait for the target to become ready [policy, 30]")
    group.addoption("--staging-timeout", dest="staging_timeout", type=seconds_option(0.001),
                    metavar="SECONDS",
                    help="default timeout of each request of the staging client [policy, 10]")
    group.addoption("--staging-retries", dest="staging_retries", type=promotion.retries_count,
                    metavar="N",
                    help="rerun a failed test up to N times with pytest-rerunfailures; one that "
                         "passes only on retry is flaky [policy flaky.retries, 0]")
    group.addoption("--staging-key-env", dest="staging_key_env", metavar="NAME",
                    help="env var holding the HMAC-SHA256 key that signs verdict.json "
                         "[STAGING_VERDICT_KEY]")
    group.addoption("--staging-subject", dest="staging_subject", metavar="SUBJECT",
                    help="what was tested, recorded and attested, e.g. an image "
                         "'ghcr.io/acme/shop@sha256:...' or a version [env STAGING_SUBJECT, "
                         "else the observed version]")
    group.addoption("--staging-run-id", dest="staging_run_id", metavar="ID",
                    help="CI run id recorded in the provenance [env STAGING_RUN_ID, else the "
                         "CI system's own run id]")
    group.addoption("--staging-shard", dest="staging_shard", metavar="K/N",
                    help="run the K-th of N slices of the collected tests and write a shard "
                         "verdict (never deployable: pytest-staging merge the N shards) "
                         "[env STAGING_SHARD, else the whole suite]")
    group.addoption("--staging-shard-durations", dest="staging_shard_durations",
                    metavar="FILE",
                    help="an earlier verdict.json whose test durations balance the shards "
                         "[each test weighs the same]")
    group.addoption("--staging-signing-key", dest="staging_signing_key", metavar="FILE",
                    help="Ed25519 private key (PEM) that signs verdict.intoto.json "
                         "[env STAGING_SIGNING_KEY holding the PEM, else no attestation]")
    group.addoption("--staging-compare-url", dest="staging_compare_url", metavar="URL",
                    help="compare staging with this environment (usually production), "
                         "read-only, in the parity gate [policy parity.url, else no comparison]")
    group.addoption("--staging-compare-header", dest="staging_compare_header", action="append",
                    metavar="'NAME: VALUE'",
                    help="header sent only to the compare URL (its credentials, always "
                         "redacted), $VAR expanded from the environment; repeatable")
    group.addoption("--staging-openapi", dest="staging_openapi", metavar="SCHEMA",
                    help="OpenAPI document of the target (a path on it like /openapi.json, a "
                         "URL or a file); adds the contract gate [policy contract.schema]")
    group.addoption("--staging-contract-seed", dest="staging_contract_seed",
                    type=promotion.retries_count, metavar="N",
                    help="seed of the contract gate's generated requests, to reproduce a run "
                         "[policy contract.seed, else random; recorded in the verdict]")
    group.addoption("--staging-fail-on", dest="staging_fail_on", choices=("error", "warn"),
                    metavar="error|warn",
                    help="what makes the verdict NO-GO: error (failures only) or warn "
                         "(every verdict warning too) [error]")
    group.addoption("--staging-history", dest="staging_history", metavar="PATH",
                    help="SQLite file each finished run is appended to (trends: "
                         "pytest-staging history PATH --html FILE) [env STAGING_HISTORY, ini "
                         "staging_history, policy history.path, else none]")
    group.addoption("--staging-show-settings", dest="staging_show_settings",
                    action="store_true",
                    help="print every effective staging setting with its source "
                         "(command line, env, ini, policy, default), secrets redacted, "
                         "and exit [off]")
    parser.addini("staging_url", "base URL of the staging target")
    parser.addini("staging_policy", "release policy TOML file, relative to the ini file")
    parser.addini("staging_report_dir", "where verdict.json and the reports go, relative to "
                                        "the ini file")
    parser.addini("staging_history", "history store (SQLite file), relative to the ini file")
    # The performance gate's options (after these), staging_load fixture and isolation hooks.
    pluginmanager.register(performance_glue, "staging-performance")
    # The browser integration's option and --base-url snapshot (Playwright itself stays lazy).
    pluginmanager.register(browser_glue, "staging-browser-glue")
    pluginmanager.register(ShowSettingsHook(), "staging-show-settings")
    # Before pytest parses a single option: an invocation meant to be an active run replaces
    # the verdict on disk, so whatever fails from here on leaves no earlier GO behind.
    invalidate_early(pluginmanager.get_plugin("pytestconfig"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """The exit status is 0 if and only if the verdict is GO, whatever other plugins and
    conftests did to ``session.exitstatus`` after the verdict was written."""
    config.stash[MAIN_KEY] = True
    try:
        try:
            status = yield
        except pytest.UsageError as exc:
            # pytest prints it in one line and exits 4; the verdict says so too (a GO written
            # before it is withdrawn).
            controller = config.stash.get(CONTROLLER_KEY, None)
            if controller is not None:
                if (controller.verdict or {}).get("verdict") == "GO":
                    controller.escaped(exc, exit_codes.USAGE)
                controller.final_exit_status(4)
                controller.restore_signals()
            raise
        except BaseException as exc:
            controller = config.stash.get(CONTROLLER_KEY, None)
            if controller is None:
                raise
            try:
                code = controller.escaped(exc)
            except BaseException:
                controller.restore_signals()
                raise
            return controller.hand_over_signals(code, command_line=_command_line(config))
        controller = config.stash.get(CONTROLLER_KEY, None)
        if controller is None:
            listed = config.stash.get(NO_TEST_KEY, "")
            if not listed:
                if status:
                    _stopped_before_start(config, int(status))
                return status
            # --collect-only judged nothing: a CI step that runs it by mistake is not green.
            code = int(status or 0)
            code = exit_codes.COULD_NOT_JUDGE if code in (0, 5) else code
            sys.stdout.write(f"pytest-staging: NO-GO, could not judge (exit {code}): "
                             f"{listed}\n")
            return code
        try:
            code = controller.final_exit_status(int(status or 0))
        except BaseException:
            controller.restore_signals()
            raise
        return controller.hand_over_signals(code, command_line=_command_line(config))
    finally:
        # The report dir stays this run's until its last write (a late signal's verdict).
        report_dir_lock.release(config)


#: What pytest's own status says of a run that stopped before the plugin's pytest_configure.
_EARLY_STOPS = {2: "run interrupted before pytest-staging started (pytest exit status 2)",
                3: "internal error before pytest-staging started (pytest exit status 3: a "
                   "plugin or conftest failed in pytest_configure; pytest's output says why)"}


def _stopped_before_start(config: pytest.Config, status: int) -> None:
    """A conftest's or plugin's pytest_configure that ran before this plugin's and raised
    (SystemExit, KeyboardInterrupt, any exception): pytest handled it and the controller never
    started. The start-up placeholder stands; it now says what pytest said, with its status."""
    if os.environ.get("PYTEST_XDIST_WORKER") or report_dir_lock.busy(config):
        return
    from pytest_staging.stale import verdict_run_id

    try:
        configured, report_dir = early_target(config, os.environ)
    except Exception:
        return
    run_id = config.stash.get(RUN_ID_KEY, "")
    if not configured or not run_id or verdict_run_id(report_dir) != run_id:
        return  # not an active run, or not this run's placeholder
    from pytest_staging.redact import Redactor

    reason = _EARLY_STOPS.get(
        status, f"pytest ended with exit status {status} before pytest-staging started")
    with contextlib.suppress(OSError):
        write_placeholder(report_dir, reason, Redactor(), run_id=run_id, exit_status=status)


def _command_line(config: pytest.Config) -> bool:
    """Whether pytest runs from the command line (``pytest ...``, ``python -m pytest ...``):
    then the process ends when ``pytest_cmdline_main`` returns. ``pytest.main(args)`` from a
    program (pytester's in-process runs too) passes its own args or plugins."""
    params = config.invocation_params
    return not params.plugins and tuple(params.args) == tuple(sys.argv[1:])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> Any:
    """A conftest that cannot be imported ends the run before pytest_configure: an earlier GO
    verdict.json would survive it. Replace it with a NO-GO when the run is meant to be active."""
    try:
        return (yield)
    except Exception as exc:
        configured, report_dir = early_target(early_config, os.environ)
        if (configured and not os.environ.get("PYTEST_XDIST_WORKER")
                and not report_dir_lock.busy(early_config)):
            from pytest_staging.redact import Redactor

            reason = str(exc).strip().splitlines() or [type(exc).__name__]
            with contextlib.suppress(OSError):
                write_placeholder(report_dir, f"usage error: conftest: {reason[0]}",
                                  Redactor(), exit_status=4,
                                  run_id=early_config.stash.get(RUN_ID_KEY, ""))
        raise


class ShowSettingsHook:
    """``--staging-show-settings``: print the effective settings and stop (like --markers)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> int | None:
        if setting(config, "show_settings").value:
            from pytest_staging import show_settings

            return show_settings.main(config)
        return None


def _register_markers(config: pytest.Config, gates: Any) -> None:
    for name in gates:
        config.addinivalue_line("markers", f"{name}: {GATE_HELP.get(name, f'{name} gate')}")
    config.addinivalue_line("markers", "advisory: this test reports but never blocks promotion")
    config.addinivalue_line("markers", "destructive: changes data; never run against a target "
                                       "that matches sensitive_url")


def _declared_gates(config: pytest.Config) -> list[str]:
    """Gate markers to register even in an inactive run, so --strict-markers stays clean."""
    try:
        policy_file = setting(config, "policy", skip_empty=True).value
        return list(load_policy(policy_file, config.rootpath).gates)
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
    busy = report_dir_lock.busy(config)
    if busy:
        if config.option.help:
            _register_markers(config, _declared_gates(config))
            return  # --help shows the options; the report dir stays the other run's
        # Another live run owns the report dir: this one writes nothing there.
        raise pytest.UsageError(f"pytest-staging: {busy}")
    url, source, problem = run_setup.url_problem(config)
    if problem:
        _fail_usage(config, problem)
    if not url:
        url = config.hook.pytest_staging_default_url(config=config)
        source = DEFAULT_URL_SOURCE
    if not url:
        _register_markers(config, _declared_gates(config))
        missing_url.register(config)
        return
    _configure_controller(config, url, source)


def _fail_usage(config: pytest.Config, message: str) -> None:
    """A usage error in an active run: a NO-GO verdict that says so, then pytest's exit 4."""
    from pytest_staging.redact import Redactor

    report_dir = report_dir_of(config)
    run_id = config.stash.get(RUN_ID_KEY, "")
    # The usage error below is the message that matters if even this cannot be written;
    # nothing is written where another live run holds the report dir.
    with contextlib.suppress(OSError):
        if not report_dir_lock.claim(config, Path(report_dir), run_id):
            write_placeholder(Path(report_dir), f"usage error: {message}", Redactor(),
                              exit_status=4, run_id=run_id)
    raise pytest.UsageError(f"pytest-staging: {message}")


def _configure_controller(config: pytest.Config, url: str, source: str) -> None:
    from pytest_staging.controller import Controller, XdistControllerHooks
    from pytest_staging.items import ItemHooks

    settings, problem = run_setup.resolve_settings(config, url, source)
    if settings is None:
        _fail_usage(config, problem)
        return
    busy = report_dir_lock.claim(config, settings.report_dir, config.stash.get(RUN_ID_KEY, ""))
    if busy:  # the report dir the settings name is another live run's
        raise pytest.UsageError(f"pytest-staging: {busy}")
    _register_markers(config, settings.policy.gates)
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(performance_glue.PerformanceHooks(), "staging-performance-run")
    insecure_tls.register(config, settings)
    pytest_html_hooks.register_test_process(config)
    if config.option.collectonly:
        # Listing tests decides nothing: show the gate selection; no verdict may stay behind.
        from pytest_staging.redact import Redactor

        config.stash[NO_TEST_KEY] = "--collect-only: tests were listed, not run"
        with contextlib.suppress(OSError):
            write_placeholder(settings.report_dir, config.stash[NO_TEST_KEY], Redactor(),
                              run_id=config.stash.get(RUN_ID_KEY, ""),
                              exit_status=exit_codes.COULD_NOT_JUDGE)
        config.pluginmanager.register(
            ItemHooks(settings, settings.redactor(), lambda: False), "staging-items")
        _register_shard(config, need_run_id=False, collects=True)
        _register_gates(config, settings)
        return
    contract_gate = _selected_gate(settings, "contract")
    attest_settings, problem = run_setup.run_problem(config, settings)
    if attest_settings is None:
        _fail_usage(config, problem)
        return
    from pytest_staging import attestation_glue

    xdist = config.pluginmanager.hasplugin("xdist") and _xdist_active(config)
    _register_shard(config, need_run_id=True, collects=not xdist)
    controller = Controller(config, settings)
    try:
        controller.start()
    except OSError as exc:
        raise pytest.UsageError(
            f"pytest-staging: cannot write the verdict to {settings.report_dir}: "
            f"{exc.strerror or exc}") from None
    config.stash[CONTROLLER_KEY] = controller
    config.pluginmanager.register(lost_interrupts.LostInterruptHooks(), "staging-lost-interrupts")
    from pytest_staging import trace_glue

    # One trace per test, derived from the run id: the same ids on every xdist worker.
    trace_glue.configure(config, controller.run_id, settings.url)
    browser_glue.configure(config, settings, controller=True)
    config.pluginmanager.register(controller, "staging-controller")
    config.pluginmanager.register(_wire_hooks(), "staging-wire")
    attestation_glue.register(config, controller, attest_settings)
    log_redaction.register(config, controller.redactor)
    junit_hooks.register(config, controller)
    pytest_html_hooks.register_controller(config, controller)
    github_annotations.register(config, controller)
    from pytest_staging import otel_export

    otel_export.register(config, controller)  # nothing without the OTEL_* variables and [otel]
    if xdist:
        config.pluginmanager.register(XdistControllerHooks(controller), "staging-xdist")
        if contract_gate:
            contract_gate.register_xdist(config, settings)
    else:
        # The destructive guard needs the redirect chain, known once the target was checked.
        items = ItemHooks(settings, controller.redactor, lambda: controller.target.sensitive,
                          controller.blocked)
        config.pluginmanager.register(items, "staging-items")
        _register_gates(config, settings, is_sensitive=lambda: controller.target.sensitive,
                        blocked=controller.blocked)


#: The built-in gates whose glue registers collection hooks; each ``register`` does nothing
#: for a gate the run left out, so a gate that is not selected is not even imported.
_GATE_MODULES = {"security": "pytest_staging.gates.security.gate",
                 "parity": "pytest_staging.gates.parity.gate",
                 "contract": "pytest_staging.gates.contract.gate"}


def _selected_gate(settings: Settings, name: str) -> Any:
    """The glue module of built-in gate ``name`` if the run selected it, else None."""
    if name not in settings.gates_selected:
        return None
    import importlib

    return importlib.import_module(_GATE_MODULES[name])


def _register_gates(config: pytest.Config, settings: Settings, *, is_sensitive: Any = None,
                    blocked: Any = None) -> None:
    """The selected built-in gates' items, on the process that collects the tests."""
    for name in ("security", "parity"):
        gate = _selected_gate(settings, name)
        if gate is not None:
            gate.register(config, settings)
    contract_gate = _selected_gate(settings, "contract")
    if contract_gate is not None:
        contract_gate.register(config, settings, is_sensitive=is_sensitive or (lambda: False),
                               blocked=blocked or (lambda: ""))


def _register_shard(config: pytest.Config, *, need_run_id: bool, collects: bool) -> None:
    """``--staging-shard``: this process takes its slice (or, on the xdist controller, hands
    the shard to the workers); an unusable value is a usage error."""
    from pytest_staging import shard_hooks
    from pytest_staging.shard_split import ShardError

    try:
        run = shard_hooks.configure(config, need_run_id=need_run_id)
    except ShardError as exc:
        _fail_usage(config, str(exc))
        return
    if run is not None:
        shard_hooks.register(config, run, collects=collects)


def _wire_hooks() -> Any:
    from pytest_staging.wire import WireHooks

    return WireHooks()


def _xdist_active(config: pytest.Config) -> bool:
    """Whether xdist will run the tests on workers (its DSession is in charge)."""
    return getattr(config.option, "dist", "no") != "no" and not config.option.collectonly


def _configure_worker(config: pytest.Config, workerinput: dict[str, Any]) -> None:
    from pytest_staging.items import ItemHooks

    try:
        settings = resolve(config, workerinput["staging_url"], "controller")
    except (PolicyError, SettingsError) as exc:
        raise pytest.UsageError(f"pytest-staging: {exc}") from None
    _register_markers(config, settings.policy.gates)
    config.stash[SETTINGS_KEY] = settings
    from pytest_staging import trace_glue

    trace_glue.configure(config, str(workerinput.get(trace_glue.WORKER_SEED) or ""),
                         settings.url)
    config.pluginmanager.register(performance_glue.PerformanceHooks(), "staging-performance-run")
    insecure_tls.register(config, settings)
    pytest_html_hooks.register_test_process(config)
    config.pluginmanager.register(performance_glue.WorkerLockHooks(), "staging-performance-lock")
    sensitive = bool(workerinput.get("staging_sensitive", False))
    blocked = str(workerinput.get("staging_blocked", ""))
    items = ItemHooks(settings, settings.redactor(), lambda: sensitive, lambda: blocked)
    config.pluginmanager.register(items, "staging-items")
    from pytest_staging import shard_hooks

    shard = shard_hooks.worker_run(workerinput)
    if shard is not None:
        shard_hooks.register(config, shard, collects=True)
    config.pluginmanager.register(_wire_hooks(), "staging-wire")
    config.pluginmanager.register(lost_interrupts.LostInterruptHooks(), "staging-lost-interrupts")
    config.pluginmanager.register(worker_stops.WorkerExitHooks(config), "staging-worker-exit")
    log_redaction.register(config, items.redactor)
    browser_glue.configure(config, settings, controller=False)
    _register_gates(config, settings, is_sensitive=lambda: sensitive, blocked=lambda: blocked)


def _settings(config: pytest.Config) -> Settings:
    return active_settings(config)


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
    report as evidence, with secrets redacted. Each request to the staging origin carries a
    W3C ``traceparent`` (a new span of the test's one trace) unless it sets its own;
    ``staging.trace = None`` sends none.
    """
    from pytest_staging.client import StagingSession
    from pytest_staging.connection_pool import shared_adapter
    from pytest_staging.report_hooks import CLIENT_KEY
    from pytest_staging.trace_glue import trace_of

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
    client.trace = trace_of(request.node)
    client.guard_sensitive(policy["target.sensitive_url"],
                           destructive=request.node.get_closest_marker("destructive") is not None,
                           allow_destructive=settings.allow_destructive)
    request.node.stash[CLIENT_KEY] = client
    try:
        yield client
    finally:
        client.close()
        if client.refused:  # even when the test caught the exception: the run is NO-GO
            from pytest_staging.client import refusal_checks
            from pytest_staging.record import record

            record(request.node, checks=refusal_checks(client))


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
