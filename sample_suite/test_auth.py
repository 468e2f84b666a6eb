"""Integration: logging in and out with a cookie session."""

from __future__ import annotations

import pytest
import requests

from sample_suite.accounts import Account, log_in
from sample_suite.expect import expect

pytestmark = pytest.mark.integration


def test_login_returns_the_user(staging: requests.Session, shopper_account: Account) -> None:
    user = log_in(staging, shopper_account).json()
    assert user["email"] == shopper_account.email
    assert user["role"] == "customer"
    assert expect(staging.get("/api/me"), 200).json()["email"] == shopper_account.email


def test_me_requires_login(staging: requests.Session) -> None:
    assert expect(staging.get("/api/me"), 401).json() == {"error": "login required"}


def test_logout_ends_the_session(shopper: requests.Session) -> None:
    expect(shopper.post("/api/logout"), 204)
    expect(shopper.get("/api/me"), 401)


@pytest.mark.parametrize("body", [{}, {"email": "shopper@example.com"}, {"password": "x"}],
                         ids=["empty", "no-password", "no-email"])
def test_login_rejects_incomplete_credentials(staging: requests.Session,
                                              body: dict[str, str]) -> None:
    expect(staging.post("/api/login", json=body), 401)


def test_login_rejects_a_body_that_is_not_json(staging: requests.Session) -> None:
    response = expect(staging.post("/api/login", data="email=a&password=b"), 400)
    assert "JSON" in response.json()["error"]
