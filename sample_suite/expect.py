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
