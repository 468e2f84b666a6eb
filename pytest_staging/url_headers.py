"""The staging URL and the extra headers as the user typed them: checked and normalised.

A leaf module (no import of the plugin's other modules), so the gates that take a URL or
headers of their own (parity's compare target) use the same rules without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pytest_staging.redact import SECRET_HEADER, Redactor

_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class SettingsError(ValueError):
    """A setting that cannot be used; the message says which and why."""


def normalise_url(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Check the URL; return it with a trailing slash (so relative paths join under it) and
    without its query, whose parameters are returned apart to be sent with every request."""
    url = url.strip()
    # The URL may carry credentials: an error message shows it redacted.
    shown = Redactor().url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise SettingsError(f"staging URL has an invalid port: {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"staging URL must be an http(s) URL with a host, got {shown!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return base, tuple(parse_qsl(parts.query, keep_blank_values=True))


def expand_header(raw: str, environ: Mapping[str, str]) -> tuple[str, str, set[str]]:
    """``"Name: value $VAR"`` -> (name, expanded value, the secret values it carries)."""
    name, sep, value = raw.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or re.search(r"\s", name):
        # Nothing of what was given is echoed: a missing colon puts the token in "name".
        raise SettingsError("--staging-header must look like 'Name: value' (the value given "
                            "is not shown: it may hold a secret)")
    secrets: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        var = match.group("braced") or match.group("plain")
        if var not in environ:
            raise SettingsError(f"--staging-header {name}: ${var} is not set in the environment")
        secrets.add(environ[var])
        return environ[var]

    expanded = _VAR.sub(substitute, value)
    if SECRET_HEADER.search(name):
        secrets.add(expanded)
        scheme, _, token = expanded.partition(" ")
        if token and scheme.isalpha():
            secrets.add(token.strip())
    return name, expanded, secrets


__all__ = ["SettingsError", "expand_header", "normalise_url"]
