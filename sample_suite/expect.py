"""Assertions on HTTP answers that fail with one line a release manager can read."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests


def describe(response: requests.Response) -> str:
    """``GET /api/orders?page=1 answered 500 Internal Server Error``."""
    url = urlsplit(response.url)
    target = url.path + (f"?{url.query}" if url.query else "")
    return f"{response.request.method} {target} answered {response.status_code} {response.reason}"


def expect(response: requests.Response, status: int) -> requests.Response:
    """Return ``response`` if it has ``status``; else fail the test naming the request."""
    if response.status_code != status:
        snippet = " ".join(response.text[:160].split())
        pytest.fail(f"{describe(response)}, expected {status}: {snippet}", pytrace=False)
    return response


def fixture_or_skip(request: pytest.FixtureRequest, name: str, provided_by: str) -> object:
    """The value of fixture ``name``, or skip the test when no installed plugin provides it.

    The sample suite uses this for fixtures of optional gates, so it runs (with a visible skip
    reason) on an installation that does not have them yet.
    """
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"needs the {name} fixture ({provided_by}), which the installed "
                    f"pytest-staging does not provide")
