"""Performance: latency budgets of the pages customers wait on.

The timed tests send sequential requests with the ``staging`` client and judge the p95; the
load test runs a Locust profile through the performance gate's ``staging_load`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from pytest_staging.record import record
from sample_suite.latency import percentile, timed_gets

pytestmark = pytest.mark.performance

#: p95 budgets in milliseconds, per request, as agreed with the product owner.
BUDGET_MS = {
    "GET /api/products": 200.0,
    "GET /api/search": 200.0,
}


def judge_p95(request: pytest.FixtureRequest, name: str, latencies: list[float]) -> None:
    """Record the latencies in the verdict (as the load tests do) and fail over budget."""
    budget = BUDGET_MS[name]
    p95 = percentile(latencies, 95)
    within = p95 <= budget
    detail = f"p95 = {p95:.0f} ms, required <= {budget:.0f} ms"
    record(request.node, metrics={name: {
        "requests": len(latencies), "rps": round(1000 * len(latencies) / sum(latencies), 1),
        "p50": round(percentile(latencies, 50), 2), "p95": round(p95, 2),
        "max": round(max(latencies), 2), "fail_ratio": 0.0}},
        checks=[{"name": f"{name}: p95 <= {budget:.0f}ms", "passed": within, "blocking": True,
                 "detail": detail, "load": name}])
    assert within, f"{name} is slow: {detail} ({len(latencies)} sequential requests)"


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
def test_shop_under_load_meets_thresholds(staging_load: Callable[..., Any]) -> None:
    """10 concurrent users browse and search for 5 s, each pausing 0.1 s between requests as
    people do; the marker's thresholds judge the run."""
    result = staging_load(users=10, spawn_rate=10, run_time="5s", wait=0.1, profile={
        "GET /api/products": 3, "GET /api/search?q=mug": 2, "GET /health": 1})
    result.check("rps > 20")  # asserts, and is recorded in the verdict like the thresholds
