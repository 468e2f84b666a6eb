"""Integration: the service is up, reports its release and serves its pages."""

from __future__ import annotations

import re

import pytest
import requests

from sample_suite.expect import expect

pytestmark = pytest.mark.integration

SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")


def test_health_reports_ok(staging: requests.Session) -> None:
    assert expect(staging.get("/health"), 200).json() == {"status": "ok"}


def test_version_is_the_release_being_promoted(staging: requests.Session,
                                               pytestconfig: pytest.Config) -> None:
    version = expect(staging.get("/version"), 200).json().get("version")
    assert isinstance(version, str) and SEMVER.match(version), \
        f"/version reports {version!r}, not a semantic version"
    expected = pytestconfig.getoption("staging_expect_version")
    if expected:
        assert version == expected, \
            f"version mismatch: /version reports {version}, the release is {expected}"


def test_home_page_is_html(staging: requests.Session) -> None:
    response = expect(staging.get("/"), 200)
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<title>Demo Shop" in response.text


def test_unknown_route_is_a_json_404(staging: requests.Session) -> None:
    response = expect(staging.get("/no/such/page"), 404)
    assert response.json() == {"error": "not found"}


def test_wrong_method_is_405_with_allow(staging: requests.Session) -> None:
    response = expect(staging.delete("/api/search"), 405)
    assert response.headers["Allow"] == "GET"
