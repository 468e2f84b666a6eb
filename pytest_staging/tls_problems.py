"""One line for a failed TLS connection that says what went wrong, in the user's words.

OpenSSL's own text (``[SSL: WRONG_VERSION_NUMBER] wrong version number``) is accurate and
unhelpful: the usual causes are an https URL aimed at a plain-HTTP port, an expired
certificate, a certificate for another host name, and a CA the client does not trust. Each
gets its own words and the option or fix that helps.
"""

from __future__ import annotations

from typing import Any

#: (fragments of OpenSSL's message, lower case; what to tell the user), first match wins.
_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("wrong version number", "record layer failure", "unknown protocol",
      "http request", "packet length too long"),
     "the server did not speak TLS (an https:// URL aimed at a plain-HTTP port? "
     "use http:// or the TLS port)"),
    (("certificate has expired",),
     "the server's TLS certificate has expired (renew it; --staging-insecure only hides this)"),
    (("certificate is not yet valid",),
     "the server's TLS certificate is not valid yet (check its start date and this clock)"),
    (("hostname mismatch", "ip address mismatch", "doesn't match", "not valid for"),
     "the server's TLS certificate is for another host name (check --staging-url's host "
     "against the certificate's names)"),
    (("self-signed", "self signed", "unable to get local issuer", "unknown ca",
      "unable to verify the first certificate"),
     "the server's TLS certificate is not trusted (a private CA? use "
     "--staging-ca-bundle FILE)"),
)
GENERIC = "TLS error: handshake failed (certificate not trusted? use --staging-ca-bundle FILE)"


def chain_text(exc: BaseException) -> str:
    """The messages of ``exc`` and everything it wraps (requests -> urllib3 -> ssl), lower
    case, for finding a cause by its words."""
    seen: set[int] = set()
    parts: list[str] = []
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        parts.append(str(item))
        if isinstance(item, BaseException):
            stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None),
                          *[a for a in item.args if isinstance(a, BaseException)]])
    return " | ".join(parts).lower()


def describe_tls_error(exc: BaseException | str) -> str:
    """What went wrong in a failed TLS connection, in one line."""
    text = exc.lower() if isinstance(exc, str) else chain_text(exc)
    for fragments, words in _CAUSES:
        if any(f in text for f in fragments):
            return f"TLS error: {words}"
    return GENERIC


__all__ = ["GENERIC", "chain_text", "describe_tls_error"]
