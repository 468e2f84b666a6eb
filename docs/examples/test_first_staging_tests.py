"""A first staging suite: one test per built-in gate, against any target.

Run it: pytest docs/examples --staging-url http://127.0.0.1:8000/ \
            --staging-policy docs/examples/policy.toml
"""

import pytest


def test_health_answers_ok(staging):
    # An unmarked test belongs to the policy's default gate: integration.
    response = staging.get("/health")
    assert response.status_code == 200


@pytest.mark.security
def test_home_page_forbids_framing(staging):
    response = staging.get("/")
    assert response.headers.get("X-Frame-Options") == "DENY"


@pytest.mark.performance
def test_home_page_answers_within_half_a_second(staging):
    response = staging.get("/")
    assert response.elapsed.total_seconds() < 0.5
