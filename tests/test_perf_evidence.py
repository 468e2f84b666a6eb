"""A load counts only with evidence: requests sent, successes measured, failures under a ceiling.

Issue 10 class 6 ("loads that measured nothing"): a load whose requests all failed passed its
``p95``/``rps`` thresholds (Locust's response times include failed requests), a load of 0
requests passed ``fail_ratio < 1%``. Every load now has implicit minimums (``requests > 0``,
``successes > 0``, ``fail_ratio <= [performance] max_fail_ratio``), latency and rps are of
successful requests only, and a threshold that cannot be evaluated fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from perf_server import base_url, loopback_server

from pytest_staging.gates.performance.metrics import MIN_RPS_SPAN, summarize
from pytest_staging.gates.performance.runner import LoadOptions, run_load
from pytest_staging.gates.performance.thresholds import evaluate


def entry(method: str, name: str, times: dict[str, int], fails: int = 0,
          start: float = 100.0, end: float = 102.0) -> dict[str, Any]:
    """A Locust ``--json-file`` entry: ``times`` is the response-time histogram."""
    count = sum(times.values())
    total = sum(float(k) * v for k, v in times.items())
    return {"name": name, "method": method, "num_requests": count, "num_failures": fails,
            "num_none_requests": 0, "total_response_time": total,
            "min_response_time": min(float(k) for k in times) if times else None,
            "max_response_time": max((float(k) for k in times), default=0.0),
            "response_times": times, "start_time": start, "last_request_timestamp": end}


# -- metrics: successes only ---------------------------------------------------------------

def test_latency_and_rps_are_of_successful_requests() -> None:
    # 900 fast 401s and 100 slow 200s: Locust's own p50 would be 2 ms
    everything = [entry("GET", "/api", {"2": 900, "80": 100}, fails=900)]
    successes = [entry("GET", "/api", {"80": 100})]
    m = summarize(everything, successes=successes)
    assert m["requests"] == 1000 and m["failures"] == 900 and m["successes"] == 100
    assert m["p50"] == 80.0 and m["min"] == 80.0 and m["avg"] == 80.0
    assert m["rps"] == pytest.approx(50.0)  # 100 successes over the 2 s measured
    assert m["fail_ratio"] == pytest.approx(0.9)
    assert m["endpoints"]["GET /api"]["p95"] == 80.0


def test_latency_unknown_when_successes_cannot_be_told_apart() -> None:
    everything = [entry("GET", "/api", {"2": 10, "80": 10}, fails=10)]
    # no success stats (e.g. the locust-side module did not run): unknown, not Locust's mix
    blind = summarize(everything)
    assert blind["p95"] is None and blind["avg"] is None
    assert blind["rps"] == pytest.approx(5.0)  # a count: 10 successes over 2 s is known
    # success stats that disagree with Locust's own counts are not trusted either
    odd = summarize(everything, successes=[entry("GET", "/api", {"80": 3})])
    assert odd["p95"] is None
    # no failure at all: every request is a success, Locust's numbers are the successes'
    clean = summarize([entry("GET", "/api", {"2": 10, "80": 10})])
    assert clean["p95"] == 80.0 and clean["successes"] == 20


def test_rps_of_a_burst_is_over_at_least_a_second() -> None:
    burst = [entry("GET", "/api", {"5": 2}, start=100.0, end=100.0002)]
    assert summarize(burst)["rps"] == pytest.approx(10000.0)  # the span alone
    m = summarize(burst, successes=burst, min_span=MIN_RPS_SPAN)
    assert m["rps"] == pytest.approx(2.0) and m["endpoints"]["GET /api"]["rps"] == 2.0
    assert evaluate("rps > 200", m)["passed"] is False
    # a span longer than the floor is used as it is
    long = [entry("GET", "/api", {"5": 30}, start=100.0, end=103.0)]
    assert summarize(long, successes=long, min_span=MIN_RPS_SPAN)["rps"] == pytest.approx(10.0)


def test_all_failed_has_no_latency_and_no_rps() -> None:
    m = summarize([entry("GET", "/api", {"1": 500}, fails=500)], successes=[])
    assert m["successes"] == 0 and m["p95"] is None and m["rps"] is None
    assert m["fail_ratio"] == 1.0


# -- thresholds: what cannot be evaluated fails ----------------------------------------------

ALL_FAILED = summarize([entry("GET", "/api", {"1": 500}, fails=500)], successes=[])
NOTHING = summarize([], successes=[])


@pytest.mark.parametrize("expr", ["p95 < 300ms", "avg < 1s", "rps > 1", "rps < 100000",
                                  "GET /api: p99 < 10s", "/api: max < 10s"])
def test_latency_and_rps_thresholds_fail_without_a_success(expr: str) -> None:
    result = evaluate(expr, ALL_FAILED)
    assert result["passed"] is False and result["observed"] is None
    assert "no successful request" in result["detail"] and "to measure" in result["detail"]


def test_p95_detail_says_nothing_was_measured() -> None:
    detail = evaluate("p95 < 300ms", ALL_FAILED)["detail"]
    assert detail == "p95: no successful request to measure, required < 300 ms"


@pytest.mark.parametrize("expr", ["fail_ratio < 1%", "failures < 1", "failures == 0",
                                  "successes >= 0", "p95 < 1s", "rps > 0"])
def test_a_load_without_requests_passes_nothing(expr: str) -> None:
    result = evaluate(expr, NOTHING)
    assert result["passed"] is False and result["observed"] is None
    assert "no requests" in result["detail"]


@pytest.mark.parametrize("expr", ["GET /never: p95 < 200ms", "GET /never: fail_ratio < 1%",
                                  "GET /never: failures == 0", "POST /api: requests >= 0"])
def test_endpoint_without_requests_fails(expr: str) -> None:
    metrics = summarize([entry("GET", "/api", {"5": 10})], successes=[entry("GET", "/api",
                                                                             {"5": 10})])
    result = evaluate(expr, metrics)
    assert result["passed"] is False
    assert "no requests for " in result["detail"]


def test_a_count_of_zero_requests_is_judged() -> None:
    assert evaluate("requests > 0", NOTHING)["passed"] is False
    assert evaluate("requests > 0", NOTHING)["detail"] == "requests = 0, required > 0"


# -- a real locust: the success stats are written and merged -------------------------------

@pytest.mark.parametrize("processes", [0, 2], ids=["one-process", "processes-2"])
def test_real_load_measures_latency_of_successes(tmp_path: Path, processes: int) -> None:
    with loopback_server() as server:
        run = run_load(LoadOptions(host=base_url(server), users=4, spawn_rate=4, run_time=2,
                                   wait=0.02, profile={"GET /slow": 1, "GET /broken": 1},
                                   processes=processes), tmp_path)
    m = run.metrics
    broken, slow = m["endpoints"]["GET /broken"], m["endpoints"]["GET /slow"]
    assert broken["requests"] > 0 and broken["successes"] == 0 and broken["p50"] is None
    assert slow["successes"] == slow["requests"] > 0
    # the fast 503s are not in the latency: every success took >= 50 ms
    assert m["p50"] is not None and m["p50"] >= 50 and m["min"] >= 50
    assert m["successes"] == slow["requests"]
    written = json.loads((tmp_path / "stats_success.json").read_text())
    assert {e["name"] for e in written} == {"/slow"}


# -- whole runs -------------------------------------------------------------------------------

def run(pytester: pytest.Pytester, url: str, *args: str) -> tuple[Any, dict[str, Any]]:
    report = pytester.path / "report"
    result = pytester.runpytest_subprocess(
        f"--staging-url={url}", f"--staging-report-dir={report}", "--staging-gate=performance",
        "-p", "no:cacheprovider", "--staging-load-progress=0", *args, timeout=120)
    return result, json.loads((report / "verdict.json").read_text())


def test_every_request_failing_is_no_go_with_only_latency_thresholds(
        pytester: pytest.Pytester, mode: list[str]) -> None:
    pytester.makepyfile(test_down="""
        import pytest

        @pytest.mark.performance(thresholds=["p95 < 300ms", "rps > 1"])
        def test_load(staging_load):
            staging_load(users=2, spawn_rate=2, run_time=2, wait=0.02, profile=["GET /broken"],
                         fail_on_threshold=False)

        def test_other():
            pass
    """)
    with loopback_server() as server:
        result, verdict = run(pytester, base_url(server), *mode)
    # every request failed: evidence that the release is bad (not "could not measure")
    assert verdict["verdict"] == "NO-GO" and result.ret == 1
    assert verdict["judgement"] == "failed"
    reasons = "\n".join(verdict["reasons"])
    assert "p95 < 300ms: p95: no successful request to measure, required < 300 ms" in reasons
    assert "rps > 1: rps: no successful request to measure" in reasons
    assert "successes > 0: successes = 0, required > 0" in reasons
    metrics = verdict["gates"]["performance"]["metrics"]["test_down.py::test_load"]
    assert metrics["requests"] > 0 and metrics["fail_ratio"] == 1.0


IDLE_LOCUSTFILE = """
from locust import User, constant, task

