"""The plugin imports where a platform lacks POSIX-only modules (``fcntl`` on Windows): a
``sitecustomize`` makes ``import fcntl`` (and friends) fail for pytest_staging's modules only,
since pytest and subprocess themselves import fcntl on Linux."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from servers import LoopbackServer

BLOCKED = ("fcntl", "resource", "termios", "pwd", "grp", "msvcrt", "winreg")

SITECUSTOMIZE = f"""
import builtins

_real_import = builtins.__import__
BLOCKED = {set(BLOCKED)!r}


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    importer = str((globals or {{}}).get("__name__", ""))
    if level == 0 and name.split(".")[0] in BLOCKED and importer.startswith("pytest_staging"):
        raise ImportError(f"No module named {{name!r}} (this platform has none)")
    return _real_import(name, globals, locals, fromlist, level)


builtins.__import__ = _import
"""

IMPORT_EVERYTHING = """
import importlib, pkgutil, sys
import pytest_staging

try:
    exec("import fcntl", {"__name__": "pytest_staging.probe"})
except ImportError:
    pass
else:
    sys.exit("the sitecustomize does not block fcntl: this test would prove nothing")
names = [m.name for m in pkgutil.walk_packages(pytest_staging.__path__, "pytest_staging.")
         # Loaded by locust in its own process, never by pytest.
         if not m.name.rsplit(".", 1)[-1].startswith("locust_")]
for name in names:
    importlib.import_module(name)
print(len(names), "modules imported")
"""


@pytest.fixture
def no_fcntl(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PYTHONPATH for child Pythons in which pytest_staging cannot import fcntl."""
    site = tmp_path_factory.mktemp("no-fcntl")
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    return site


def test_every_module_imports_without_fcntl(no_fcntl: Path) -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "modules imported" in done.stdout


def test_runs_without_fcntl(no_fcntl: Path, pytester: pytest.Pytester, run_staging,
                            server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=textwrap.dedent("""
        def test_plain():
            assert 1 + 1 == 2

        def test_health(staging):
            assert staging.get("/health").json() == {"status": "ok"}
    """))
    inactive = pytester.runpytest_subprocess("-p", "no:xdist", "-p", "no:hypothesispytest",
                                             "-p", "no:cacheprovider")
    assert inactive.ret == 1, "\n".join(inactive.outlines + inactive.errlines)
    inactive.assert_outcomes(passed=1, errors=1)
    assert "no staging URL: pass --staging-url or set STAGING_URL" in "\n".join(
        inactive.outlines)
    assert not (pytester.path / "staging-report").exists()
    # An active serial run works too (no measurement lock is needed without xdist).
    active = run_staging("-p", "no:xdist", "--staging-gate=integration", url=server.url)
    assert active.ret == 0, active.output
    assert active.verdict["verdict"] == "GO"


def test_measurement_without_file_locks_is_a_warning(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_staging.gates.performance import isolation

    monkeypatch.setattr(isolation, "_fcntl", lambda: None)
    lock = isolation.MeasurementLock(tmp_path)
    with lock.test_running("a::test"):
        pass
    with lock.measurement(timeout=1.0) as info:
        pass
    assert info.lockless and not info.acquired
    assert "no file locks on this platform" in str(info.warning("load"))
