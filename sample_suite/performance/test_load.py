"""Load tests as a team would write them: a locustfile, an inline profile, thresholds.

Run against your staging target:

    pytest sample_suite/performance --staging-url https://staging.example.com \
        --staging-policy sample_suite/performance/policy.toml
"""

import pytest


@pytest.mark.performance(thresholds=["p95 < 500ms", "GET /api/items: p99 < 1s"])
def test_browse_under_load(staging_load):
    """Thresholds from the policy and the marker are judged automatically."""
    result = staging_load(users=5, spawn_rate=5, run_time="3s", locustfile="locustfile.py")
    # More assertions, each recorded in the verdict with observed vs required:
    result.check("rps > 20")
    result.check("/health: fail_ratio < 1%")


def test_inline_profile(staging_load):
    """No locustfile: weighted requests, generated into a FastHttpUser."""
    result = staging_load(
        users=3,
        spawn_rate=3,
        run_time="2s",
        profile=[
            {"request": "GET /api/items", "weight": 3},
            {"request": "POST /api/orders", "json": {"item": 1, "quantity": 2}},
        ],
        thresholds=["POST /api/orders: p95 < 1s"],
    )
    assert result.metrics["endpoints"]["POST /api/orders"]["requests"] > 0
