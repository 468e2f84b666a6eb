"""Loaded *by locust* (``-f locustfile,...,this``), never imported by pytest-staging itself.

The load must send what the ``staging`` client sends: the staging URL's query parameters (an
access token, say), ``--staging-header`` headers, the URL's user:password (Basic auth) and the
TLS trust (``--staging-ca-bundle``, ``--staging-insecure``). They arrive as JSON in
``$PYTEST_STAGING_LOAD_REQUEST`` (never on the command line or in a file on disk) and are
applied to every request of Locust's two HTTP clients, ``HttpSession`` (``HttpUser``) and
``FastHttpSession`` (``FastHttpUser``), whether the user class is our generated one or the
user's own, but only to requests whose URL is on the staging origin: a locustfile that also
calls another host never gets the staging token.

Per request: parameters are appended to the URL (the stats name stays the URL as written, so
the token never shows in Locust's stats or output), headers are added under the request's own,
Basic auth is added unless the request has its own. TLS: ``HttpSession`` gets ``verify`` per
request like the staging client; ``FastHttpSession`` (insecure by default in Locust) gets
``insecure`` and, for a CA bundle, an SSL context factory loading that file.

Trace context (``[performance] traceparent``): every request to the staging origin is a new
span of the load test's trace (``pytest_staging.trace_context``, the one rule every client
applies): ``HttpSession`` on every hop it sends (a hop elsewhere loses ours),
``FastHttpSession`` on the request, and a redirect away from the staging origin drops it.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from pytest_staging.trace_context import TRACEPARENT, TRACESTATE, Trace

REQUEST_ENV = "PYTEST_STAGING_LOAD_REQUEST"

_OPTIONS: dict[str, Any] = json.loads(os.environ.get(REQUEST_ENV) or "{}")
_HEADERS: dict[str, str] = dict(_OPTIONS.get("headers") or {})
_PARAMS: list[tuple[str, str]] = [(str(k), str(v)) for k, v in _OPTIONS.get("params") or []]
_AUTH: tuple[str, str] | None = (
    (str(_OPTIONS["username"]), str(_OPTIONS.get("password") or ""))
    if _OPTIONS.get("username") is not None else None
)
_VERIFY: bool | str = _OPTIONS.get("verify", True)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


_STAGING = _origin(str(_OPTIONS["origin"])) if _OPTIONS.get("origin") else None


def _trace() -> Trace | None:
    given = _OPTIONS.get("trace")
    if not isinstance(given, dict) or not _OPTIONS.get("origin"):
        return None
    try:
        return Trace(str(given.get("trace_id")), str(_OPTIONS["origin"]),
                     str(given.get("state") or "1"))
    except ValueError:
        return None


_TRACE = _trace()


def _ours(url: str) -> bool:
    try:
        return _STAGING is not None and _origin(url) == _STAGING
    except ValueError:
        return False


def _with_params(url: str) -> str:
    """``url`` with the staging parameters appended (those the URL does not set itself)."""
    if not _PARAMS:
        return url
    parts = urlsplit(url)
    own = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    extra = urlencode([(k, v) for k, v in _PARAMS if k not in own])
    if not extra:
        return url
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _staging_kwargs(kwargs: dict[str, Any]) -> None:
    headers = dict(_HEADERS)
    headers.update(kwargs.get("headers") or {})
    kwargs["headers"] = headers
    if _AUTH is not None and kwargs.get("auth") is None and not any(
        key.lower() == "authorization" for key in headers
    ):
        kwargs["auth"] = _AUTH


def _request_name(session: Any) -> str | None:
    """The session's ``rename_request`` name (``FastHttpSession`` has none before locust 2.40)."""
    return getattr(session, "request_name", None)


def _wrap_request(original: Any, default_name: Any) -> Any:
    @functools.wraps(original)
    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if _ours(self._build_url(url)):
            _staging_kwargs(kwargs)
            if args:  # name given positionally
                args = (args[0] or _request_name(self) or default_name(self, url), *args[1:])
            else:
                kwargs["name"] = (kwargs.get("name") or _request_name(self)
                                  or default_name(self, url))
            url = _with_params(url)
        return original(self, method, url, *args, **kwargs)

    return request


