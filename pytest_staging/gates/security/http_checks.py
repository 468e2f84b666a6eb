"""Passive HTTP checks: headers, cookies, exposure and CORS.

Each family is one function taking a ``requests.Session`` and a URL and returning finding dicts
(see :func:`pytest_staging.gates.security.rules.finding`). The header and cookie checks also
work on a ``requests.Response`` the caller already has (:func:`response_findings`). The checks
only send GET and OPTIONS requests. A target that cannot be reached raises
:class:`SecurityCheckError` with one line saying so: a check that could not look never passes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from pytest_staging.deadline import read_capped
from pytest_staging.gates.security.rules import finding
from pytest_staging.redact import strip_credentials
from pytest_staging.request_problems import request_failed

#: Bytes of a response body the checks read (the rest is never downloaded).
BODY_LIMIT = 65536
DEFAULT_TIMEOUT = 10.0
HSTS_MIN_AGE = 15552000  # six months, as the Observatory asks

#: Sensitive paths probed by default, with a signature the body must match when one is known
#: (so a catch-all page answering 200 everywhere is not a finding).
DEFAULT_SENSITIVE_PATHS: dict[str, str | None] = {
    "/.git/config": r"\[core\]",
    "/.git/HEAD": r"^ref: refs/",
    "/.env": r"(?m)^\s*[A-Za-z_][A-Za-z0-9_]*\s*=",
    "/.svn/entries": None,
    "/.hg/hgrc": r"\[\w+\]",
    "/.DS_Store": r"Bud1",
    "/.htpasswd": r"(?m)^[^:\s]+:\S+",
    "/.aws/credentials": r"aws_access_key_id",
    "/.npmrc": r"_auth|registry",
    "/id_rsa": r"PRIVATE KEY",
    "/server-status": r"Server Status|Server uptime",
    "/server-info": r"Server Information",
    "/phpinfo.php": r"phpinfo\(\)|PHP Version",
    "/actuator/env": r"propertySources|activeProfiles",
    "/backup.zip": None,
    "/backup.tar.gz": None,
    "/backup.sql": None,
    "/dump.sql": None,
    "/db.sqlite3": None,
    "/config.php.bak": None,
    "/wp-config.php.bak": None,
}
#: Directories where an automatic index is most often left on.
LISTING_DIRS: tuple[str, ...] = ("", "static/", "assets/", "uploads/", "files/", "media/")
LISTING = re.compile(
    r"<title>\s*(Index of /|Directory listing for /)|<h1>\s*(Index of /|Directory listing for /)"
    r"|\[To Parent Directory\]", re.I)
STACK_TRACES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("python", re.compile(r"Traceback \(most recent call last\)")),
    ("java", re.compile(r"\bat [\w$.]+\([\w$]+\.java:\d+\)")),
    ("node", re.compile(r"\bat .{1,200}\(.{1,300}\.[cm]?js:\d+:\d+\)")),
    (".net", re.compile(r"System\.\w+Exception|Server Error in '/' Application")),
    ("php", re.compile(r"(Fatal error|Warning|Parse error)</b>:.{1,300} on line <b>\d+")),
    ("ruby", re.compile(r"\.rb:\d+:in `")),
    ("go", re.compile(r"goroutine \d+ \[running\]")),
)
DEBUG_PAGES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("werkzeug debugger", re.compile(r"Werkzeug Debugger|debugger caught an exception", re.I)),
    ("django debug", re.compile(r"you have <code>DEBUG = True</code>")),
    ("rails debug", re.compile(r"Action Controller: Exception caught")),
    ("laravel/whoops", re.compile(r"Whoops! There was an error|Ignition")),
)
VERSION = re.compile(r"\d+\.\d+|/\s*v?\d")
SESSION_COOKIE = re.compile(r"sess|sid|auth|token|jwt|login|remember|user|account", re.I)
UNSAFE_REFERRER = ("unsafe-url", "no-referrer-when-downgrade")


class SecurityCheckError(RuntimeError):
    """A check could not do its job (target unreachable, TLS broken): one line for a human."""


def _fetch(session: requests.Session, method: str, url: str, *, timeout: float,
           family: str, **kwargs: Any) -> tuple[requests.Response, str]:
    """One request, body read up to BODY_LIMIT bytes; connection trouble -> SecurityCheckError."""
    # verify passed per request: requests lets REQUESTS_CA_BUNDLE beat a Session's own verify
    kwargs.setdefault("verify", session.verify)
    try:
        response = session.request(method, url, timeout=timeout, stream=True, **kwargs)
        # At most BODY_LIMIT bytes, within the request's total deadline (a drip is cut).
        body = read_capped(response, BODY_LIMIT)
    except requests.RequestException as exc:
        raise SecurityCheckError(
            f"{family}: {request_failed(method, strip_credentials(url), exc)}") from None
    return response, body.decode(response.encoding or "utf-8", errors="replace")


def _snippet(body: str, match: re.Match[str], width: int = 60) -> str:
    start, end = max(0, match.start() - width), min(len(body), match.end() + width)
    return " ".join(body[start:end].split())


# ---------------------------------------------------------------- headers


def parse_csp(value: str) -> dict[str, list[str]]:
    """Directives of the first policy in a Content-Security-Policy value, names lowercased."""
    directives: dict[str, list[str]] = {}
    first = value.split(",")[0]
    for part in first.split(";"):
        tokens = part.split()
        if tokens and tokens[0].lower() not in directives:
            directives[tokens[0].lower()] = tokens[1:]
    return directives


def header_findings(response: requests.Response) -> list[dict[str, Any]]:
    """Security-header findings for one response (HSTS only when it came over HTTPS)."""
    url = response.url
    headers = response.headers
    out: list[dict[str, Any]] = []
    csp_value = headers.get("Content-Security-Policy")
    csp = parse_csp(csp_value) if csp_value else {}
    if not csp_value:
        out.append(finding("csp-missing", url, "no Content-Security-Policy header"))
    else:
        scripts = csp.get("script-src", csp.get("default-src"))
        shown = f"Content-Security-Policy: {csp_value[:300]}"
        if scripts is None:
            out.append(finding("csp-no-script-src", url, shown))
        else:
            lowered = [s.lower() for s in scripts]
            hashed = any(s.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-"))
                         or s == "'strict-dynamic'" for s in lowered)
            if "'unsafe-inline'" in lowered and not hashed:
                out.append(finding("csp-unsafe-inline", url, shown))
            if "'unsafe-eval'" in lowered:
                out.append(finding("csp-unsafe-eval", url, shown))
    if urlsplit(url).scheme == "https":
        hsts = headers.get("Strict-Transport-Security")
        if not hsts:
            out.append(finding("hsts-missing", url, "no Strict-Transport-Security header"))
        else:
            match = re.search(r"max-age\s*=\s*\"?(\d+)", hsts, re.I)
            if not match or int(match.group(1)) < HSTS_MIN_AGE:
                out.append(finding("hsts-short-max-age", url,
                                   f"Strict-Transport-Security: {hsts}"))
    xcto = headers.get("X-Content-Type-Options", "")
    if xcto.strip().lower() != "nosniff":
        out.append(finding("xcto-missing", url,
                           f"X-Content-Type-Options: {xcto}" if xcto
                           else "no X-Content-Type-Options header"))
    xfo = headers.get("X-Frame-Options", "").strip().upper()
    ancestors = csp.get("frame-ancestors")
    if xfo not in ("DENY", "SAMEORIGIN") and not (ancestors and "*" not in ancestors):
        out.append(finding("clickjacking-unprotected", url,
                           f"X-Frame-Options: {xfo or '(none)'}; CSP frame-ancestors: "
                           f"{' '.join(ancestors) if ancestors else '(none)'}"))
    referrer = headers.get("Referrer-Policy")
    if not referrer:
        out.append(finding("referrer-policy-missing", url, "no Referrer-Policy header"))
    else:
        effective = [t.strip().lower() for t in referrer.split(",") if t.strip()]
        if effective and effective[-1] in UNSAFE_REFERRER:
            out.append(finding("referrer-policy-unsafe", url, f"Referrer-Policy: {referrer}"))
    if not headers.get("Cross-Origin-Opener-Policy"):
        out.append(finding("coop-missing", url, "no Cross-Origin-Opener-Policy header"))
    if not headers.get("Cross-Origin-Resource-Policy"):
        out.append(finding("corp-missing", url, "no Cross-Origin-Resource-Policy header"))
    return out


# ---------------------------------------------------------------- cookies


def set_cookie_headers(response: requests.Response) -> list[str]:
    """Every Set-Cookie header of a response, unmerged."""
    raw = getattr(response, "raw", None)
    raw_headers = getattr(raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "getlist"):
        return [str(v) for v in raw_headers.getlist("Set-Cookie")]
    value = response.headers.get("Set-Cookie")
    return [value] if value else []


def parse_set_cookie(value: str) -> tuple[str, dict[str, str]]:
    """(cookie name, {lowercased attribute: value}) of one Set-Cookie header."""
    parts = [p.strip() for p in value.split(";")]
    name = parts[0].split("=", 1)[0].strip() if parts else ""
    attrs: dict[str, str] = {}
    for part in parts[1:]:
        if part:
            key, _, val = part.partition("=")
            attrs[key.strip().lower()] = val.strip()
    return name, attrs


def cookie_findings(response: requests.Response) -> list[dict[str, Any]]:
    """Cookie-attribute findings for a response and the redirects that led to it."""
    out: list[dict[str, Any]] = []
    for hop in [*response.history, response]:
        https = urlsplit(hop.url).scheme == "https"
        for header in set_cookie_headers(hop):
            name, attrs = parse_set_cookie(header)
            shown = f"Set-Cookie: {name}=...; {'; '.join(k for k in attrs)}"
            if https and "secure" not in attrs:
                out.append(finding("cookie-no-secure", hop.url, shown, cookie=name))
            if SESSION_COOKIE.search(name) and not re.search(r"csrf|xsrf", name, re.I) \
                    and "httponly" not in attrs:
                out.append(finding("cookie-no-httponly", hop.url, shown, cookie=name))
            if "samesite" not in attrs:
                out.append(finding("cookie-no-samesite", hop.url, shown, cookie=name))
    return out


def response_findings(response: requests.Response) -> list[dict[str, Any]]:
    """Header and cookie findings for a response the caller already has."""
    return header_findings(response) + cookie_findings(response)


def _page(session: requests.Session, url: str, timeout: float, family: str
          ) -> requests.Response:
    response, _ = _fetch(session, "GET", url, timeout=timeout, family=family,
                         allow_redirects=True)
    return response


def check_headers(session: requests.Session, url: str, *, timeout: float = DEFAULT_TIMEOUT
                  ) -> list[dict[str, Any]]:
    """Security headers of the page at ``url`` (redirects followed)."""
    return header_findings(_page(session, url, timeout, "headers"))


def check_cookies(session: requests.Session, url: str, *, timeout: float = DEFAULT_TIMEOUT
                  ) -> list[dict[str, Any]]:
    """Attributes of the cookies set by the page at ``url`` and its redirects."""
    return cookie_findings(_page(session, url, timeout, "cookies"))


# ---------------------------------------------------------------- exposure


def banner_findings(response: requests.Response) -> list[dict[str, Any]]:
    """Version banners in Server / X-Powered-By."""
    out = []
    for name in ("Server", "X-Powered-By"):
        value = response.headers.get(name)
        if value and VERSION.search(value):
            out.append(finding("version-banner", response.url, f"{name}: {value}"))
    return out


def error_page_findings(url: str, body: str) -> list[dict[str, Any]]:
    """Debugger pages and stack traces in an (error) response body."""
    for kind, pattern in DEBUG_PAGES:
        match = pattern.search(body)
        if match:
            return [finding("debug-mode-page", url, f"{kind}: {_snippet(body, match)}")]
    for kind, pattern in STACK_TRACES:
        match = pattern.search(body)
        if match:
            return [finding("error-stack-trace", url, f"{kind} stack trace: "
                            f"{_snippet(body, match)}")]
    return []


def _probe_name() -> str:
    return f"staging-probe-{secrets.token_hex(6)}"


def _join(base: str, path: str) -> str:
    return urljoin(base if base.endswith("/") else base + "/", path.lstrip("/"))


def check_exposure(session: requests.Session, url: str, *,
                   sensitive_paths: Mapping[str, str | None] | Sequence[str] | None = None,
                   timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """Version banners, sensitive paths, directory listings and error-page leaks under ``url``.

    ``sensitive_paths`` replaces :data:`DEFAULT_SENSITIVE_PATHS`; a plain list has no body
    signatures, so its paths count when they answer 200 with a body unlike the not-found page.
    """
    family = "exposure"
    out: list[dict[str, Any]] = []
    home, home_body = _fetch(session, "GET", url, timeout=timeout, family=family)
    out += banner_findings(home)

    # Error probes: a missing path and a malformed query.
    missing_url = _join(url, _probe_name())
    missing, missing_body = _fetch(session, "GET", missing_url, timeout=timeout, family=family,
                                   allow_redirects=False)
    out += error_page_findings(missing_url, missing_body)
    odd_url = _join(url, f"?{_probe_name()}=%27%22%3C%00&id[]=-1")
    _, odd_body = _fetch(session, "GET", odd_url, timeout=timeout, family=family,
                         allow_redirects=False)
    if not any(f["url"] == missing_url for f in out):
        out += error_page_findings(odd_url, odd_body)
    soft_404 = missing_body if missing.status_code == 200 else None

    paths: Mapping[str, str | None]
    if sensitive_paths is None:
        paths = DEFAULT_SENSITIVE_PATHS
    elif isinstance(sensitive_paths, Mapping):
        paths = sensitive_paths
    else:
        paths = dict.fromkeys(sensitive_paths)
    for path, signature in paths.items():
        probe_url = _join(url, path)
        response, body = _fetch(session, "GET", probe_url, timeout=timeout, family=family,
                                allow_redirects=False)
        if response.status_code != 200 or not body.strip():
            continue
        if signature is not None:
            if not re.search(signature, body):
                continue
            # No body snippet: the content may be the very secret that leaked.
            evidence = (f"200, {len(body)} bytes whose content looks like {path} "
                        f"(matches {signature!r})")
        else:
            html = "html" in response.headers.get("Content-Type", "")
            if body == soft_404 or (html and soft_404 is not None):
                continue
            evidence = f"200, {len(body)} bytes of {response.headers.get('Content-Type', '?')}"
        out.append(finding("sensitive-path-exposed", probe_url, evidence, path=path))

    seen: set[str] = set()
    for directory in LISTING_DIRS:
        dir_url = _join(url, directory)
        if dir_url in seen:
            continue
        seen.add(dir_url)
        if directory:
            response, body = _fetch(session, "GET", dir_url, timeout=timeout, family=family,
                                    allow_redirects=False)
        else:
            response, body = home, home_body
        match = LISTING.search(body) if response.status_code == 200 else None
        if match:
            out.append(finding("directory-listing", response.url or dir_url,
                               _snippet(body, match)))
    return out


# ---------------------------------------------------------------- CORS


def check_cors(session: requests.Session, url: str, *, timeout: float = DEFAULT_TIMEOUT
               ) -> list[dict[str, Any]]:
    """Whether ``url`` trusts an arbitrary Origin (GET and a preflight OPTIONS)."""
    origin = f"https://{_probe_name()}.example"
    out: list[dict[str, Any]] = []
    requests_sent: Iterable[tuple[str, dict[str, str]]] = (
        ("GET", {"Origin": origin}),
        ("OPTIONS", {"Origin": origin, "Access-Control-Request-Method": "GET"}),
    )
    found: set[str] = set()
    for method, headers in requests_sent:
        response, _ = _fetch(session, method, url, timeout=timeout, family="cors",
                             headers=headers, allow_redirects=False)
        allow = response.headers.get("Access-Control-Allow-Origin", "").strip()
        credentials = response.headers.get(
            "Access-Control-Allow-Credentials", "").strip().lower() == "true"
        shown = (f"{method} with Origin: {origin} -> Access-Control-Allow-Origin: {allow}; "
                 f"Access-Control-Allow-Credentials: {str(credentials).lower()}")
        rule = None
        if allow == origin:
            rule = "cors-reflected-origin-credentials" if credentials else "cors-reflected-origin"
        elif allow == "*" and credentials:
            rule = "cors-wildcard-credentials"
        if rule and rule not in found:
            found.add(rule)
            out.append(finding(rule, url, shown))
    return out
