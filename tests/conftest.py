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
    """Run pytest in a subprocess (entry point loaded, like a user's run) in pytester's dir."""
    for name in ("STAGING_URL", "STAGING_POLICY", "STAGING_REPORT_DIR",
                 "STAGING_EXPECT_VERSION", "GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS",
                 # a nested run is a run of its own, not a worker of ours
                 "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, url: str | None = None, timeout: float = 120) -> StagingRun:
        report_dir = pytester.path / "staging-report"
        # The core's runs are not about the security gate: without its built-in HTTP checks
        # (tests/test_security_gate.py runs them).
        argv = ["-p", "no:cacheprovider", "-p", "no:staging-security",
                f"--staging-report-dir={report_dir}", *args]
        if url:
            argv.insert(0, f"--staging-url={url}")
        result = pytester.runpytest_subprocess(*argv, timeout=timeout)
        return StagingRun(result.ret, "\n".join(result.outlines), "\n".join(result.errlines),
                          report_dir)

    return run


@pytest.fixture(params=list(MODES), ids=list(MODES))
def mode(request: pytest.FixtureRequest) -> list[str]:
    """Command-line args of one run mode: serial (-p no:xdist) or xdist (-n 2)."""
    return MODES[request.param]


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")


@pytest.fixture(scope="session")
def tls_ca():
    """A throwaway certificate authority (trustme) for real HTTPS on 127.0.0.1."""
    trustme = pytest.importorskip("trustme")
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
