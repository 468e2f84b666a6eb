"""Passive HTTP checks against real loopback servers."""

from __future__ import annotations

import traceback
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests
from security_servers import SECURE_HEADERS, Reply, python_http_server, secure_app, serve

from pytest_staging.gates.security import grade
from pytest_staging.gates.security import runner as scan
from pytest_staging.gates.security.http_checks import (
    SecurityCheckError,
    check_cookies,
    check_cors,
    check_exposure,
    check_headers,
    parse_csp,
    parse_set_cookie,
)
from pytest_staging.gates.security.settings import SecuritySettings


def rules_of(findings: list[dict]) -> set[str]:
    return {f["rule"] for f in findings}


@pytest.fixture
def session() -> requests.Session:
    with requests.Session() as s:
        yield s


@pytest.fixture
def served_dir(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n\trepositoryformatversion = 0\n")
    (root / ".env").write_text("DATABASE_URL=postgres://app:hunter2@db/app\n")
    (root / "static").mkdir()
    (root / "static" / "app.js").write_text("console.log('hi')\n")
    return root


def test_python_http_server_gets_the_expected_findings_and_a_low_grade(
        session: requests.Session, served_dir: Path) -> None:
    with python_http_server(served_dir) as url:
        settings = SecuritySettings()
        found = []
        for family in ("headers", "cookies", "exposure", "cors", "transport"):
            found += scan.run_family(family, session, url, settings)
    rules = rules_of(found)
    assert {"csp-missing", "xcto-missing", "clickjacking-unprotected", "referrer-policy-missing",
            "coop-missing", "corp-missing", "version-banner", "directory-listing",
            "sensitive-path-exposed"} <= rules
    assert "hsts-missing" not in rules  # plain HTTP: HSTS does not apply
    exposed = {f["path"] for f in found if f["rule"] == "sensitive-path-exposed"}
    assert exposed == {"/.git/config", "/.env"}
    assert not any("hunter2" in f["evidence"] for f in found)  # the leak is not repeated
    banner = next(f for f in found if f["rule"] == "version-banner")
    assert "SimpleHTTP/" in banner["evidence"] and banner["severity"] == "low"
    summary = scan.gate_summary(found, min_grade="B")
    assert summary["grade"] == "F" and summary["score"] == 0
    assert summary["meets_min_grade"] is False
    assert all(f["fix"] and f["evidence"] and f["url"].startswith(url) for f in found)


def test_secure_app_has_no_findings_and_top_grade(session: requests.Session) -> None:
    with serve(secure_app) as url:
        found = scan.scan(session, url, families=("headers", "cookies", "exposure", "cors"))
    assert found == []
    assert scan.gate_summary(found)["grade"] == "A+"


@pytest.mark.parametrize(("csp", "expected"), [
    ("default-src 'self' 'unsafe-inline'", {"csp-unsafe-inline"}),
    ("script-src 'self' 'unsafe-eval'; frame-ancestors 'self'", {"csp-unsafe-eval"}),
    ("script-src 'unsafe-inline' 'nonce-abc'", set()),
    ("img-src 'self'", {"csp-no-script-src"}),
])
def test_csp_content(session: requests.Session, csp: str, expected: set[str]) -> None:
    headers = [(k, v) for k, v in SECURE_HEADERS if k != "Content-Security-Policy"]

    def app(_: BaseHTTPRequestHandler) -> Reply:
        return 200, [*headers, ("Content-Security-Policy", csp)], b"ok"

    with serve(app) as url:
        assert rules_of(check_headers(session, url)) == expected


def test_frame_ancestors_counts_as_clickjacking_protection(session: requests.Session) -> None:
    headers = [(k, v) for k, v in SECURE_HEADERS if k != "X-Frame-Options"]

    def app(_: BaseHTTPRequestHandler) -> Reply:
        return 200, headers, b"ok"

    with serve(app) as url:
        assert check_headers(session, url) == []

    without = [(k, v) for k, v in headers if k != "Content-Security-Policy"]
    without.append(("Content-Security-Policy", "default-src 'self'"))

    def bare(_: BaseHTTPRequestHandler) -> Reply:
        return 200, without, b"ok"

    with serve(bare) as url:
        assert rules_of(check_headers(session, url)) == {"clickjacking-unprotected"}


def test_unsafe_referrer_policy(session: requests.Session) -> None:
    headers = [(k, v) for k, v in SECURE_HEADERS if k != "Referrer-Policy"]

    def app(_: BaseHTTPRequestHandler) -> Reply:
        return 200, [*headers, ("Referrer-Policy", "no-referrer, unsafe-url")], b"ok"

    with serve(app) as url:
        assert rules_of(check_headers(session, url)) == {"referrer-policy-unsafe"}


def test_cookie_attributes(session: requests.Session) -> None:
    def app(_: BaseHTTPRequestHandler) -> Reply:
        return 200, [*SECURE_HEADERS,
                     ("Set-Cookie", "sessionid=1; Path=/"),
                     ("Set-Cookie", "csrftoken=2; SameSite=Strict"),
                     ("Set-Cookie", "theme=dark; HttpOnly; SameSite=Lax")], b"ok"

    with serve(app) as url:
        found = check_cookies(session, url)
    pairs = {(f["rule"], f["cookie"]) for f in found}
    # plain HTTP: Secure is not asked for; csrf cookies may be script-readable by design
    assert pairs == {("cookie-no-httponly", "sessionid"), ("cookie-no-samesite", "sessionid")}


def test_parsers() -> None:
    assert parse_csp("Default-Src 'self'; script-src a b, img-src c") == {
        "default-src": ["'self'"], "script-src": ["a", "b"]}
    assert parse_set_cookie("sid=x=y; Secure; SameSite=Lax; HttpOnly") == (
        "sid", {"secure": "", "samesite": "Lax", "httponly": ""})


@pytest.mark.parametrize(("allow", "credentials", "expected"), [
    ("{origin}", "true", "cors-reflected-origin-credentials"),
    ("{origin}", None, "cors-reflected-origin"),
    ("*", "true", "cors-wildcard-credentials"),
    ("*", None, None),
    ("https://app.example", "true", None),
])
def test_cors(session: requests.Session, allow: str, credentials: str | None,
              expected: str | None) -> None:
    def app(handler: BaseHTTPRequestHandler) -> Reply:
        origin = handler.headers.get("Origin", "")
        headers = [*SECURE_HEADERS]
        if origin:
            headers.append(("Access-Control-Allow-Origin", allow.format(origin=origin)))
            if credentials:
                headers.append(("Access-Control-Allow-Credentials", credentials))
        return 200, headers, b"ok"

    with serve(app) as url:
        found = check_cors(session, url)
    assert [f["rule"] for f in found] == ([expected] if expected else [])
    if expected:
        assert "Origin: https://staging-probe-" in found[0]["evidence"]


def test_stack_trace_on_404_probe(session: requests.Session) -> None:
    def app(handler: BaseHTTPRequestHandler) -> Reply:
        if handler.path == "/":
            return 200, SECURE_HEADERS, b"home"
        try:
            {}["missing"]
        except KeyError:
            body = traceback.format_exc().encode()
        return 404, SECURE_HEADERS, body

    with serve(app) as url:
        found = check_exposure(session, url, sensitive_paths=[])
    assert rules_of(found) == {"error-stack-trace"}
    assert "Traceback (most recent call last)" in found[0]["evidence"]


def test_debugger_page_on_malformed_query(session: requests.Session) -> None:
    def app(handler: BaseHTTPRequestHandler) -> Reply:
        if "?" in handler.path:
            return 500, SECURE_HEADERS, (b"<title>KeyError // Werkzeug Debugger</title>"
                                         b"<p>The debugger caught an exception</p>")
        return (200 if handler.path == "/" else 404), SECURE_HEADERS, b"plain"

    with serve(app) as url:
        found = check_exposure(session, url, sensitive_paths=[])
    assert [f["rule"] for f in found] == ["debug-mode-page"]
    assert found[0]["severity"] == "high"


def test_catch_all_app_is_not_a_sensitive_path_false_positive(
        session: requests.Session) -> None:
    page = b"<html><body>single page app</body></html>"

    def app(_: BaseHTTPRequestHandler) -> Reply:
        return 200, [*SECURE_HEADERS, ("Content-Type", "text/html")], page

    with serve(app) as url:
        found = check_exposure(session, url)
    assert found == []


def test_custom_sensitive_paths_replace_the_defaults(session: requests.Session,
                                                     served_dir: Path) -> None:
    (served_dir / "secret.txt").write_text("top secret\n")
    with python_http_server(served_dir) as url:
        found = check_exposure(session, url, sensitive_paths=["/secret.txt", "/nothing"])
    assert {f.get("path") for f in found if f["rule"] == "sensitive-path-exposed"} == {
        "/secret.txt"}


def test_unreachable_target_raises_one_line(session: requests.Session) -> None:
    with serve(secure_app) as url:
        pass  # the server is gone once the block ends
    with pytest.raises(SecurityCheckError) as info:
        check_headers(session, url, timeout=2)
    assert str(info.value).startswith(f"headers: cannot GET {url}")
    assert "\n" not in str(info.value)


def test_response_scan_uses_the_response_given(session: requests.Session) -> None:
    with serve(secure_app) as url:
        response = session.get(url + "nope")
    found = scan.scan(session, response)
    assert found == []
    response.headers.pop("X-Content-Type-Options")
    assert rules_of(scan.scan(session, response)) == {"xcto-missing"}


def test_grade_letter_scale() -> None:
    assert [grade.letter(s) for s in (100, 95, 85, 80, 72, 66, 60, 55, 47, 41, 31, 25, 10)] == [
        "A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F"]
    assert grade.meets("B", "B") and grade.meets("A", "B") and not grade.meets("C", "B")
    assert grade.meets("F", None)
