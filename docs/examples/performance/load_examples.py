"""Load tests as a team would write them, here against the demo shop (sample_suite/app.py).

Copy into your suite as ``test_load.py`` (this file is not named ``test_*`` so that
``pytest docs/examples`` leaves it alone; tests/test_perf_examples.py runs it):

    pytest test_load.py --staging-url https://staging.example.com --staging-policy policy.toml
"""

import pytest


@pytest.mark.performance(thresholds=["p95 < 500ms", "GET /api/products: p99 < 1s"])
def test_browse_under_load(staging_load):
    result = staging_load(users=5, spawn_rate=5, run_time="3s", locustfile="locustfile.py")
    result.check("rps > 20")  # asserts, and is recorded in the verdict
    result.check("/health: fail_ratio < 1%")


def test_inline_profile(staging_load):
    result = staging_load(users=3, spawn_rate=3, run_time="2s",
                          profile={"GET /api/products": 3, "GET /health": 1})
    assert result.metrics["endpoints"]["GET /api/products"]["requests"] > 0


def test_profile_entries_with_names_and_headers(staging_load):
    result = staging_load(users=2, spawn_rate=2, run_time="2s", profile=[
        {"request": "GET /api/products?per_page=5", "weight": 3, "name": "/api/products"},
        {"request": "GET /api/search?q=mug", "name": "search",
         "headers": {"Accept": "application/json"}},
    ], thresholds=["search: p95 < 1s"])
    assert result["endpoints"]["GET search"]["failures"] == 0
