"""Locust as a subprocess against real loopback servers: metrics, thresholds, failure modes.

Every load run is short (2-3 s) and bounded by the runner's hard timeout.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from locust_workers import worker_env
from perf_server import base_url, loopback_server

from pytest_staging.gates.performance.runner import LoadError, LoadOptions, run_load
from pytest_staging.gates.performance.thresholds import evaluate, evaluate_all

LOCUSTFILE = """\
from locust import FastHttpUser, constant, task

class Checkout(FastHttpUser):
    wait_time = constant(0)

    @task(3)
    def items(self):
        self.client.get("/api/items")

    @task(1)
    def slow(self):
        self.client.get("/slow")
"""


def test_inline_profile_generous_thresholds_pass(tmp_path: Path) -> None:
    with loopback_server() as server:
        run = run_load(
            LoadOptions(host=base_url(server), users=4, spawn_rate=4, run_time="2s",
                        wait=0.02, profile={"GET /api/items": 3, "POST /api/orders": 1}),
            tmp_path,
        )  # fmt: skip
        hits = server.hits
    m = run.metrics
    assert run.status == "ok" and run.exit_code == 0
    # How many requests 2 s give depends on the machine's load: enough to judge the mix.
    assert m["requests"] >= 20 and m["failures"] == 0
    assert m["requests"] <= hits  # every counted request really reached the server
    assert set(m["endpoints"]) == {"GET /api/items", "POST /api/orders"}
    share = m["endpoints"]["GET /api/items"]["requests"] / m["requests"]
    # Weights 3:1: within four standard deviations of 0.75 for this many requests.
    assert abs(share - 0.75) <= 4 * (0.75 * 0.25 / m["requests"]) ** 0.5, share
    assert 0.2 < m["span"] <= 3.0  # first to last request, within the 2 s run
    assert m["rps"] == pytest.approx(m["requests"] / max(m["span"], 1.0), rel=0.01)
    results = evaluate_all(
        ["p95 < 2s", "p99 <= 5s", "fail_ratio < 1%", "rps > 5", "avg < 1s",
         "GET /api/items: p95 < 2s"],
        m,
    )  # fmt: skip
    assert all(r["passed"] for r in results), results


def test_slow_endpoint_fails_tight_threshold(tmp_path: Path) -> None:
    locustfile = tmp_path / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    with loopback_server() as server:
        run = run_load(
            LoadOptions(host=base_url(server), users=3, spawn_rate=3, run_time=2,
                        locustfile=locustfile),
            tmp_path / "run",
        )  # fmt: skip
    slow = evaluate("GET /slow: p95 < 1ms", run.metrics)
    assert slow["passed"] is False
    assert slow["observed"] >= 50.0
    assert slow["detail"].startswith("p95 for GET /slow = ")
    assert slow["detail"].endswith("required < 1 ms")
    # Per endpoint, not merged: the fast endpoint's p95 stays below the slow one's (an
    # absolute bound such as "< 45ms" failed on a busy machine).
    items = evaluate(f"GET /api/items: p95 < {slow['observed']:g}ms", run.metrics)
    assert items["passed"] is True, (items, slow)


def test_one_in_four_failures(tmp_path: Path) -> None:
    # One in four fails: a handful of requests tells the ratio apart, at any machine load (one
    # in 200 needed >= 400 requests in 3 s, which a busy 2-core machine does not always give).
    with loopback_server(fail_every=4) as server:
        run = run_load(
            LoadOptions(host=base_url(server), users=4, spawn_rate=4, run_time=3,
                        wait=0.02, profile=["GET /flaky"]),
            tmp_path,
        )  # fmt: skip
    m = run.metrics
    assert m["requests"] >= 8, "too few requests to tell 25% from 2%"
    assert run.status == "requests-failed" and run.exit_code == 42
    # the server fails exactly every 4th request (give or take one still in flight at stop)
    assert abs(m["failures"] - m["requests"] // 4) <= 1 and m["failures"] >= 1
    assert m["fail_ratio"] == pytest.approx(m["failures"] / m["requests"], abs=1e-6)
    assert evaluate("fail_ratio < 60%", m)["passed"] is True
    low = evaluate("fail_ratio < 2%", m)
    assert low["passed"] is False and "required < 2.00%" in low["detail"]
    assert m["errors"] and "500" in m["errors"][0]["error"]


def test_syntax_error_in_locustfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad_locustfile.py"
    bad.write_text("from locust import task\ndef broken(:\n")
    started = time.monotonic()
    with pytest.raises(LoadError) as info:
        run_load(LoadOptions(host="http://127.0.0.1:9", run_time=1, locustfile=bad), tmp_path)
    assert info.value.kind == "bad-locustfile"
    assert "bad_locustfile.py:2: SyntaxError" in str(info.value)
    assert time.monotonic() - started < 2


def test_import_error_in_locustfile_is_a_locustfile_error(tmp_path: Path) -> None:
    bad = tmp_path / "imports.py"
    bad.write_text("import no_such_module_for_staging\n")
    with pytest.raises(LoadError) as info:
        run_load(LoadOptions(host="http://127.0.0.1:9", run_time=1, locustfile=bad), tmp_path)
    assert info.value.kind == "bad-locustfile"
    assert "no_such_module_for_staging" in str(info.value)


def test_reason_is_the_error_not_the_noise_at_interpreter_exit(tmp_path: Path) -> None:
    """gevent 25.5 on Python 3.10 reports an unraisable "greenlet is being finalized" after
    locust's real error: the reason stays the real error."""
    from pytest_staging.gates.performance.runner import _log_reason

    log = tmp_path / "locust.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "/tmp/imports.py", line 1, in <module>\n'
        "    import no_such_module_for_staging\n"
        "ModuleNotFoundError: No module named 'no_such_module_for_staging'\n"
        "Exception ignored in: <function _removeHandlerRef at 0x7f88d8142050>\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.10/threading.py", line 164, in acquire\n'
        "RuntimeError: greenlet is being finalized\n"
        "Exception ignored in: <function _removeHandlerRef at 0x7f88d8142060>\n"
        "RuntimeError: greenlet is being finalized\n")
    assert _log_reason(log) == (
        "ModuleNotFoundError: No module named 'no_such_module_for_staging'")
    # an unraisable report alone is still the reason (not "no output")
    log.write_text("Exception ignored in: <x>\nRuntimeError: greenlet is being finalized\n")
    assert _log_reason(log) == "RuntimeError: greenlet is being finalized"


