"""The load farm: the plugin's Locust master with real external ``locust --worker -f -``
processes (started by the test as an operator would, never by the plugin), in whole runs
against a loopback server, serial and under ``-n 2``.

Two workers give one verdict over their combined load; a worker killed mid-load (SIGKILL: no
goodbye to the master) is a NO-GO naming it; workers that never connect are a NO-GO within the
policy's ``expect_workers_max_wait``. Loads are bounded: a few users, a few seconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from locust_workers import ExternalWorkers
from perf_server import base_url, loopback_server

from pytest_staging.gates.performance import runner
from pytest_staging.gates.performance.worker_roster import ROSTER_JSON_ENV

pytestmark = pytest.mark.slow

LOAD = """
def test_load(staging_load):
    staging_load(users=4, spawn_rate=4, run_time={run_time}, wait=0.02,
                 profile={{"GET /api/items": 1}})
"""
HOST = socket.gethostname()


@pytest.fixture
def target() -> Iterator[Any]:
    with loopback_server(fail_every=10**9) as srv:
        yield srv


def master_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def farm_run(run_staging: Any, pytester: pytest.Pytester, url: str, port: int,
             *args: str, policy: str = "") -> Any:
    pytester.makefile(".toml", policy="[gates.integration]\nmin_tests = 0\n" + policy)
    return run_staging("--staging-policy=policy.toml", "--staging-gate=performance",
                       "--staging-load-workers=2",
                       f"--staging-load-master-bind=127.0.0.1:{port}", *args, url=url)


def load_metrics(verdict: dict[str, Any]) -> dict[str, Any]:
    return verdict["gates"]["performance"]["metrics"]["test_farm.py::test_load"]


def test_two_external_workers_give_one_verdict(pytester: pytest.Pytester, run_staging: Any,
                                               target: Any, mode: list[str]) -> None:
    pytester.makepyfile(test_farm=LOAD.format(run_time=4))
    port = master_port()
    with ExternalWorkers(port, 2, pytester.path) as workers:
        run = farm_run(run_staging, pytester, base_url(target), port, *mode)
    assert run.ret == 0, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert workers.returncodes() == [0, 0], "the workers did not quit with the master"
    metrics = load_metrics(verdict)
    assert metrics["workers"] == 2
    nodes = metrics["worker_nodes"]
    # Both workers made the load; the metrics are their combined stats, counted once.
    assert len(nodes) == 2 and len({n["id"] for n in nodes}) == 2, nodes
    assert all(n["lost"] is None and n["requests"] > 0 and n["users"] == 2 for n in nodes)
    assert all(n["host"] == HOST and n["id"].startswith(f"{HOST}_") for n in nodes)
    assert sum(n["requests"] for n in nodes) == metrics["requests"]
    assert metrics["requests"] <= target.hits
    checks = verdict["gates"]["performance"]["checks"]
    assert not any(c.get("kind") == "workers" for c in checks)
    if "-n" not in mode:  # an xdist worker prints past pytester's capture
        assert f"start each with: locust --worker --master-host 127.0.0.1 --master-port {port} " \
               "-f -" in run.output


def test_worker_killed_mid_load_is_no_go_naming_it(pytester: pytest.Pytester, run_staging: Any,
                                                   target: Any, mode: list[str]) -> None:
    pytester.makepyfile(test_farm=LOAD.format(run_time=6))
    port = master_port()
    started = time.monotonic()
    with ExternalWorkers(port, 2, pytester.path) as workers:
        # Once the load is under way (the target has seen requests): no timing guess, the
        # master must notice by itself.
        workers.kill_when(lambda: target.hits >= 40, index=0)
        run = farm_run(run_staging, pytester, base_url(target), port, *mode)
    elapsed = time.monotonic() - started
    verdict = run.verdict
    assert run.ret != 0, run.output
    assert verdict["verdict"] == "NO-GO"
    assert workers.returncodes()[0] == -9 and workers.returncodes()[1] == 0
    nodes = load_metrics(verdict)["worker_nodes"]
    [lost] = [n for n in nodes if n["lost"]]
    [kept] = [n for n in nodes if not n["lost"]]
    assert "heartbeats stopped" in lost["lost"] and kept["requests"] > 0
    [check] = [c for c in verdict["gates"]["performance"]["checks"] if c["kind"] == "workers"]
    assert check["passed"] is False and check["blocking"] is True
    assert check["inconclusive"] is True
    assert check["name"] == "test_farm.py::test_load: load workers"
    [reason] = [r for r in verdict["reasons"] if "load workers" in r]
    assert f"locust worker {lost['id']} (host {HOST}, index {lost['index']}) was lost " \
           "mid-load: its heartbeats stopped" in reason
    assert "the load measured is not the profile asked for (2 worker(s), 4 user(s))" in reason
    assert "\n" not in reason
    # Locust's heartbeat check, not a run-time guess, found it: the run did not hang either.
    assert elapsed < 90, elapsed


def test_workers_that_never_connect_are_no_go_within_the_wait(
        pytester: pytest.Pytester, run_staging: Any, target: Any) -> None:
    pytester.makepyfile(test_farm=LOAD.format(run_time=2))
    port = master_port()
    started = time.monotonic()
    run = farm_run(run_staging, pytester, base_url(target), port, "-p", "no:xdist",
                   policy="[performance]\nexpect_workers_max_wait = 2\n")
    elapsed = time.monotonic() - started
    verdict = run.verdict
    assert run.ret != 0 and verdict["verdict"] == "NO-GO"
    [check] = verdict["gates"]["performance"]["checks"]
    assert check["kind"] == "workers" and check["inconclusive"] is True
    assert check["detail"] == (
        f"only 0 of 2 locust worker(s) connected to the master at 127.0.0.1:{port} within 2s "
        "(performance.expect_workers_max_wait): no load was measured; start each worker "
        f"with: locust --worker --master-host 127.0.0.1 --master-port {port} -f -")
    assert not any(path == "/api/items" for _, path in target.log)
    # The wait (2 s) plus Locust's start and the run's bookkeeping: never the hard timeout.
    assert elapsed < 30, elapsed


def test_one_worker_of_two_is_no_go_naming_the_one_that_came(
        pytester: pytest.Pytester, run_staging: Any, target: Any) -> None:
    pytester.makepyfile(test_farm=LOAD.format(run_time=2))
    port = master_port()
    with ExternalWorkers(port, 1, pytester.path):
        run = farm_run(run_staging, pytester, base_url(target), port, "-p", "no:xdist",
                       policy="[performance]\nexpect_workers_max_wait = 8\n")
    verdict = run.verdict
    assert run.ret != 0 and verdict["verdict"] == "NO-GO"
    [check] = verdict["gates"]["performance"]["checks"]
    assert check["detail"].startswith(
        f"only 1 of 2 locust worker(s) connected to the master at 127.0.0.1:{port} within "
        f"8s (connected: {HOST}_"), check["detail"]


def test_the_roster_module_is_loaded_by_locust_and_reads_the_same_variable() -> None:
    # It runs inside Locust and imports nothing of pytest-staging: the name is duplicated.
    source = runner.ROSTER_HOOK.read_text()
    assert f'ROSTER_JSON_ENV = "{ROSTER_JSON_ENV}"' in source
    assert "from pytest_staging" not in source and "import pytest_staging" not in source
    command = runner.build_command(runner.LoadOptions(host="http://127.0.0.1:9", workers=2,
                                                      master_port=5557), runner.ROSTER_HOOK,
                                   runner.ROSTER_HOOK.parent)
    assert str(runner.ROSTER_HOOK) in command[command.index("-f") + 1].split(",")


def test_roster_judgement_in_every_case() -> None:
    """The pytest side of the roster, on the rosters the master writes (no Locust here)."""
    from pytest_staging.gates.performance.worker_roster import lost_check, never_connected

    a = {"id": "ci-7_aa", "host": "ci-7", "index": 0, "requests": 10, "failures": 0,
         "users": 2, "lost": None}
    b = {**a, "id": "ci-8_bb", "host": "ci-8", "index": 1,
         "lost": "its heartbeats stopped: Locust marked it missing before the load started"}
    assert never_connected({"workers": [a, b]}, 2, "0.0.0.0:5557", 60, "locust --worker") == (
        "only 1 of 2 locust worker(s) connected to the master at 0.0.0.0:5557 within 60s "
        "(connected: ci-7_aa); locust worker ci-8_bb (host ci-8, index 1) connected, then was "
        "lost: its heartbeats stopped: Locust marked it missing before the load started "
        "(performance.expect_workers_max_wait): no load was measured; start each worker "
        "with: locust --worker")
    healthy = {"workers": [a, {**b, "lost": None}], "started": ["ci-7_aa", "ci-8_bb"],
               "end_checked": True, "lost": []}
    assert lost_check("L", healthy, 2, 4) is None
    # Fail closed whenever the roster cannot show that every worker lasted the load.
    for roster, words in [
        (None, "wrote no worker roster"),
        ({**healthy, "end_checked": False}, "did not check its workers at the end"),
        ({**healthy, "started": ["ci-7_aa"]}, "the load started with 1 of 2 locust worker(s)"),
        ({**healthy, "workers": [a, b], "lost": ["ci-8_bb"]},
         "locust worker ci-8_bb (host ci-8, index 1) was lost mid-load"),
    ]:
        check = lost_check("L", roster, 2, 4)
        assert check is not None and words in check["detail"], (roster, check)
        assert check["passed"] is False and check["inconclusive"] is True
