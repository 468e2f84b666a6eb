"""Metrics merged from Locust JSON entries (histograms, span-based rps)."""

from __future__ import annotations

import pytest

from pytest_staging.gates.performance.metrics import endpoint_metrics, percentile, summarize


def entry(
    method: str,
    name: str,
    hist: dict[str, int],
    *,
    fails: int = 0,
    start: float = 100.0,
    end: float = 104.0,
) -> dict:
    count = sum(hist.values())
    total = sum(float(k) * v for k, v in hist.items())
    return {
        "name": name, "method": method, "start_time": start, "last_request_timestamp": end,
        "num_requests": count, "num_none_requests": 0, "num_failures": fails,
        "total_response_time": total, "min_response_time": min(float(k) for k in hist),
        "max_response_time": max(float(k) for k in hist), "response_times": hist,
        "num_reqs_per_sec": {}, "num_fail_per_sec": {},
    }  # fmt: skip


def test_percentile_matches_locust_rank_rule() -> None:
    hist = {float(ms): 1 for ms in range(1, 101)}  # 1..100 ms, one each
    assert percentile(hist, 100, 0.50) == 50.0
    assert percentile(hist, 100, 0.95) == 95.0
    assert percentile(hist, 100, 0.99) == 99.0
    assert percentile({5.0: 99, 900.0: 1}, 100, 0.99) == 5.0
    assert percentile({5.0: 98, 900.0: 2}, 100, 0.99) == 900.0


def test_summary_merges_histograms_across_endpoints() -> None:
    fast = entry("GET", "/fast", {"2": 900}, start=100.0, end=104.0)
    slow = entry("GET", "/slow", {"50": 80, "60": 20}, start=100.5, end=105.0)
    m = summarize([fast, slow])  # no failure: the latency of all requests is of successes
    assert m["requests"] == 1000 and m["failures"] == 0
    assert m["fail_ratio"] == 0.0
    assert m["span"] == pytest.approx(5.0)
    assert m["rps"] == pytest.approx(200.0)  # 1000 requests over 5 s, not locust's own figure
    assert m["p50"] == 2.0
    assert m["p95"] == 50.0  # the 950th fastest request is a /slow one
    assert m["p99"] == 60.0
    assert m["max"] == 60.0 and m["min"] == 2.0
    assert m["avg"] == pytest.approx((900 * 2 + 80 * 50 + 20 * 60) / 1000)
    assert m["endpoints"]["GET /slow"]["p95"] == 60.0
    assert m["endpoints"]["GET /slow"]["rps"] == pytest.approx(100 / 4.5, rel=1e-3)
    assert m["endpoints"]["GET /fast"]["fail_ratio"] == 0.0


def test_same_name_several_methods_gets_a_merged_entry() -> None:
    get = entry("GET", "/api/items", {"10": 10})
    post = entry("POST", "/api/items", {"30": 10})
    m = summarize([get, post])
    assert set(m["endpoints"]) == {"GET /api/items", "POST /api/items", "/api/items"}
    assert endpoint_metrics(m, "/api/items")["requests"] == 20
    assert endpoint_metrics(m, "POST /api/items")["p50"] == 30.0
    assert endpoint_metrics(m, "get /api/items") is None


def test_empty_run_has_no_latency() -> None:
    m = summarize([])
    assert m["requests"] == 0 and m["p95"] is None and m["rps"] is None
    assert m["fail_ratio"] is None  # nothing measured is not "0% failed"