class Idle(User):
    wait_time = constant(0.2)

    @task
    def nothing(self):
        pass
"""


def test_a_load_of_zero_requests_is_no_go(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(idle_locustfile=IDLE_LOCUSTFILE, test_idle="""
        import pytest

        @pytest.mark.performance(thresholds=["fail_ratio < 1%"])
        def test_idle(staging_load):
            staging_load(users=1, spawn_rate=1, run_time=1, locustfile="idle_locustfile.py")
    """)
    with loopback_server() as server:
        result, verdict = run(pytester, base_url(server), "-p", "no:xdist")
    # a load that sent nothing measured nothing: could not judge (exit 3), still NO-GO
    assert verdict["verdict"] == "NO-GO" and result.ret == 3
    assert verdict["judgement"] == "inconclusive"
    reasons = "\n".join(verdict["reasons"])
    assert "requests > 0: requests = 0, required > 0" in reasons
    assert "fail_ratio < 1%: fail_ratio: no requests, required < 1.00%" in reasons


def test_zero_users_is_an_error_not_the_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_zero="""
        def test_zero(staging_load):
            staging_load(users=0, run_time=1, wait=0.02, profile=["GET /"])
    """)
    with loopback_server() as server:
        result, verdict = run(pytester, base_url(server), "-p", "no:xdist")
        hits = server.hits
    # the load could not run (a usage error in its call): could not judge
    assert verdict["verdict"] == "NO-GO" and result.ret == 3
    assert any("users=0: must be at least 1" in r for r in verdict["reasons"])
    assert hits <= 2  # readiness only: no load was run with the default 10 users


def test_endpoint_threshold_on_an_endpoint_never_hit_is_no_go(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_miss="""
        import pytest

        @pytest.mark.performance(thresholds=["GET /api/orders: p95 < 10s", "p95 < 10s"])
        def test_load(staging_load):
            staging_load(users=2, spawn_rate=2, run_time=1, wait=0.02, profile=["GET /api/items"])
    """)
    with loopback_server() as server:
        result, verdict = run(pytester, base_url(server), "-p", "no:xdist")
    # a threshold on an endpoint the load never hit measured nothing: could not judge
    assert verdict["verdict"] == "NO-GO" and result.ret == 3
    assert verdict["judgement"] == "inconclusive"
    assert verdict["reasons"] == [
        "performance: test_miss.py::test_load: GET /api/orders: p95 < 10s: "
        "p95: no requests for GET /api/orders, required < 10000 ms"]


FLAKY = """
def test_flaky(staging_load):
    staging_load(users=2, spawn_rate=2, run_time=2, wait=0.02, profile=["GET /flaky"])
