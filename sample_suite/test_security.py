"""Security: headers and cookie flags on logged-in pages, access control, nothing exposed.

The pages checked here are the ones an attacker wants: the logged-in account page and API.
The security gate's built-in scan (``staging_scan``) checks anonymous pages on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
import requests

from sample_suite.accounts import Account, log_in
from sample_suite.expect import describe, expect

pytestmark = pytest.mark.security

LOGGED_IN_PAGES = ["/account", "/api/me"]


def csp_directives(value: str) -> dict[str, list[str]]:
    """``"default-src 'self'; frame-ancestors 'none'"`` -> {directive: [sources]}."""
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


@pytest.fixture(params=LOGGED_IN_PAGES)
def logged_in_page(request: pytest.FixtureRequest, shopper: requests.Session
                   ) -> requests.Response:
    """Each page that only a logged-in customer sees."""
    return expect(shopper.get(request.param), 200)


def test_content_security_policy_forbids_inline_script(logged_in_page: requests.Response
                                                       ) -> None:
    value = logged_in_page.headers.get("Content-Security-Policy")
    assert value, f"Content-Security-Policy header missing on {describe(logged_in_page)}"
    csp = csp_directives(value)
    script = csp.get("script-src", csp.get("default-src"))
    assert script is not None, "CSP sets neither script-src nor default-src"
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, \
        f"CSP allows inline script: script-src {' '.join(script)}"
    assert csp.get("object-src") == ["'none'"], "CSP does not set object-src 'none'"


def test_pages_cannot_be_framed(logged_in_page: requests.Response) -> None:
    frame_options = logged_in_page.headers.get("X-Frame-Options", "").upper()
    ancestors = csp_directives(
        logged_in_page.headers.get("Content-Security-Policy", "")).get("frame-ancestors")
    assert frame_options in ("DENY", "SAMEORIGIN") or ancestors == ["'none'"], \
        "no clickjacking protection: neither X-Frame-Options nor CSP frame-ancestors 'none'"


@pytest.mark.parametrize("header, allowed", [
    ("X-Content-Type-Options", {"nosniff"}),
    ("Referrer-Policy", {"no-referrer", "same-origin", "strict-origin",
                         "strict-origin-when-cross-origin"}),
    ("Cross-Origin-Opener-Policy", {"same-origin"}),
    ("Cross-Origin-Resource-Policy", {"same-origin", "same-site"}),
    ("Cache-Control", {"no-store"}),
])
def test_logged_in_page_header(logged_in_page: requests.Response, header: str,
                               allowed: set[str]) -> None:
    value = logged_in_page.headers.get(header)
    assert value in allowed, \
        f"{header} on {describe(logged_in_page)} is {value!r}, expected one of {sorted(allowed)}"


def test_session_cookie_is_httponly_samesite_and_secure_on_https(
        staging: requests.Session, shopper_account: Account, staging_url: str) -> None:
    raw = log_in(staging, shopper_account).headers.get("Set-Cookie", "")
    cookie = SimpleCookie()
    cookie.load(raw)
    assert cookie, "login sets no session cookie"
    for name, morsel in cookie.items():
        # Name the flags, never the value: the value is a live session token.
        flags = "; ".join(f"{k}={v}" if v is not True else k for k, v in morsel.items() if v)
        assert morsel["httponly"], f"session cookie {name} is not HttpOnly (set with: {flags})"
        assert morsel["samesite"].lower() in ("lax", "strict"), \
            f"session cookie {name} has no SameSite=Lax/Strict (set with: {flags})"
        if staging_url.startswith("https:"):
            assert morsel["secure"], f"session cookie {name} is not Secure on HTTPS ({flags})"


def test_server_header_has_no_version_banner(staging: requests.Session) -> None:
    for response in (staging.get("/"), staging.get("/no/such/page")):
        server = response.headers.get("Server", "")
        assert not any(ch.isdigit() for ch in server), \
            f"Server header reveals a version: {server!r}"
        assert "X-Powered-By" not in response.headers


@pytest.mark.parametrize("path", ["/.env", "/.git/config", "/server-status", "/backup.zip",
                                  "/config.json.bak"])
def test_sensitive_file_is_not_served(staging: requests.Session, path: str) -> None:
    # stream=True keeps the body out of the evidence: a leaked secret is not copied into
    # the verdict and the CI logs.
    with staging.get(path, stream=True) as response:
        size = len(response.content)
    assert response.status_code >= 400 or not size, (
        f"{path} is exposed: GET {path} answered {response.status_code} with "
        f"{size} bytes of {response.headers.get('Content-Type')}")


def test_error_answers_leak_no_internals(staging: requests.Session) -> None:
    for response in (staging.get("/no/such/page"),
                     staging.post("/api/login", data="{not json"),
                     staging.get("/api/products/1e9")):
        text = response.text
        assert response.status_code >= 400
        assert "Traceback" not in text and 'File "' not in text, \
            f"{describe(response)} with a stack trace"


def test_wrong_password_and_unknown_user_look_the_same(staging: requests.Session,
                                                       shopper_account: Account) -> None:
    wrong = staging.post("/api/login", json={"email": shopper_account.email,
                                              "password": "not-the-password"})
    unknown = staging.post("/api/login", json={"email": "nobody@example.com",
                                                "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json(), "login errors reveal which accounts exist"
    assert "Set-Cookie" not in wrong.headers


def test_customers_cannot_change_the_catalogue(shopper: requests.Session) -> None:
    expect(shopper.post("/api/products", json={"name": "Free mug", "price_cents": 1}), 403)
    expect(shopper.delete("/api/products/1"), 403)


def test_logged_out_session_cannot_be_replayed(staging: requests.Session,
                                               shopper_account: Account) -> None:
    log_in(staging, shopper_account)
    stolen = dict(staging.cookies)
    expect(staging.post("/api/logout"), 204)
    replay = staging.get("/api/me", cookies=stolen)
    assert replay.status_code == 401, "a session cookie still works after logout"


def test_account_page_passes_the_builtin_scan(staging_scan: Callable[..., list[dict[str, Any]]],
                                              shopper: requests.Session) -> None:
    """The security gate's own checks, run on a page only a logged-in customer sees."""
    findings = staging_scan(shopper.get("/account"))
    failing = [f"{f['rule']}: {f['title']}" for f in findings if f["level"] == "fail"]
    assert not failing, f"/account (logged in): {'; '.join(failing)}"
