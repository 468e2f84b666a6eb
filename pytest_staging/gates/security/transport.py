"""Transport checks for an HTTPS target: certificate, expiry window, protocol versions, and the
plain-HTTP redirect.

The certificate is always verified here, even when the test session itself runs with
``--staging-insecure``: the session's trust setting decides which CA bundle is used (a path is
used as the CA file; otherwise the bundle requests would use), never whether to verify.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import warnings
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from pytest_staging.deadline import DeadlineSession, read_capped, tls_handshake
from pytest_staging.gates.security.http_checks import DEFAULT_TIMEOUT, SecurityCheckError
from pytest_staging.gates.security.rules import finding
from pytest_staging.request_problems import describe, request_failed

LEGACY_VERSIONS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise SecurityCheckError(f"transport: no host in {url}")
    return parts.hostname, parts.port or 443


def _not_after_from_der(der: bytes) -> dt.datetime | None:
    """Expiry of a DER certificate (``cryptography`` is a dependency; guarded all the same)."""
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - a broken install; the check says what it can
        return None
    cert = x509.load_der_x509_certificate(der)
    return cert.not_valid_after_utc


def ca_file(verify: bool | str | None) -> str:
    """The CA bundle the transport check trusts for a session's ``verify`` setting."""
    if isinstance(verify, str):
        return verify
    return (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            or DEFAULT_CA_BUNDLE_PATH)


def check_certificate(url: str, *, verify: bool | str | None = True, expiry_days: int = 14,
                      timeout: float = DEFAULT_TIMEOUT,
                      now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Certificate trust and expiry window, and the negotiated protocol version."""
    host, port = _host_port(url)
    now = now or dt.datetime.now(dt.timezone.utc)
    out: list[dict[str, Any]] = []
    context = ssl.create_default_context(cafile=ca_file(verify))
    not_after: dt.datetime | None = None
    try:
        cert, _, version = tls_handshake(host, port, context, timeout)
        if cert.get("notAfter"):
            not_after = dt.datetime.fromtimestamp(
                ssl.cert_time_to_seconds(str(cert["notAfter"])), dt.timezone.utc)
    except ssl.SSLCertVerificationError as exc:
        out.append(finding("tls-cert-invalid", url,
                           f"{host}:{port}: {exc.verify_message or exc.reason} "
                           f"(CA bundle {ca_file(verify)})"))
        loose = ssl.create_default_context()
        loose.check_hostname = False
        loose.verify_mode = ssl.CERT_NONE
        try:
            _, der, version = tls_handshake(host, port, loose, timeout)
        except (OSError, ssl.SSLError) as again:
            raise SecurityCheckError(f"transport: TLS handshake with {host}:{port} failed: "
                                     f"{describe(again)}") from None
        not_after = _not_after_from_der(der) if der else None
    except (OSError, ssl.SSLError) as exc:
        raise SecurityCheckError(
            f"transport: TLS handshake with {host}:{port} failed: {describe(exc)}") from None
    if version in LEGACY_VERSIONS:
        out.append(finding("tls-legacy-protocol", url, f"negotiated {version} with {host}:{port}"))
    if not_after is not None:
        left = not_after - now
        if left < dt.timedelta(days=expiry_days):
            state = "expired" if left.total_seconds() < 0 else f"expires in {left.days} day(s)"
            out.append(finding("tls-cert-expiring", url,
                               f"certificate of {host}:{port} {state} "
                               f"(notAfter {not_after:%Y-%m-%d %H:%M} UTC; window "
                               f"{expiry_days} days)"))
    return out


def legacy_tls_context() -> ssl.SSLContext | None:
    """A client context offering only TLS 1.0/1.1 (no verification), or None when the local
    OpenSSL cannot offer them any more. Shared with the parity gate's transport comparison."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):  # pragma: no cover - OpenSSL without legacy TLS
            return None
    return context


def check_legacy_protocols(url: str, *, timeout: float = DEFAULT_TIMEOUT
                           ) -> list[dict[str, Any]]:
    """Whether the server still completes a TLS 1.0/1.1 handshake.

    Only testable when the local OpenSSL can still offer those versions; when it cannot, the
    check has nothing to say (the negotiated version is still checked by check_certificate).
    """
    host, port = _host_port(url)
    context = legacy_tls_context()
    if context is None:
        return []
    try:
        _, _, version = tls_handshake(host, port, context, timeout)
    except (OSError, ssl.SSLError):
        return []
    return [finding("tls-legacy-protocol", url,
                    f"{host}:{port} completed a {version} handshake")]


def plain_http_url(url: str) -> str | None:
    """The http:// twin of an https:// URL on the default port (None if a port is explicit)."""
    parts = urlsplit(url)
    if parts.port is not None:
        return None
    return urlunsplit(("http", parts.hostname or "", parts.path or "/", "", ""))


def check_https_redirect(session: requests.Session, url: str, http_url: str | None, *,
                         timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """Plain HTTP must redirect to HTTPS (or not be served at all)."""
    if not http_url:
        return []
    try:
        # A bare session: the run's extra headers (tokens) must never travel in clear text.
        with DeadlineSession() as bare:
            response = bare.get(http_url, timeout=timeout, allow_redirects=False, stream=True)
            read_capped(response, 0)
    except requests.ConnectionError:
        return []  # nothing listens on plain HTTP: nothing to downgrade to
    except requests.RequestException as exc:
        raise SecurityCheckError(f"transport: {request_failed('GET', http_url, exc)}") \
            from None
    location = response.headers.get("Location", "")
    if response.is_redirect and location.lower().startswith("https://"):
        return []
    shown = f"GET {http_url} -> {response.status_code}"
    if location:
        shown += f", Location: {location}"
    return [finding("https-redirect-missing", http_url, shown)]


def check_transport(session: requests.Session, url: str, *, expiry_days: int = 14,
                    http_url: str | None = None, timeout: float = DEFAULT_TIMEOUT
                    ) -> list[dict[str, Any]]:
    """All transport checks for an HTTPS ``url`` ([] for a plain-HTTP target)."""
    if urlsplit(url).scheme != "https":
        return []
    out = check_certificate(url, verify=session.verify, expiry_days=expiry_days,
                            timeout=timeout)
    if not any(f["rule"] == "tls-legacy-protocol" for f in out):
        out += check_legacy_protocols(url, timeout=timeout)
    out += check_https_redirect(session, url, http_url or plain_http_url(url), timeout=timeout)
    return out