"""


def test_default_fail_ratio_ceiling_without_any_threshold(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    with loopback_server(fail_every=2) as server:  # every other request fails
        result, verdict = run(pytester, base_url(server), "-p", "no:xdist")
    assert verdict["verdict"] == "NO-GO" and result.ret == 1
    reason = next(r for r in verdict["reasons"] if "fail_ratio <= 1%" in r)
    assert re.search(r"fail_ratio = (49|50)\.\d\d%, required <= 1\.00%", reason), reason
    check = next(c for c in verdict["gates"]["performance"]["checks"]
                 if c["expr"] == "fail_ratio <= 1%")
    assert check["kind"] == "minimum" and check["observed"] == pytest.approx(0.5, abs=0.02)


def test_policy_max_fail_ratio_sets_the_ceiling(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", policy='[performance]\nmax_fail_ratio = "60%"\n')
    pytester.makepyfile(test_flaky=FLAKY)
    with loopback_server(fail_every=2) as server:
        result, verdict = run(pytester, base_url(server), "-p", "no:xdist",
                              "--staging-policy=policy.toml")
    assert verdict["verdict"] == "GO", verdict["reasons"]
    exprs = [c["expr"] for c in verdict["gates"]["performance"]["checks"]]
    assert "fail_ratio <= 60%" in exprs and result.ret == 0


@pytest.mark.parametrize("value", ['"-1%"', '"150%"', "1", '"lots"'])
def test_bad_max_fail_ratio_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makefile(".toml", policy=f"[performance]\nmax_fail_ratio = {value}\n")
    pytester.makepyfile(test_flaky=FLAKY)
    result = pytester.runpytest_subprocess(
        "--staging-url=http://127.0.0.1:9/", "--staging-policy=policy.toml",
        "-p", "no:cacheprovider", f"--staging-report-dir={pytester.path / 'r'}", timeout=60)
    assert result.ret == 4
    assert "performance.max_fail_ratio" in result.stderr.str() + result.stdout.str()
