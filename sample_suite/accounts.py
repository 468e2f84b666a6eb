"""The accounts the suite logs in with, and the login step itself."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
import requests

from sample_suite.app import DEMO_USERS


@dataclass(frozen=True)
class Account:
    email: str
    password: str


def account_from_env(prefix: str, demo_email: str) -> Account:
    """``{prefix}_USER``/``{prefix}_PASSWORD`` from the environment, else the demo account."""
    return Account(os.environ.get(f"{prefix}_USER", demo_email),
                   os.environ.get(f"{prefix}_PASSWORD", DEMO_USERS[demo_email][2]))


def log_in(client: requests.Session, account: Account) -> requests.Response:
    """Log ``client`` in as ``account``; fail the test naming the account if that is refused."""
    response = client.post("/api/login", json={"email": account.email,
                                                "password": account.password})
    if response.status_code != 200:
        pytest.fail(f"cannot log in as {account.email}: {response.status_code} "
                    f"{response.reason}", pytrace=False)
    return response
