"""Fixtures of the fault-injection matrix (helpers are in harness.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ holds the shared loopback servers: importable even when tests/faults runs alone.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servers import LoopbackServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs under test see only what each case gives them."""
    for name in ("STAGING_URL", "STAGING_POLICY", "STAGING_REPORT_DIR", "STAGING_EXPECT_VERSION",
                 "STAGING_VERDICT_KEY", "GITHUB_STEP_SUMMARY",
                 "PYTEST_XDIST_AUTO_NUM_WORKERS", "PYTEST_XDIST_WORKER",
                 "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    # PYTEST_ADDOPTS of the runs under test: tests/conftest.py's _fast_children.
    # Every case starts whole pytest processes (and xdist workers): with bytecode writing off,
    # each one compiles and assertion-rewrites every imported module from source again.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A healthy loopback target (``/health``, ``/version``); cases add misbehaving routes."""
    srv = LoopbackServer().start()
    yield srv
    srv.stop()
