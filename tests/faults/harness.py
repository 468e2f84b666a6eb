"""Helpers of the fault-injection matrix: whole pytest runs of the plugin in a subprocess and
the assertions every case shares (fail closed, one-line reason, no traceback, valid verdict)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import wait_until

from pytest_staging.schema import validation_errors

#: Small waits keep the matrix fast: a fault must show within a second or two.
FAST_POLICY = """\
[target]
wait = 1
interval = 0.1
timeout = 2
retries = 1
"""
REPORT_DIR = "report"


@dataclass
class Outcome:
    """What one whole pytest run left behind: exit code, terminal output, report dir."""

    ret: int
    output: str
    report_dir: Path

    @property
    def verdict_path(self) -> Path:
        return self.report_dir / "verdict.json"

    def verdict(self) -> dict[str, Any]:
        return json.loads(self.verdict_path.read_text(encoding="utf-8"))


def staging_args(pytester: pytest.Pytester, url: str | None, *args: str, gate: str | None =
                 "integration", policy: str | None = FAST_POLICY) -> list[str]:
    """The command line of an active run: fast policy, a report dir, one gate by default."""
    argv = ["-p", "no:cacheprovider", "--staging-report-dir", REPORT_DIR]
    if url is not None:
        argv += ["--staging-url", url]
    if policy is not None:
        pytester.makefile(".toml", staging=policy)
        argv += ["--staging-policy", "staging.toml"]
    if gate is not None:
        argv += ["--staging-gate", gate]
    return argv + list(args)


def run_staging(pytester: pytest.Pytester, url: str | None, *args: str,
                gate: str | None = "integration", policy: str | None = FAST_POLICY,
                timeout: float = 180, subprocess: bool = False) -> Outcome:
    """One whole pytest run, the plugin loaded from its entry point as in CI: in this process
    (~0.6 s less than a new Python), or with ``subprocess=True`` in a new one, bounded by
    ``timeout``, where a hang is possible or the process itself is under test."""
    argv = staging_args(pytester, url, *args, gate=gate, policy=policy)
    if subprocess:
        result = pytester.runpytest_subprocess(*argv, timeout=timeout)
    else:
        result = pytester.runpytest_inprocess(*argv)
    return Outcome(int(result.ret), "\n".join(result.outlines + result.errlines),
                   pytester.path / REPORT_DIR)


#: Starts ``python -m pytest ARGS`` with the signals named in $IGNORED_SIGNALS ignored, as
#: nohup (SIGHUP) or a shell's background job (SIGINT) start it.
IGNORING_LAUNCHER = (
    "import os, signal, sys\n"
    "for name in os.environ.pop('IGNORED_SIGNALS').split(','):\n"
    "    signal.signal(getattr(signal, name), signal.SIG_IGN)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'pytest', *sys.argv[1:]])\n")


def start_staging(pytester: pytest.Pytester, url: str | None, *args: str,
                  gate: str | None = "integration", policy: str | None = FAST_POLICY,
                  ignored: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """Start a run in the background, for the cases that send it a signal (``ignored``:
    signal names the process starts with ignored)."""
    launcher = ["-c", IGNORING_LAUNCHER] if ignored else ["-m", "pytest"]
    env = dict(os.environ, **({"IGNORED_SIGNALS": ",".join(ignored)} if ignored else {}))
    argv = [sys.executable, *launcher, *staging_args(pytester, url, *args, gate=gate,
                                                     policy=policy)]
    return subprocess.Popen(argv, cwd=pytester.path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def signal_when(proc: subprocess.Popen[str], ready: Path, signum: int,
                pytester: pytest.Pytester, timeout: float = 30) -> Outcome:
    """Send ``signum`` once ``ready`` exists (a test is running), then collect the run."""
    try:
        assert wait_until(lambda: ready.exists() or proc.poll() is not None, timeout), \
            "the run never reached the test that waits for the signal"
        assert proc.poll() is None, f"the run ended before the signal:\n{proc.stdout.read()}"  # type: ignore[union-attr]
        time.sleep(0.2)
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return Outcome(int(proc.returncode), output, pytester.path / REPORT_DIR)


def assert_valid(verdict: dict[str, Any]) -> None:
    errors = validation_errors(verdict)
    assert errors == [], errors


def assert_no_go(outcome: Outcome, cause: str, *, exit_code: int | None = None) -> dict[str, Any]:
    """The fail-closed contract: non-zero exit, NO-GO with a one-line reason matching ``cause``
    (a regex), no traceback anywhere in the output, a verdict.json that validates. With
    ``exit_code``, the judgement it stands for too: 1 is ``failed``, any other NO-GO status
    ``inconclusive`` (docs/exit-codes.md)."""
    assert "Traceback" not in outcome.output, outcome.output
    if exit_code is None:
        assert outcome.ret != 0, outcome.output
    else:
        assert outcome.ret == exit_code, outcome.output
    verdict = outcome.verdict()
    assert_valid(verdict)
    assert verdict["verdict"] == "NO-GO", verdict["reasons"]
    assert verdict["reasons"], "a NO-GO must say why"
    for reason in verdict["reasons"]:
        assert "\n" not in reason and len(reason) < 1000, reason
    assert any(re.search(cause, r) for r in verdict["reasons"]), verdict["reasons"]
    if exit_code is not None:
        expected = "failed" if exit_code == 1 else "inconclusive"
        assert verdict["judgement"] == expected, (verdict["judgement"], verdict["reasons"])
    return verdict


def assert_go(outcome: Outcome) -> dict[str, Any]:
    assert "Traceback" not in outcome.output, outcome.output
    verdict = outcome.verdict()
    assert_valid(verdict)
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert verdict["reasons"] == []
    assert outcome.ret == 0, outcome.output
    return verdict


