"""A remote Playwright browser server's endpoint (``--staging-browser-ws``), as given.

Checked (a ``ws://`` or ``wss://`` URL with a host), shown without its secrets, and its secrets
named for the redactor. Browser farms put credentials in the endpoint: ``user:password@``,
``?token=`` (Browserless), a ``?caps=`` JSON holding an access key (BrowserStack). Which query
parameter is a secret depends on the farm, so the userinfo and the query values count as
secrets, in every form (the Basic header ``ws://user:pass@`` becomes too), except short values
of plain names (``?headless=true``). A leaf module (no Playwright, no pytest): the settings,
the policy check and ``--staging-show-settings`` use it.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pytest_staging.redact import MASK, SECRET_PARAM
from pytest_staging.url_headers import SettingsError

SCHEMES = ("ws", "wss")
#: Query values this long are secrets whatever their name (a farm's own parameter names).
MIN_QUERY_SECRET = 8


def check_ws_endpoint(value: str, source: str = "--staging-browser-ws") -> str:
    """``value`` stripped, when it is a ws(s) URL with a host; else SettingsError naming
    ``source`` and showing the endpoint without its secrets (``source=""``: the problem only,
    for the policy check, which names the key and shows the value itself)."""
    url = str(value).strip()
    if not url:
        raise SettingsError(f"{source} is empty: give ws://HOST:PORT/PATH, or leave it unset"
                            if source else "empty: give ws://HOST:PORT/PATH, or leave the key "
                            "out")
    prefix = f"{source} {shown(url)}: " if source else ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise SettingsError(f"{prefix}invalid port") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise SettingsError(f"{prefix}expected a Playwright browser server endpoint "
                            "ws://HOST:PORT/PATH (or wss://)")
    return url


def shown(url: str) -> str:
    """The endpoint as every message shows it: userinfo and query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{MASK}@{host}" if "@" in parts.netloc else host
    names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    query = urlencode([(name, MASK) for name in names], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def secrets(url: str) -> set[str]:
    """What must never appear in an output: the userinfo, the Basic header it turns into,
    and the query values (raw and decoded) of a secret-looking name or of MIN_QUERY_SECRET
    characters or more."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {url}
    found: set[str] = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, sep, password = userinfo.partition(":")
        # As for the staging URL (redact.Redactor.url): the password, or a bare userinfo
        # (usually a token); a user name beside a password is not a secret.
        found |= {password, unquote(password)} if sep else {user, unquote(user)}
        plain = f"{unquote(user)}:{unquote(password)}" if sep else unquote(user)
        found.add(base64.b64encode(plain.encode()).decode())
    for raw in parts.query.split("&"):
        name, _, value = raw.partition("=")
        for form in {value, unquote(value.replace("+", " "))}:
            # A short value of a plain name (?headless=true) is a setting, not a credential:
            # masking "true" in every line of every report would protect nothing.
            if SECRET_PARAM.search(unquote(name)) or len(form) >= MIN_QUERY_SECRET:
                found.add(form)
    found.discard("")
    return found


__all__ = ["SCHEMES", "check_ws_endpoint", "secrets", "shown"]
