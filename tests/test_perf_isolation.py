"""The measurement lock, across real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pytest_staging.gates.performance.isolation import MeasurementLock

HOLDER = textwrap.dedent("""
    import sys, time
    from pytest_staging.gates.performance.isolation import MeasurementLock
    lock = MeasurementLock(sys.argv[1])
    with lock.test_running("other::test"):
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def _holder(tmp_path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_measurement_waits_for_running_test(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 1.0)
    lock = MeasurementLock(tmp_path)
    with lock.measurement(timeout=10) as info:
        ended = [ln for ln in lock.activity.read_text().splitlines() if ln.startswith("E ")]
        assert ended, "measurement started while another test ran"
    proc.wait(5)
    # The other test's end was logged before the measurement began (a "waited > 0.5" bound
    # depended on how fast this machine got here after the holder started its 1 s).
    assert info.acquired and info.waited > 0
    assert float(ended[0].split()[2]) <= info.started
    assert info.overlapping == [] and info.warning("x") is None


def test_timeout_runs_anyway_and_reports_overlap(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 3.0)
    lock = MeasurementLock(tmp_path)
    started = time.monotonic()
    with lock.measurement(timeout=0.3) as info:
        time.sleep(0.1)
    assert time.monotonic() - started < 2
    proc.wait(10)
    assert not info.acquired
    assert info.overlapping == ["other::test"]
    warning = info.warning("checkout")
    assert warning is not None and "overlapped other tests: other::test" in warning


def test_test_waits_while_measurement_runs(tmp_path: Path) -> None:
    lock = MeasurementLock(tmp_path)
    with lock.measurement(timeout=5) as info:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "0"],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
        time.sleep(0.8)
        assert proc.poll() is None, "a test started during the measurement"
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    proc.wait(5)
    assert info.acquired and info.overlapping == []


def test_measurement_inside_a_running_test_does_not_wait_on_itself(tmp_path: Path) -> None:
    lock = MeasurementLock(tmp_path)
    started = time.monotonic()
    with lock.test_running("self::test_dynamic"), lock.measurement(timeout=5) as info:
        pass
    assert time.monotonic() - started < 2
    assert info.acquired and info.overlapping == []
    # and the shared hold is back afterwards: another process's measurement must wait for it
    with lock.test_running("self::again"):
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True,
            timeout=30)  # fmt: skip
    assert probe.stdout.strip() == "False", probe.stderr


PROBE = textwrap.dedent("""
    import sys
    from pytest_staging.gates.performance.isolation import MeasurementLock
    with MeasurementLock(sys.argv[1]).measurement(timeout=0.3) as info:
        pass
    print(info.acquired)
""")