def test_missing_locust_executable(tmp_path: Path) -> None:
    options = LoadOptions(host="http://127.0.0.1:9", run_time=1, wait=0.02, profile=["/"],
                          locust_command=[str(tmp_path / "no-locust-here")])  # fmt: skip
    with pytest.raises(LoadError) as info:
        run_load(options, tmp_path)
    assert info.value.kind == "locust-missing"
    assert "no-locust-here" in str(info.value)


def test_hung_locust_is_killed_at_the_hard_timeout(tmp_path: Path) -> None:
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(60)\nfrom locust import User\n")
    options = LoadOptions(host="http://127.0.0.1:9", run_time=1, locustfile=hang,
                          stop_timeout=0.5, margin=1.0)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(LoadError) as info:
        run_load(options, tmp_path)
    elapsed = time.monotonic() - started
    assert info.value.kind == "timeout"
    assert elapsed < 8
    ps = subprocess.run(["pgrep", "-f", str(hang)], capture_output=True, text=True)
    assert ps.stdout.strip() == "", "locust process group survived the kill"


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[dict] = []
    with loopback_server() as server:
        run_load(
            LoadOptions(host=base_url(server), users=2, spawn_rate=2, run_time=3,
                        wait=0.02, profile=["/"]),
            tmp_path, on_progress=seen.append, progress_interval=0.5,
        )  # fmt: skip
    assert seen, "no progress line during a 3 s run"
    assert seen[-1]["users"] == 2 and seen[-1]["requests"] > 0
    assert set(seen[-1]) == {"users", "rps", "p95", "requests", "failures"}


@pytest.mark.slow
def test_processes(tmp_path: Path) -> None:
    with loopback_server() as server:
        run = run_load(
            LoadOptions(host=base_url(server), users=4, spawn_rate=4, run_time=3,
                        wait=0.02, profile=["/"], processes=2),
            tmp_path,
        )  # fmt: skip
    assert run.status == "ok"
    assert "--processes" in run.command
    assert run.metrics["requests"] > 100 and run.metrics["processes"] == 2


@pytest.mark.slow
def test_master_with_two_workers_on_loopback(tmp_path: Path) -> None:
    announced: list[str] = []
    workers: list[subprocess.Popen[bytes]] = []

    def start_workers(command: str) -> None:
        announced.append(command)
        port = command.split("--master-port ")[1].split()[0]
        for _ in range(2):
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "locust",
                        "--worker",
                        "--master-host",
                        "127.0.0.1",
                        "--master-port",
                        port,
                        "-f",
                        "-",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=tmp_path,
                    env=worker_env(tmp_path / f"worker-{len(workers)}-tmp"),
                )
            )

    try:
        with loopback_server() as server:
            run = run_load(
                LoadOptions(host=base_url(server), users=4, spawn_rate=4, run_time=5,
                            wait=0.02, profile={"GET /api/items": 1}, workers=2,
                            expect_workers_max_wait=20),
                tmp_path, on_master_ready=start_workers,
            )  # fmt: skip
            hits = server.hits
    finally:
        for proc in workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert announced and announced[0].startswith("locust --worker --master-host 127.0.0.1")
    assert run.status == "ok" and run.metrics["workers"] == 2
    # The workers' users really sent requests (how many depends on the machine's load).
    assert run.metrics["requests"] > 0
    assert run.metrics["requests"] <= hits
    assert [p.returncode for p in workers] == [0, 0], "workers did not stop cleanly"
