"""A first staging suite, the one the README shows, plus a timed check for the performance gate.

Run it: pytest docs/examples --staging-url=https://staging.example.com
"""

import pytest


def test_service_is_healthy(staging):
    response = staging.get("/health")  # joins the --staging-url
    assert response.status_code == 200


@pytest.mark.security
def test_pages_forbid_framing(staging):
    assert staging.get("/").headers["X-Frame-Options"] == "DENY"


@pytest.mark.advisory  # reports, never blocks: "would have blocked" in the verdict
def test_new_search_is_ready(staging):
    assert staging.get("/api/products", params={"q": "tea"}).ok


@pytest.mark.performance
def test_home_page_answers_within_half_a_second(staging):
    assert staging.get("/").elapsed.total_seconds() < 0.5
