"""Transport checks against a real HTTPS server with a trustme certificate."""

from __future__ import annotations

import datetime as dt
import ssl
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
import trustme
from security_servers import SECURE_HEADERS, Reply, secure_app, serve

from pytest_staging.gates.security.http_checks import check_headers
from pytest_staging.gates.security.transport import (
    check_certificate,
    check_https_redirect,
    check_legacy_protocols,
    check_transport,
    plain_http_url,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, not_after: dt.datetime | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert = ca.issue_cert("127.0.0.1", "localhost", not_after=not_after)
    cert.configure_cert(context)
    return context


@pytest.fixture
def https_url(ca: trustme.CA) -> Iterator[str]:
    with serve(secure_app, tls=server_context(ca)) as url:
        yield url


def rules_of(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings}


def test_self_signed_certificate_is_a_finding_without_the_ca(https_url: str) -> None:
    found = check_certificate(https_url, verify=True)
    assert rules_of(found) == {"tls-cert-invalid"}
    assert "certificate verify failed" in found[0]["evidence"] or \
        "self" in found[0]["evidence"] or "issuer" in found[0]["evidence"]
    assert found[0]["severity"] == "high" and found[0]["level"] == "fail"


def test_certificate_passes_with_the_ca_bundle(https_url: str, ca_file: str) -> None:
    with requests.Session() as session:
        session.verify = ca_file
        assert check_transport(session, https_url) == []
        # the HTTPS page carries HSTS, so the header checks stay clean too
        assert check_headers(session, https_url) == []


def test_insecure_session_still_gets_the_certificate_finding(https_url: str) -> None:
    with requests.Session() as session, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session.verify = False
        assert "tls-cert-invalid" in rules_of(check_transport(session, https_url))


def test_expiring_certificate_is_reported(ca: trustme.CA, ca_file: str) -> None:
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    with serve(secure_app, tls=server_context(ca, not_after=soon)) as url:
        found = check_certificate(url, verify=ca_file, expiry_days=14)
        assert rules_of(found) == {"tls-cert-expiring"}
        assert "expires in 2 day(s)" in found[0]["evidence"] or \
            "expires in 3 day(s)" in found[0]["evidence"]
        assert check_certificate(url, verify=ca_file, expiry_days=1) == []
        # untrusted and expiring: both findings (expiry read from the raw certificate)
        assert rules_of(check_certificate(url, verify=True)) == {
            "tls-cert-invalid", "tls-cert-expiring"}


def test_missing_hsts_on_https(ca: trustme.CA, ca_file: str) -> None:
    headers = [(k, v) for k, v in SECURE_HEADERS if k != "Strict-Transport-Security"]

    def app(_: BaseHTTPRequestHandler) -> Reply:
        return 200, [*headers, ("Strict-Transport-Security", "max-age=3600")], b"ok"

    with serve(app, tls=server_context(ca)) as url, requests.Session() as session:
        session.verify = ca_file
        assert rules_of(check_headers(session, url)) == {"hsts-short-max-age"}


def test_plain_http_must_redirect_to_https(https_url: str) -> None:
    def redirecting(_: BaseHTTPRequestHandler) -> Reply:
        return 301, [("Location", https_url)], b""

    def serving(_: BaseHTTPRequestHandler) -> Reply:
        return 200, [], b"hello over http"

    seen: list[str | None] = []

    def recording(handler: BaseHTTPRequestHandler) -> Reply:
        seen.append(handler.headers.get("Authorization"))
        return 301, [("Location", https_url)], b""

    with requests.Session() as session:
        session.headers["Authorization"] = "Bearer s3cret"
        with serve(recording) as http_url:
            assert check_https_redirect(session, https_url, http_url) == []
        assert seen == [None]  # the token never goes over plain HTTP
        with serve(redirecting) as http_url:
            assert check_https_redirect(session, https_url, http_url) == []
        with serve(serving) as http_url:
            found = check_https_redirect(session, https_url, http_url)
            assert rules_of(found) == {"https-redirect-missing"}
            assert found[0]["evidence"] == f"GET {http_url} -> 200"
    # nothing listening on plain HTTP any more (fresh session: no pooled keep-alive)
    with requests.Session() as session:
        assert check_https_redirect(session, https_url, http_url) == []


def test_plain_http_twin() -> None:
    assert plain_http_url("https://staging.example/app/") == "http://staging.example/app/"
    assert plain_http_url("https://127.0.0.1:8443/") is None


def test_legacy_tls_server_is_reported(ca: trustme.CA) -> None:
    context = server_context(ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError) as exc:
            pytest.skip(f"local OpenSSL cannot serve legacy TLS: {exc}")
    with serve(secure_app, tls=context) as url:
        found = check_legacy_protocols(url)
    if not found:
        pytest.skip("local OpenSSL cannot complete a legacy TLS handshake")
    assert rules_of(found) == {"tls-legacy-protocol"}
    assert "TLSv1" in found[0]["evidence"]


def test_modern_tls_server_is_not_legacy(https_url: str) -> None:
    assert check_legacy_protocols(https_url) == []
