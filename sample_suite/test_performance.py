"""Performance: latency budgets of the pages customers wait on.

The timed tests send sequential requests with the ``staging`` client and judge the p95; the
load test runs a Locust profile through the performance gate's ``staging_load`` fixture.
"""

from __future__ import annotations

import pytest
import requests

from pytest_staging.record import record
from sample_suite.expect import fixture_or_skip
from sample_suite.latency import percentile, timed_gets

pytestmark = pytest.mark.performance

#: p95 budgets in milliseconds, per request, as agreed with the product owner.
BUDGET_MS = {
    "GET /api/products": 200.0,
    "GET /api/search": 200.0,
}


def judge_p95(request: pytest.FixtureRequest, name: str, latencies: list[float]) -> None:
    """Record the latencies in the verdict and fail when the p95 is over budget."""
    budget = BUDGET_MS[name]
    p95 = percentile(latencies, 95)
    record(request.node, metrics={name: {
        "requests": len(latencies), "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(p95, 2), "max_ms": round(max(latencies), 2), "budget_p95_ms": budget}})
    assert p95 <= budget, (f"{name} is slow: p95 {p95:.0f} ms over the {budget:.0f} ms budget "
                           f"({len(latencies)} requests)")


def test_catalogue_p95_within_budget(request: pytest.FixtureRequest,
                                     staging: requests.Session) -> None:
    budget = BUDGET_MS["GET /api/products"]
    latencies = timed_gets(staging, "/api/products?per_page=20", 50, budget)
    judge_p95(request, "GET /api/products", latencies)


def test_search_p95_within_budget(request: pytest.FixtureRequest,
                                  staging: requests.Session) -> None:
    budget = BUDGET_MS["GET /api/search"]
    latencies = timed_gets(staging, "/api/search?q=mug", 40, budget)
    judge_p95(request, "GET /api/search", latencies)


@pytest.mark.performance(thresholds=["p95 < 250ms", "fail_ratio < 1%"])
def test_shop_under_load_meets_thresholds(request: pytest.FixtureRequest) -> None:
    """10 concurrent users browsing and searching for 5 s; the marker's thresholds judge it."""
    staging_load = fixture_or_skip(request, "staging_load", "the performance gate")
    result = staging_load(  # type: ignore[operator]
        users=10, spawn_rate=10, run_time="5s",
        profile={"GET /api/products": 3, "GET /api/search?q=mug": 2, "GET /health": 1})
    assert result is not None
