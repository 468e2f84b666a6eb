"""Early abort of a failing load (``abort = true`` thresholds), against a loopback server
that fails every request: the load stops long before its planned run time, and the verdict
says it aborted, on which threshold and when."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import LoopbackServer, text_answer

from pytest_staging.gates.performance.abort import breach
from pytest_staging.gates.performance.runner import LoadOptions, run_load
from pytest_staging.gates.performance.thresholds import (
    DEFAULT_MIN_REQUESTS,
    ThresholdError,
    parse_threshold,
    parse_thresholds,
)

PLANNED = 30  # seconds a load would run without the abort


@pytest.fixture
def failing() -> Iterator[LoopbackServer]:
    """Healthy for the readiness check, 503 on every API request."""
    srv = LoopbackServer()
    srv.routes["/api/items"] = lambda req: text_answer("down", 503)
    srv.start()
    yield srv
    srv.stop()


def test_threshold_tables_parse() -> None:
    plain, table = parse_thresholds(
        ["p95 < 300ms", {"expr": "fail_ratio < 5%", "abort": True, "min_requests": 20}])
    assert not plain.abort and plain.min_requests == 0
    assert (table.metric, table.limit, table.abort, table.min_requests) == (
        "fail_ratio", 0.05, True, 20)
    assert parse_threshold({"expr": "failures < 3", "abort": True}).min_requests == (
        DEFAULT_MIN_REQUESTS)
    assert parse_threshold({"expr": "p95 < 1s"}) == parse_threshold("p95 < 1s")


@pytest.mark.parametrize(("table", "message"), [
    ({"expr": "rps > 100", "abort": True}, "rps is only known at the end"),
    ({"expr": "requests >= 10", "abort": True}, "requests is only known at the end"),
    ({"expr": "failures > 3", "abort": True}, "only an upper bound"),
    ({"expr": "p95 < 1s", "abort": "yes"}, "abort must be true or false"),
    ({"expr": "p95 < 1s", "abort": True, "min_requests": 0}, "min_requests must be"),
    ({"expr": "p95 < 1s", "abort": True, "min_requets": 5}, "unknown key(s) min_requets"),
    ({"abort": True}, "'expr' is required"),
])
def test_bad_abort_tables_are_errors(table: dict[str, object], message: str) -> None:
    with pytest.raises(ThresholdError, match=".*".join(map(_escape, message.split()))):
        parse_threshold(table)


def _escape(word: str) -> str:
    import re

    return re.escape(word)


def test_breach_needs_the_minimum_sample_except_for_failure_counts() -> None:
    ratio, count = parse_thresholds([
        {"expr": "fail_ratio < 5%", "abort": True, "min_requests": 50},
        {"expr": "failures < 10", "abort": True, "min_requests": 50},
    ])
    few = {"requests": 20, "failures": 5, "fail_ratio": 0.25, "endpoints": {}}
    assert breach([ratio], few) is None  # 25 % of 20 requests: not yet a sample
    assert breach([ratio, count], {**few, "failures": 10, "fail_ratio": 0.5}) == {
        **breach([count], {**few, "failures": 10, "fail_ratio": 0.5}), "requests": 20}
    hit = breach([ratio], {"requests": 60, "failures": 6, "fail_ratio": 0.1, "endpoints": {}})
    assert hit is not None and hit["expr"] == "fail_ratio < 5%" and hit["requests"] == 60
    assert breach([ratio], {"requests": 600, "failures": 6, "fail_ratio": 0.01,
                            "endpoints": {}}) is None
    not_marked = parse_threshold("fail_ratio < 5%")
    assert breach([not_marked], {"requests": 600, "failures": 600, "fail_ratio": 1.0}) is None


def test_failing_load_stops_early(failing: LoopbackServer, tmp_path: Path) -> None:
    abort = parse_threshold({"expr": "fail_ratio < 5%", "abort": True, "min_requests": 20})
    started = time.monotonic()
    run = run_load(LoadOptions(host=failing.url.rstrip("/"), users=2, spawn_rate=2,
                               run_time=PLANNED, profile={"GET /api/items": 1}),
                   tmp_path, abort_on=[abort])
    took = time.monotonic() - started
    assert run.aborted is not None, run.metrics
    assert run.aborted["expr"] == "fail_ratio < 5%"
    assert run.aborted["observed"] == 1.0 and run.aborted["requests"] >= 20
    # Stopped within a few progress ticks of the breach, far from the planned 30 s.
    assert run.aborted["after"] < PLANNED / 2 and took < PLANNED / 2, (run.aborted, took)
    # Locust still wrote its stats: the final metrics are the aborted run's.
    assert run.metrics["requests"] >= 20 and run.metrics["fail_ratio"] == 1.0


ABORTING_TEST = f"""
def test_load(staging_load):
    staging_load(users=2, spawn_rate=2, run_time={PLANNED}, profile={{"GET /api/items": 1}})
"""


def test_verdict_says_the_load_aborted_and_when(failing: LoopbackServer, run_staging,
                                                pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", policy=(
        "[performance]\n"
        "thresholds = ['p95 < 2s', "
        "{expr = 'fail_ratio < 5%', abort = true, min_requests = 20}]\n"))
    pytester.makepyfile(test_load=ABORTING_TEST)
    started = time.monotonic()
    run = run_staging("-p", "no:xdist", "--staging-policy=policy.toml",
                      "--staging-gate=performance", url=failing.url)
    assert time.monotonic() - started < PLANNED, run.output
    assert run.ret == 1, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    aborted = [r for r in verdict["reasons"] if "load aborted after" in r]
    assert len(aborted) == 1, verdict["reasons"]
    assert f"s of {PLANNED}s: fail_ratio < 5% breached (fail_ratio = 100.00% after" in aborted[0]
    [metrics] = verdict["gates"]["performance"]["metrics"].values()
    assert metrics["aborted"]["expr"] == "fail_ratio < 5%"
    assert 0 < metrics["aborted"]["after"] < PLANNED / 2
    assert metrics["aborted"]["requests"] >= 20