def _path_url(session: Any, url: str) -> str:
    """What ``HttpSession`` would name the request (path and query of the URL as written)."""
    parts = urlsplit(session._build_url(url))
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _http_request(original: Any) -> Any:
    wrapped = _wrap_request(original, _path_url)

    @functools.wraps(original)
    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if _ours(self._build_url(url)):
            kwargs.setdefault("verify", _VERIFY)
        return wrapped(self, method, url, *args, **kwargs)

    return request


def _ca_file() -> str | None:
    """The CA bundle to trust, as requests (the ``staging`` client) would pick it."""
    if isinstance(_VERIFY, str):
        return _VERIFY
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def _verifying_context(cafile: str | None = None, **_kwargs: Any) -> Any:
    """SSL context factory for geventhttpclient, which passes its own default ``cafile``:
    the staging trust wins over it."""
    import gevent.ssl

    return gevent.ssl.create_default_context(cafile=_ca_file() or cafile)


def _known_signature(init: Any) -> inspect.Signature | None:
    """``init``'s signature when it takes the arguments ``_fast_init`` sets, else None."""
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return None
    wanted = {"self", "base_url", "insecure", "ssl_context_factory"}
    return signature if wanted <= set(signature.parameters) else None


def _fast_init(original: Any) -> Any:
    """``FastHttpSession.__init__`` with the staging TLS trust, whatever its signature.

    Locust's own arguments moved between releases (2.39 takes ``environment, base_url, ...``,
    2.40+ ``base_url, request_event, ...``, with ``base_url`` positional or by keyword), so the
    call is bound to the real signature. When the shape is not one we know (no ``base_url``,
    ``insecure`` or ``ssl_context_factory`` parameter, or arguments that do not bind), locust's
    own ``__init__`` runs untouched and raises its own error if the call is wrong. (The staging
    client still verifies the target's certificate, and tests/test_request_parity.py fails when
    the load stops doing so on the locust CI installs.)"""
    signature = _known_signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs) if signature is not None else None
        except TypeError:
            bound = None
        if bound is None:
            original(self, *args, **kwargs)
            return
        given = bound.arguments
        base_url = given.get("base_url")
        if (isinstance(base_url, str) and base_url and _ours(base_url)
                and given.get("ssl_context_factory") is None):
            given["insecure"] = _VERIFY is False
            if _VERIFY is not False:
                given["ssl_context_factory"] = _verifying_context
        original(*bound.args, **bound.kwargs)

    return __init__


def _traced_send(original: Any) -> Any:
    @functools.wraps(original)
    def send(self: Any, request: Any, **kwargs: Any) -> Any:
        # requests sends every redirect hop through send(): the hop's origin decides.
        _TRACE.stamp(request.headers, str(request.url or ""))  # type: ignore[union-attr]
        return original(self, request, **kwargs)

    return send


def _traced_fast_request(original: Any) -> Any:
    @functools.wraps(original)
    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        built = self._build_url(url)
        headers = dict(kwargs.get("headers") or {})
        _TRACE.stamp(headers, built)  # type: ignore[union-attr]
        kwargs["headers"] = headers
        return original(self, method, url, *args, **kwargs)

    return request


def _traced_redirect(original: Any) -> Any:
    @functools.wraps(original)
    def redirect(self: Any, code: int, location: str) -> None:
        original(self, code, location)
        # geventhttpclient follows redirects inside one request, headers and all.
        if not _TRACE.covers(str(self.url)):  # type: ignore[union-attr]
            value = self.headers.get(TRACEPARENT)
            if _TRACE.is_ours(value):  # type: ignore[union-attr]
                self.headers.discard(TRACEPARENT)
                self.headers.discard(TRACESTATE)

    return redirect


if _STAGING is not None:
    if _TRACE is not None:
        from geventhttpclient.useragent import CompatRequest

        HttpSession.send = _traced_send(HttpSession.send)  # type: ignore[method-assign]
        FastHttpSession.request = _traced_fast_request(  # type: ignore[method-assign]
            FastHttpSession.request)
        CompatRequest.redirect = _traced_redirect(  # type: ignore[method-assign]
            CompatRequest.redirect)
    HttpSession.request = _http_request(HttpSession.request)  # type: ignore[method-assign]
    FastHttpSession.request = _wrap_request(  # type: ignore[method-assign]
        FastHttpSession.request, lambda _session, url: url)
    FastHttpSession.__init__ = _fast_init(FastHttpSession.__init__)  # type: ignore[method-assign]
