"""The compare target's own HTTP client: read-only and budgeted by construction.

Every request it sends, redirect hops included, passes :meth:`ReadOnlyClient.send`, which
refuses any method but GET, HEAD and OPTIONS and any request beyond the budget. The compare
credentials are added there, only for the compare target's own origin (never to a host it
redirects to, never over plain HTTP to the same host). Nothing else in the plugin gets the
compare URL: no fixture, no load test, no contract request can reach production.

It is a :class:`~pytest_staging.deadline.DeadlineSession`, like the ``staging`` client: its
``timeout`` is a total deadline per request (redirect hops and a non-streamed body included),
and a streamed body read with :func:`~pytest_staging.deadline.read_capped` stays within it, so a
production that drips its answer cannot hold the run past ``[parity] timeout``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from pytest_staging.deadline import DeadlineSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ParityRefused(requests.RequestException):
    """The client refused to send a request (unsafe method, budget spent)."""


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class ReadOnlyClient(DeadlineSession):
    """A ``requests.Session`` that only reads, at most ``budget`` times, each request within
    ``timeout`` seconds in total. Its ``trace`` (``DeadlineSession``'s, which stamps every
    request) is set on the staging side only, never on the compare target's."""

    def __init__(self, base_url: str, *, budget: int, name: str,
                 headers: Mapping[str, str] | None = None,
                 params: Mapping[str, str] | None = None, verify: bool | str = True,
                 timeout: float = 10.0) -> None:
        super().__init__()
        self.base_url = base_url
        self.budget = budget
        self.name = name
        self.sent = 0
        self.timeout = timeout
        self.verify = verify
        self.params = dict(params or {})
        self._origin = origin(base_url)
        self._credentials = dict(headers or {})

    def spend(self, what: str) -> None:
        """Count one request or TLS handshake against the budget (refuse past it)."""
        if self.sent >= self.budget:
            raise ParityRefused(f"{self.name}: request budget of {self.budget} spent "
                                f"before {what}")
        self.sent += 1

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        method = (request.method or "").upper()
        if method not in SAFE_METHODS:
            raise ParityRefused(f"{self.name}: refused {method} {request.url}: the comparison "
                                f"only sends GET, HEAD and OPTIONS")
        self.spend(f"{method} {request.url}")
        if origin(str(request.url)) == self._origin:
            request.headers.update(self._credentials)
        else:
            # A redirect hop copies the previous request's headers: strip the credentials.
            for name in self._credentials:
                request.headers.pop(name, None)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        # verify per request: requests lets REQUESTS_CA_BUNDLE beat a Session's own verify
        kwargs["verify"] = self.verify
        return super().send(request, **kwargs)
