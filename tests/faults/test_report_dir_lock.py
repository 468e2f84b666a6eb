"""Two runs, one report dir (issue 20 item 6): a run that starts while another live run owns
the report dir writes nothing there and refuses to start, naming that run; the owner's lock
dies with it (``kill -9`` included), so a crashed run never blocks the next one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import REPORT_DIR, start_staging
from servers import LoopbackServer, wait_until

from pytest_staging.report_dir_lock import LOCK_NAME

#: A run that says it is running, then waits (bounded) until told to finish.
WAITING = """
import pathlib, time

def test_waits(staging):
    pathlib.Path("running-" + str(__import__("os").getpid())).touch()
    deadline = time.monotonic() + 60
    while not pathlib.Path("finish").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert staging.get("/health").status_code == 200
"""


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    try:
        output, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return int(proc.returncode), output


def _verdict(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / REPORT_DIR / "verdict.json").read_text())


def _running(pytester: pytest.Pytester, proc: subprocess.Popen[str]) -> None:
    assert wait_until(lambda: any(pytester.path.glob("running-*")) or proc.poll() is not None,
                      90), "the first run never reached its test"
    assert proc.poll() is None, proc.communicate()[0]


def _refused(ret: int, output: str, holder_pid: int) -> None:
    """The later run's one line: who holds the dir, and what to do."""
    assert ret == 4, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "in use by another run" in line]
    assert len(lines) == 1, output
    assert re.search(rf"\(pid {holder_pid}, run [0-9a-f]{{12}}, started ", lines[0]), lines[0]
    assert "give this run its own --staging-report-dir" in lines[0]


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_second_run_refused_then_first_killed(pytester: pytest.Pytester, server: LoopbackServer,
                                              mode: list[str]) -> None:
    pytester.makepyfile(test_app=WAITING)
    first = start_staging(pytester, server.url, *mode)
    try:
        _running(pytester, first)
        owner = _verdict(pytester)["run"]["id"]
        second = start_staging(pytester, server.url, "-p", "no:xdist")
        _refused(*_finish(second), holder_pid=first.pid)
        # Nothing of the refused run landed in the dir: it is still the first run's.
        on_disk = _verdict(pytester)
        assert on_disk["run"]["id"] == owner and on_disk["verdict"] == "NO-GO"
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    on_disk = _verdict(pytester)
    assert on_disk["verdict"] == "NO-GO" and on_disk["run"]["id"] == owner
    # The killed run's lock died with it: the next run is not blocked (bounded: at once).
    (pytester.path / "finish").touch()
    started = time.monotonic()
    ret, output = _finish(start_staging(pytester, server.url, *mode))
    assert ret == 0, output
    assert time.monotonic() - started < 120
    assert _verdict(pytester)["verdict"] == "GO"


def test_second_run_refused_first_finishes_with_its_own_go(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """The other order of finishing: the owner ends normally, and its GO is its own."""
    pytester.makepyfile(test_app=WAITING)
    first = start_staging(pytester, server.url, "-p", "no:xdist")
    try:
        _running(pytester, first)
        second = start_staging(pytester, server.url, "-p", "no:xdist", "--staging-wait=abc")
        ret, output = _finish(second)
        # Even its usage error leaves the first run's dir alone.
        assert ret == 4, output
        (pytester.path / "finish").touch()
        ret, output = _finish(first)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert ret == 0, output
    verdict = _verdict(pytester)
    assert verdict["verdict"] == "GO"
    info = json.loads((pytester.path / REPORT_DIR / LOCK_NAME).read_text())
    assert info["run_id"] == verdict["run"]["id"] and info["pid"] == first.pid
    # Once it is over, the dir is free again.
    ret, output = _finish(start_staging(pytester, server.url, "-p", "no:xdist"))
    assert ret == 0, output


def test_runs_started_at_the_same_instant(pytester: pytest.Pytester,
                                          server: LoopbackServer) -> None:
    """Exactly one of three runs started together owns the dir; the GO there is its own."""
    pytester.makepyfile(test_app=WAITING)
    (pytester.path / "finish").touch()
    argv = ["-p", "no:xdist"]
    procs = [start_staging(pytester, server.url, *argv) for _ in range(3)]
    results = [(p.pid, *_finish(p)) for p in procs]
    winners = [(pid, out) for pid, ret, out in results if ret == 0]
    losers = [(ret, out) for _, ret, out in results if ret != 0]
    assert len(winners) + len(losers) == 3
    # One of them ran; a loser either was refused or (started after the winner ended) ran.
    assert winners, results
    for ret, out in losers:
        assert ret == 4 and "in use by another run" in out, out
    info = json.loads((pytester.path / REPORT_DIR / LOCK_NAME).read_text())
    verdict = _verdict(pytester)
    assert verdict["verdict"] == "GO" and verdict["run"]["id"] == info["run_id"]
    assert info["pid"] in [pid for pid, _ in winners]


def test_help_and_other_dirs_are_not_blocked(pytester: pytest.Pytester,
                                             server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=WAITING)
    first = start_staging(pytester, server.url, "-p", "no:xdist")
    try:
        _running(pytester, first)
        before = (pytester.path / REPORT_DIR / "verdict.json").read_bytes()
        ret, output = _finish(start_staging(pytester, server.url, "--help"))
        assert ret == 0 and "--staging-url" in output, output
        assert (pytester.path / REPORT_DIR / "verdict.json").read_bytes() == before
        # Collected after the first run collected: only the second run has it.
        pytester.makepyfile(test_other="def test_other(staging):\n    pass\n")
        other = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
             "--staging-url", server.url, "--staging-report-dir", "other",
             "--staging-policy", "staging.toml", "--staging-gate", "integration",
             "test_other.py"],
            cwd=pytester.path, capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other.stdout + other.stderr
        assert first.poll() is None, "the first run must still hold its dir meanwhile"
        (pytester.path / "finish").touch()
        ret, output = _finish(first)
        assert ret == 0, output
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()


def test_claim_is_per_invocation_and_released(tmp_path: Path) -> None:
    """The lock of one invocation: taken once, again a no-op, refused to another holder,
    free after release()."""
    from pytest_staging.report_dir_lock import LOCKS_KEY, claim, release

    class Config:
        def __init__(self) -> None:
            self.stash = pytest.Stash()

    one, two = Config(), Config()
    assert claim(one, tmp_path / "r", "run-one") == ""  # type: ignore[arg-type]
    assert claim(one, tmp_path / "r", "run-one") == ""  # type: ignore[arg-type]
    refused = claim(two, tmp_path / "r", "run-two")  # type: ignore[arg-type]
    assert f"(pid {os.getpid()}, run run-one, started " in refused
    release(one)  # type: ignore[arg-type]
    assert one.stash[LOCKS_KEY] == {}
    assert claim(two, tmp_path / "r", "run-two") == ""  # type: ignore[arg-type]
    release(two)  # type: ignore[arg-type]
