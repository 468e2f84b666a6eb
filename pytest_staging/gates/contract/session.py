"""The session every generated request goes through: the staging client's headers, query
parameters, TLS options and timeout, plus the contract gate's guards on each request actually
sent (redirect hops included): the sensitive-URL check, the request budget and the rate limit."""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from pytest_staging.client import StagingSession
from pytest_staging.gates.contract.settings import SAFE_METHODS


class ContractStop(requests.RequestException):
    """A request the gate refused to send (the message says why)."""


class SensitiveRequestRefused(ContractStop):
    """A generated request (or a redirect hop) aimed at a URL matching ``sensitive_url``."""


class BudgetExhausted(ContractStop):
    """The run's request budget or time budget is spent."""


class Budget:
    """Requests and seconds left for this process's share of the run, and the rate limit."""

    def __init__(self, *, max_requests: int, max_seconds: float, rate: float) -> None:
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.sent = 0
        self.started: float | None = None
        self._next = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def exhausted(self) -> str:
        """Why no more request may be sent, or ""."""
        if self.sent >= self.max_requests:
            return f"request budget spent ({self.sent} of max_requests {self.max_requests})"
        if self.started is not None and self.elapsed() >= self.max_seconds:
            return f"time budget spent ({self.elapsed():.1f}s of max_seconds {self.max_seconds:g})"
        return ""

    def take(self) -> None:
        """Account for one request about to be sent; wait for its slot under the rate limit."""
        self.start()
        with self._lock:
            why = self.exhausted()
            if why:
                raise BudgetExhausted(why)
            self.sent += 1
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            time.sleep(wait)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class ContractSession(StagingSession):
    """A :class:`StagingSession` (no retries: a 503 must be seen, not retried into a pass) whose
    ``send`` refuses sensitive URLs and spends the budget, for the first request and for every
    redirect hop requests follows (``resolve_redirects`` sends each hop through ``send``)."""

    def __init__(self, base_url: str, *, budget: Budget, sensitive_url: str,
                 own_headers: tuple[str, ...] = (), **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(base_url, **kwargs)
        self.origin = _origin(base_url)
        #: --staging-header names: never sent on a redirect that leaves the target's origin.
        self.own_headers = tuple(own_headers)
        self.budget = budget
        self.sensitive = re.compile(sensitive_url) if sensitive_url else None
        self._depth = 0
        #: The request of the last call as it was sent (before any redirect) and the redirect
        #: hops the call followed: what a reproduction replays.
        self.first_request: requests.PreparedRequest | None = None
        self.redirects = 0

    def start_call(self) -> None:
        """Before each generated request: a clean cookie jar (a cookie one operation's answer
        set is never sent with another's, so no result depends on the order operations run
        in) and no record of an earlier request."""
        self.cookies.clear()
        self.first_request = None
        self.redirects = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # requests sends each redirect hop through send() from inside the first call.
        hop = self._depth > 0
        url = str(request.url or "")
        unsafe = str(request.method).upper() not in SAFE_METHODS
        # A hop is where the server sent us: never follow one to a sensitive URL. The first
        # request goes to the target, already judged; an unsafe one is checked again anyway.
        if self.sensitive is not None and (hop or unsafe) and self.sensitive.search(url):
            where = "a redirect to" if hop else "a URL"
            raise SensitiveRequestRefused(
                f"refused to send {request.method} to {where} matching sensitive_url: {url}")
        if hop and _origin(url) != self.origin:
            # requests drops Authorization on a cross-host redirect, not an X-Api-Key.
            for name in self.own_headers:
                request.headers.pop(name, None)
        self.budget.take()
        if hop:
            self.redirects += 1
        else:
            self.first_request = request.copy()
        self._depth += 1
        try:
            return super().send(request, **kwargs)
        finally:
            self._depth -= 1
