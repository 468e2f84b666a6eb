"""Threshold language: parse, evaluate, clear errors."""

from __future__ import annotations

import pytest

from pytest_staging.gates.performance.thresholds import (
    ThresholdError,
    evaluate,
    parse_threshold,
    parse_thresholds,
)

METRICS = {
    "requests": 1000,
    "failures": 5,
    "fail_ratio": 0.005,
    "rps": 250.0,
    "avg": 40.0,
    "min": 1.0,
    "max": 900.0,
    "p50": 30.0,
    "p90": 80.0,
    "p95": 120.0,
    "p99": 400.0,
    "endpoints": {
        "GET /api/items": {"requests": 600, "p95": 180.0, "fail_ratio": 0.0, "rps": 150.0},
        "POST /api/items": {"requests": 100, "p95": 250.0, "fail_ratio": 0.0, "rps": 25.0},
        "/api/items": {"requests": 700, "p95": 200.0, "fail_ratio": 0.0, "rps": 175.0},
        "GET /slow": {"requests": 300, "p95": 60.0, "fail_ratio": 0.0166, "rps": 75.0},
    },
}


@pytest.mark.parametrize(
    ("expr", "metric", "op", "limit", "endpoint"),
    [
        ("p95 < 300ms", "p95", "<", 300.0, None),
        ("p99 <= 1s", "p99", "<=", 1000.0, None),
        ("p99<=1.5s", "p99", "<=", 1500.0, None),
        ("fail_ratio < 1%", "fail_ratio", "<", 0.01, None),
        ("fail_ratio < 0.1%", "fail_ratio", "<", 0.001, None),
        ("fail_ratio < 0.02", "fail_ratio", "<", 0.02, None),
        ("rps > 200", "rps", ">", 200.0, None),
        ("avg < 150ms", "avg", "<", 150.0, None),
        ("avg < 150", "avg", "<", 150.0, None),
        ("GET /api/items: p95 < 200ms", "p95", "<", 200.0, "GET /api/items"),
        ("/api/items/:id: p95 < 200ms", "p95", "<", 200.0, "/api/items/:id"),
        ("failures == 0", "failures", "==", 0.0, None),
    ],
)
def test_parse(expr: str, metric: str, op: str, limit: float, endpoint: str | None) -> None:
    threshold = parse_threshold(expr)
    assert (threshold.metric, threshold.op, threshold.endpoint) == (metric, op, endpoint)
    assert threshold.limit == pytest.approx(limit)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("p95 < ", "expected"),
        ("p97 < 300ms", "unknown metric 'p97'"),
        ("p95 < 300%", "takes ms or s"),
        ("fail_ratio < 5ms", "percentage"),
        ("fail_ratio < 3", "percentage"),
        ("rps > 20ms", "plain number"),
        ("p95 ~ 3ms", "expected"),
        ("", "expected"),
    ],
)
def test_bad_expression_names_itself(expr: str, fragment: str) -> None:
    with pytest.raises(ThresholdError) as info:
        parse_threshold(expr)
    assert repr(expr) in str(info.value)
    assert fragment in str(info.value)


def test_parse_thresholds_stops_at_first_bad() -> None:
    with pytest.raises(ThresholdError, match="'p95 < fast'"):
        parse_thresholds(["p99 < 1s", "p95 < fast"])


@pytest.mark.parametrize(
    ("expr", "passed", "observed"),
    [
        ("p95 < 300ms", True, 120.0),
        ("p95 < 100ms", False, 120.0),
        ("p99 <= 0.4s", True, 400.0),
        ("fail_ratio < 1%", True, 0.005),
        ("fail_ratio < 0.1%", False, 0.005),
        ("rps > 200", True, 250.0),
        ("rps >= 300", False, 250.0),
        ("GET /api/items: p95 < 200ms", True, 180.0),
        ("POST /api/items: p95 < 200ms", False, 250.0),
        ("/api/items: p95 <= 200ms", True, 200.0),
        ("/slow: p95 < 100", True, 60.0),
    ],
)
def test_evaluate(expr: str, passed: bool, observed: float) -> None:
    result = evaluate(expr, METRICS)
    assert result["passed"] is passed
    assert result["observed"] == pytest.approx(observed)
    assert set(result) >= {"expr", "metric", "endpoint", "observed", "limit", "unit", "passed"}


def test_failed_detail_shows_observed_and_required() -> None:
    result = evaluate("p95 < 1ms", {"requests": 10, "p95": 52.0, "endpoints": {}})
    assert result["passed"] is False
    assert result["detail"] == "p95 = 52 ms, required < 1 ms"
    ratio = evaluate("fail_ratio < 0.1%", METRICS)
    assert ratio["detail"] == "fail_ratio = 0.50%, required < 0.10%"


def test_missing_endpoint_and_no_requests_fail_closed() -> None:
    missing = evaluate("GET /nope: p95 < 10s", METRICS)
    assert missing["passed"] is False and missing["observed"] is None
    assert "no requests for GET /nope" in missing["detail"]
    empty = evaluate("p95 < 10s", {"requests": 0, "p95": None, "endpoints": {}})
    assert empty["passed"] is False
    # a latency bound must not pass on a zero that only means "nothing measured"
    zero = evaluate("max < 10s", {"requests": 0, "max": 0.0, "endpoints": {}})
    assert zero["passed"] is False
