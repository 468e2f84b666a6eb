"""Shared fixtures: real loopback servers and whole pytest runs of the plugin."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import LoopbackServer

from pytest_staging.schema import validation_errors

pytest_plugins = ["pytester"]


#: Top-level packages of the optional extras ([browser], [contract], [otel]).
_EXTRA_PACKAGES = {"playwright", "pytest_playwright", "schemathesis", "opentelemetry"}


def _preload_plugin_modules() -> None:
    """Import every pytest_staging module (and so requests, urllib3) here, once: pytester's
    in-process runs drop the modules a run imported, and a second run importing requests
    afresh next to objects of the first (``CookieJar``) breaks isinstance checks."""
    import importlib
    import pkgutil

    import pytest_staging

    for module in pkgutil.walk_packages(pytest_staging.__path__, "pytest_staging."):
        # locust_*.py are loaded by locust (gevent-patched), never by pytest
        if module.name.rsplit(".", 1)[-1].startswith("locust_"):
            continue
        try:
            importlib.import_module(module.name)
        except ModuleNotFoundError as missing:
            # A module of an extra that is not installed here (the compatibility job, .ci/compat,
            # installs only [test]): the plugin loads it only when its extra is present, and
            # that extra's tests skip (or fail under STAGING_TESTS_NO_SKIP=1). Anything else
            # missing is a real error.
            if (missing.name or "").split(".")[0] not in _EXTRA_PACKAGES:
                raise
    # What the plugin imports lazily, for the same reason: a key serialised after an in-process
    # run otherwise meets a second copy of cryptography's classes ("Encryption algorithm must
    # be a KeySerializationEncryption instance").
    for name in ("cryptography.exceptions", "cryptography.hazmat.primitives.serialization",
                 "cryptography.hazmat.primitives.asymmetric.ed25519"):
        importlib.import_module(name)
    # The [otel] extra's modules otel_export imports at export: a second copy of them meets
    # the first's enums ("Failed to encode span batch: SpanKind.INTERNAL").
    import contextlib

    with contextlib.suppress(ImportError):
        for name in ("opentelemetry.trace", "opentelemetry.context",
                     "opentelemetry.exporter.otlp.proto.http.trace_exporter",
                     "opentelemetry.sdk.resources", "opentelemetry.sdk.trace",
                     "opentelemetry.sdk.trace.export",
                     "opentelemetry.sdk.trace.export.in_memory_span_exporter",
                     "opentelemetry.sdk.trace.id_generator", "opentelemetry.sdk.trace.sampling",
                     "opentelemetry.proto.collector.trace.v1.trace_service_pb2"):
            importlib.import_module(name)


_preload_plugin_modules()

#: Both ways an important path must work: serial without xdist, and two xdist workers.
MODES = {"serial": ["-p", "no:xdist"], "xdist": ["-n", "2"]}


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A fresh programmable HTTP server on 127.0.0.1."""
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@dataclass
class StagingRun:
    """The outcome of one whole pytest run of the plugin."""

    ret: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def verdict(self) -> dict[str, Any]:
        """The run's verdict.json, which must always validate against the shipped schema."""
        verdict = json.loads((self.report_dir / "verdict.json").read_text())
        assert validation_errors(verdict) == [], validation_errors(verdict)
        return verdict

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def run_staging(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Run pytest with the plugin in pytester's dir: in this process by default (the plugin's
    entry point is loaded as in a user's run; ~0.6 s less per run than a new Python), in a
    subprocess with ``subprocess=True`` where the process itself is under test (what it
    imports, signals, its exit status as the shell sees it)."""
    for name in ("STAGING_URL", "STAGING_POLICY", "STAGING_REPORT_DIR",
                 "STAGING_EXPECT_VERSION", "GITHUB_STEP_SUMMARY",
                 # a nested run is a run of its own, not a worker of ours
                 "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, url: str | None = None, timeout: float = 120,
            subprocess: bool = False) -> StagingRun:
        report_dir = pytester.path / "staging-report"
        # The core's runs are not about the security gate: without its built-in HTTP checks
        # (tests/test_security_gate.py runs them).
        argv = ["-p", "no:cacheprovider", "-p", "no:staging-security",
                f"--staging-report-dir={report_dir}", *args]
        if url:
            argv.insert(0, f"--staging-url={url}")
        if subprocess:
            result = pytester.runpytest_subprocess(*argv, timeout=timeout)
        else:
            result = pytester.runpytest_inprocess(*argv)
        return StagingRun(result.ret, "\n".join(result.outlines), "\n".join(result.errlines),
                          report_dir)

    return run


@pytest.fixture(params=list(MODES), ids=list(MODES))
def mode(request: pytest.FixtureRequest) -> list[str]:
    """Command-line args of one run mode: serial (-p no:xdist) or xdist (-n 2)."""
    return MODES[request.param]


#: Plugins of the test extras that the runs under test do without: hypothesis's, Schemathesis'
#: own pytest plugin (the contract gate uses the library, not the plugin), pytest-playwright's,
#: pytest-html's and anyio's (a dependency of the extras; no run under test is async). Loading
#: them costs ~0.9 s of CPU per child pytest (three processes under ``-n 2``). A test whose
#: runs need one says so: ``@pytest.mark.child_plugins("playwright")``.
CHILD_BLOCKED = ("hypothesispytest", "schemathesis", "playwright", "html", "anyio")


def child_addopts(keep: tuple[str, ...] = ()) -> str:
    """PYTEST_ADDOPTS of a child run: every plugin of CHILD_BLOCKED but ``keep`` blocked."""
    return " ".join(f"-p no:{name}" for name in CHILD_BLOCKED if name not in keep)


#: What every child pytest of these tests gets, unless a test keeps some plugins.
CHILD_ADDOPTS = child_addopts()


@pytest.fixture(autouse=True)
def _fast_children(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Child pytest processes start fast: without the test extras' plugins they do not need
    (CHILD_BLOCKED), never as an xdist worker of this run, and with bytecode caching on (with
    PYTHONDONTWRITEBYTECODE, each child compiles and assertion-rewrites pytest_staging, a
    pytest11 plugin, from source every time). PYTEST_ADDOPTS from the caller's environment
    never reaches a run under test."""
    keep = tuple(name for marker in request.node.iter_markers("child_plugins")
                 for name in marker.args)
    unknown = set(keep) - set(CHILD_BLOCKED)
    assert not unknown, f"child_plugins: {sorted(unknown)} are never blocked"
    if "pytester" in request.fixturenames:
        # pytester clears PYTEST_ADDOPTS when it starts: it must start first.
        request.getfixturevalue("pytester")
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", child_addopts(keep))
    # A child run is a run of its own, never a worker of ours: with these inherited, a child
    # under `-n 2` believes it is an xdist worker (and skips what a controller does).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tls_ca():
    """A throwaway certificate authority (trustme) for real HTTPS on 127.0.0.1."""
    import trustme  # a test extra: missing is a failure, not a skip
    return trustme.CA()


@pytest.fixture
def tls_server(tls_ca, tmp_path: Path) -> Iterator[LoopbackServer]:
    """An HTTPS loopback server whose certificate only ``tls_ca`` trusts."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    srv = LoopbackServer(ssl_context=context).start()
    yield srv
    srv.stop()


# -- CI: a test that skips does not test ------------------------------------------------------
#: Set by .ci/run, where every extra and tool is installed: a skipped test (a missing browser,
#: extra or tool) fails the run instead of passing it silently.
NO_SKIP_ENV = "STAGING_TESTS_NO_SKIP"


class NoSkips:
    """Collects the skipped tests of the run (the xdist controller sees every report)."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            self.skipped.append(f"{report.nodeid}: {reason}")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A whole module skipped at import (pytest.importorskip of an extra that is missing).
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            self.skipped.append(f"{report.nodeid}: {reason}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and session.exitstatus == 0:
            session.exitstatus = 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.skipped:
            terminalreporter.write_line(
                f"{NO_SKIP_ENV}=1: {len(self.skipped)} test(s) skipped, which fails this run "
                "(install what they need):", red=True)
            for line in self.skipped[:20]:
                terminalreporter.write_line(f"  {line}")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(NO_SKIP_ENV) == "1" and not hasattr(config, "workerinput"):
        config.pluginmanager.register(NoSkips(), "staging-tests-no-skips")
