"""``base_url`` for an active run where neither pytest-base-url nor pytest-playwright
provides it (registered as a plugin only then)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str:
    """The staging URL, under pytest-base-url's fixture name."""
    return str(pytestconfig.option.base_url)
