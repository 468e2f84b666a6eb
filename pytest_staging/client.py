"""The ``staging`` client: a requests Session bound to the target, keeping evidence."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pytest_staging.deadline import DeadlineAdapter, DeadlineSession
from pytest_staging.printable import printable
from pytest_staging.redact import Redactor
from pytest_staging.sensitive import SensitiveMatch, sensitive_match
from pytest_staging.trace_context import trace_id_of

RETRY_STATUSES = (502, 503, 504)
#: Evidence bounds for headers, like evidence_body for bodies: a 60 KB debug header times
#: five exchanges must not swell the verdict.
HEADER_VALUE_LIMIT = 512
HEADER_COUNT_LIMIT = 64


class Exchange(NamedTuple):
    """One request and its answer, kept raw; redacted only when it becomes evidence."""

    method: str
    url: str
    status: int | None
    latency_ms: float
    request_headers: Mapping[str, str]
    response_headers: Mapping[str, str]
    body: bytes
    error: str
    #: The W3C trace id the request carried ("" when none).
    trace_id: str = ""


def make_retry(retries: int) -> Retry:
    """Retries with backoff for idempotent methods on connection errors and 502/503/504."""
    return Retry(
        total=retries,
        connect=retries,
        # A read timeout is a slow target, not a blip: retrying would triple the wait, and
        # False keeps requests raising ReadTimeout rather than a generic ConnectionError.
        read=False,
        status=retries,
        backoff_factor=0.2,
        backoff_max=5,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
        raise_on_status=False,
        # A Retry-After of minutes would stall the release pipeline: stay bounded.
        respect_retry_after_header=False,
    )


def join_url(base_url: str, url: str) -> str:
    """``/health`` and ``health`` are relative to the base URL; absolute URLs pass through."""
    if "://" in url:
        return url
    return base_url + url.lstrip("/")


#: Methods that change nothing: the only ones a redirect may carry to a sensitive URL.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SensitiveURLRefused(RuntimeError):
    """A request (or a redirect hop) aimed at a URL matching ``sensitive_url`` was not sent.

    Not a ``requests.RequestException``: a test that swallows HTTP errors must not swallow
    this (the refusal is also recorded as a failed check, see ``refusal_checks``).
    """


class StagingSession(DeadlineSession):
    """A ``requests.Session`` aimed at the staging target.

    Relative URLs join the base URL (``staging.get("/health")``), every request gets the
    default timeout unless one is given, idempotent requests are retried on connection errors
    and 502/503/504, and the last few exchanges are kept as evidence for a failing test.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        verify: bool | str = True,
        keep: int = 5,
        body_limit: int = 2048,
        adapter: HTTPAdapter | None = None,
    ) -> None:
        # A shared adapter (a pool across tests) brings its own retries.
        super().__init__(adapter=adapter if adapter is not None else DeadlineAdapter(
            max_retries=make_retry(retries)))
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.body_limit = body_limit
        self.exchanges: deque[Exchange] = deque(maxlen=max(keep, 0))
        self.verify = verify
        self.sensitive_url = ""
        self.destructive = False
        self.allow_destructive = False
        self._base_sensitive: SensitiveMatch | None = None
        #: Requests refused by the sensitive-URL guard, one line each (for the verdict).
        self.refused: list[str] = []
        #: Headers of the last request handed to send(): the trace id of a request that
        #: got no answer.
        self._sent_headers: Any = None
        if headers:
            self.headers.update(headers)
        if params:
            self.params.update(params)  # type: ignore[union-attr]

    def url_for(self, url: str) -> str:
        return join_url(self.base_url, url)

    def guard_sensitive(self, pattern: str, *, destructive: bool,
                        allow_destructive: bool) -> None:
        """Check every request and redirect hop against ``pattern`` before it is sent.

        A destructive test may send nothing to a matching URL; any test may send an unsafe
        method (not GET/HEAD/OPTIONS) to a matching URL only when the target itself matches.
        ``allow_destructive`` (``--staging-allow-destructive``) lifts both.
        """
        self.sensitive_url = pattern
        self.destructive = destructive
        self.allow_destructive = allow_destructive
        self._base_sensitive = sensitive_match(pattern, [self.base_url]) if pattern else None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        # requests sends every redirect hop through send(): each is checked before it leaves.
        if self.sensitive_url and not self.allow_destructive:
            self._check_sensitive(str(request.method or "GET").upper(), str(request.url or ""))
        self._sent_headers = request.headers
        return super().send(request, **kwargs)

    def _check_sensitive(self, method: str, url: str) -> None:
        match = sensitive_match(self.sensitive_url, [url])
        if match is None:
            return
        if self.destructive:
            why = "a destructive test may not reach a URL that matches sensitive_url"
        elif method not in SAFE_METHODS and self._base_sensitive is None:
            why = f"{method} to a sensitive URL from a target that is not sensitive"
        else:
            return
        line = (f"refused {method} {match.shown_url}: {why} ({match.describe()}; "
                f"--staging-allow-destructive overrides)")
        self.refused.append(line)
        raise SensitiveURLRefused(line)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        full = self.url_for(url.decode() if isinstance(url, bytes) else url)
        if kwargs.get("timeout") is None and len(args) < 9:
            kwargs["timeout"] = self.timeout
        if kwargs.get("verify") is None and len(args) < 13:
            # requests lets REQUESTS_CA_BUNDLE beat a session-level verify (psf/requests#3829):
            # pass --staging-ca-bundle / --staging-insecure with each request instead.
            kwargs["verify"] = self.verify
        started = time.perf_counter()
        self._sent_headers = None
        try:
            response = super().request(method, full, *args, **kwargs)
        except (requests.RequestException, SensitiveURLRefused) as exc:
            self._keep_error(str(method), full, exc, started)
            raise
        streamed = bool(kwargs.get("stream"))
        for hop in response.history:
            self._keep(hop, streamed=False)
        self._keep(response, streamed=streamed)
        return response

    def _keep(self, response: requests.Response, *, streamed: bool) -> None:
        if self.exchanges.maxlen == 0:
            return
        request = response.request
        # A streamed body belongs to the test: reading it here would consume it.
        body = b"" if streamed else (response.content or b"")[: self.body_limit]
        self.exchanges.append(Exchange(
            method=str(request.method),
            url=str(request.url),
            status=response.status_code,
            latency_ms=response.elapsed.total_seconds() * 1000.0,
            request_headers=request.headers,
            response_headers=response.headers,
            body=body,
            error="",
            trace_id=trace_id_of(request.headers),
        ))

    def _keep_error(self, method: str, url: str, exc: Exception, started: float) -> None:
        if self.exchanges.maxlen == 0:
            return
        self.exchanges.append(Exchange(
            method=method.upper(), url=url, status=None,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            request_headers={}, response_headers={}, body=b"",
            error=f"{type(exc).__name__}: {exc}", trace_id=trace_id_of(self._sent_headers)))

    def evidence(self, redactor: Redactor) -> list[dict[str, Any]]:
        """The kept exchanges as redacted, bounded plain dicts."""
        return [exchange_to_dict(e, redactor, self.body_limit) for e in self.exchanges]


