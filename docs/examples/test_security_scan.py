"""The staging_scan fixture: the security gate's passive checks on pages you choose."""

import pytest


@pytest.mark.security
def test_home_page_is_hardened(staging, staging_scan):
    findings = staging_scan(staging.get("/"))  # a response you hold
    assert [f["rule"] for f in findings if f["level"] == "fail"] == []


@pytest.mark.security
def test_health_trusts_no_foreign_origin(staging_scan):
    assert staging_scan("/health", families=["cors"]) == []  # a path under the target
