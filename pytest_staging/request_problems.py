"""A request that got no answer, in words: the one wording of every client that talks to a
server (the readiness wait and version check on staging, the parity comparison with
production, the contract gate's schema fetch, the security probes).

urllib3's own text (``HTTPConnectionPool(host=..., port=...): Max retries exceeded with url:
... (Caused by NewConnectionError(...: Failed to establish a new connection: [Errno 111]
Connection refused'))``) buries the cause at its end, where a reason cut to one line loses it.
:func:`describe` names the cause first ("connection refused", "timed out", "host name does not
resolve", a TLS problem in the user's words); :func:`request_failed` puts it after the method
and the (redacted) URL.
"""

from __future__ import annotations

import re
import ssl

import requests

from pytest_staging.deadline import TotalTimeout, seconds
from pytest_staging.printable import error_line
from pytest_staging.tls_problems import chain_text, describe_tls_error

#: The operating system's words in a wrapped OSError: ``[Errno 113] No route to host``.
_ERRNO = re.compile(r"\[errno -?\d+\] ([^'\"()|\]]+)")


def describe(exc: BaseException) -> str:
    """What went wrong with a request (or a TLS handshake), in a few words."""
    if isinstance(exc, TotalTimeout):
        within = f" within {seconds(exc.total)}s" if exc.total is not None else ""
        return f"timed out (no complete answer{within})"
    if isinstance(exc, (requests.exceptions.SSLError, ssl.SSLError)):
        return describe_tls_error(exc)
    if isinstance(exc, requests.exceptions.ProxyError):
        # Checked before the text: "connection refused" here is the proxy's, not the target's.
        return "the proxy failed (check HTTPS_PROXY / HTTP_PROXY / NO_PROXY)"
    text = chain_text(exc)
    if any(f in text for f in ("name or service not known", "nodename nor servname",
                               "temporary failure in name resolution", "getaddrinfo failed",
                               "no address associated")):
        return "host name does not resolve"
    if "connection refused" in text:
        return "connection refused"
    # socket.timeout (a TLS handshake's own deadline) is a TimeoutError.
    if isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
        return "no answer (timed out)"
    if any(f in text for f in ("connection reset", "remotedisconnected", "remote end closed",
                               "connection aborted")):
        return "the server closed the connection without an answer"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    # requests' exceptions are OSErrors too: only a connection error is "connection failed".
    if isinstance(exc, requests.exceptions.ConnectionError) or (
            isinstance(exc, OSError) and not isinstance(exc, requests.RequestException)):
        errno = _ERRNO.search(text)
        return f"connection failed ({errno.group(1).strip()})" if errno else "connection failed"
    return error_line(exc, 200)


def request_failed(method: str, shown_url: str, exc: BaseException) -> str:
    """``cannot GET https://prod.example/health: connection refused`` (``shown_url`` is the URL
    as it may be printed: redacted by the caller)."""
    return f"cannot {method.upper()} {shown_url}: {describe(exc)}"


__all__ = ["describe", "request_failed"]