def refusal_checks(session: StagingSession) -> list[dict[str, Any]]:
    """The guard's refusals as failed blocking checks: a test that caught the exception still
    makes the run NO-GO. A refused request tested nothing: the check could not judge."""
    return [{"name": "sensitive URL guard", "passed": False, "blocking": True, "detail": line,
             "inconclusive": True}
            for line in dict.fromkeys(session.refused)]


def exchange_to_dict(exchange: Exchange, redactor: Redactor, body_limit: int) -> dict[str, Any]:
    body = exchange.body[:body_limit].decode("utf-8", errors="replace")
    if len(exchange.body) >= body_limit > 0:
        body += " [truncated]"
    # Everything here comes from the target: control characters become visible escapes.
    return {
        "method": printable(exchange.method, one_line=True),
        "url": printable(redactor.url(exchange.url), one_line=True),
        "status": exchange.status,
        "latency_ms": round(exchange.latency_ms, 2),
        "request_headers": _bounded(redactor.headers(exchange.request_headers)),
        "response_headers": _bounded(redactor.headers(exchange.response_headers)),
        "body": printable(redactor.text(body)),
        # text(), not url(): urlsplit would take "ReadTimeout:" for a scheme and lowercase it.
        # The URL's query secrets are registered by redactor.url() above.
        "error": printable(redactor.text(exchange.error), one_line=True) if exchange.error
        else "",
        # Validated 32-hex (trace_id_of): links to the backend's trace ([evidence] trace_url).
        **({"trace_id": exchange.trace_id} if exchange.trace_id else {}),
    }


def _bounded(headers: dict[str, str]) -> dict[str, str]:
    out = {}
    for name, value in list(headers.items())[:HEADER_COUNT_LIMIT]:
        cut = len(value) > HEADER_VALUE_LIMIT
        out[printable(name[:HEADER_VALUE_LIMIT], one_line=True)] = printable(
            value[:HEADER_VALUE_LIMIT], one_line=True) + (" [truncated]" if cut else "")
    return out


def format_evidence(evidence: list[dict[str, Any]]) -> str:
    """Readable text of evidence dicts, for the failing test's report section."""
    lines = []
    for item in evidence:
        status = item["status"] if item["status"] is not None else item["error"]
        lines.append(f"{item['method']} {item['url']} -> {status} ({item['latency_ms']:.1f} ms)")
        if item.get("body"):
            snippet = item["body"].strip().replace("\n", " ")
            lines.append(f"    body: {snippet[:300]}")
    return "\n".join(lines)
