"""Stand-ins for pytest-playwright's fixtures when it is not in use (registered as a plugin
in an active run only then): a browser test gets one line saying what to install, not
"fixture 'page' not found" and a list of fixtures."""

from __future__ import annotations

import importlib.util
from typing import NoReturn

import pytest

INSTALL = ("browser tests need pytest-playwright: pip install 'pytest-staging[browser]' "
           "(and a Chromium: see --staging-browser-path)")
DISABLED = "browser tests need pytest-playwright, which this run disabled (-p no:playwright)"


def message() -> str:
    """What to do: install pytest-playwright, or stop disabling it."""
    return DISABLED if importlib.util.find_spec("pytest_playwright") is not None else INSTALL


def _fail() -> NoReturn:
    pytest.fail(message(), pytrace=False)


@pytest.fixture
def page() -> None:
    """Stands in for pytest-playwright's ``page``: says what to install."""
    _fail()


@pytest.fixture
def context() -> None:
    """Stands in for pytest-playwright's ``context``: says what to install."""
    _fail()


@pytest.fixture
def new_context() -> None:
    """Stands in for pytest-playwright's ``new_context``: says what to install."""
    _fail()


@pytest.fixture(scope="session")
def browser() -> None:
    """Stands in for pytest-playwright's ``browser``: says what to install."""
    _fail()
