"""The staging URL and the extra headers as the user typed them: checked and normalised.

A leaf module (no import of the plugin's other modules), so the gates that take a URL or
headers of their own (parity's compare target) use the same rules without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pytest_staging.redact import SECRET_HEADER, Redactor, strip_credentials

#: A ``$VAR`` / ``${VAR}`` reference in a header value, expanded from the environment.
VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


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


#: Ports a URL may leave out: ``http://h/`` and ``http://h:80/`` are one target.
DEFAULT_PORTS = {"http": 80, "https": 443}
#: A percent-encoded unreserved character (RFC 3986 2.3): ``%7E`` and ``~`` are one path.
_UNRESERVED = re.compile(r"%(2[DdEe]|5[Ff]|7[Ee]|[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9])")


def target_identity(url: str) -> str:
    """What identifies the environment a URL points at: ``scheme://host[:port]/path/``.

    The URL goes through ``normalise_url`` (what the run does to ``--staging-url``: the
    verdict's ``target.url`` is that, credentials stripped), then through RFC 3986
    normalisation (urllib3's ``parse_url``: scheme and host case, IDNA, dot segments,
    percent-encoding case), the default port dropped and unreserved characters decoded, so one
    target written two ways compares equal. Credentials and the query are not part of it: they
    say who asks and what is sent, and the verdict never stores them (credentials are stripped,
    the query is sent apart from the base URL), so comparing identities needs no secret and
    shows none. Raises SettingsError for a URL the run would not accept."""
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    base = strip_credentials(normalise_url(url)[0])
    try:
        parts = parse_url(base)
    except (LocationParseError, ValueError):
        raise SettingsError(f"not a usable URL: {Redactor().url(url)!r}") from None
    scheme, host = (parts.scheme or "").lower(), (parts.host or "").lower().rstrip(".")
    port = parts.port if parts.port not in (None, DEFAULT_PORTS.get(scheme)) else None
    path = _UNRESERVED.sub(lambda m: unquote(m.group(0)), parts.path or "/")
    return f"{scheme}://{host}{f':{port}' if port is not None else ''}{path}"


#: A header value secret only because every header value is (its name looks harmless, it was
#: typed literally) is masked inside free text from this length: shorter values are flags and
#: words ("1", "on", "true", "prod", "beta") that would turn every such word of a report into
#: ***. Wherever it appears as that header's own value (evidence, reproductions, settings) it is
#: masked whatever its length. Values of credential-named headers ("Authorization", "X-Api-Key")
#: and ``$VAR`` expansions keep the redactor's own minimum (``redact.MIN_SECRET_LENGTH``).
MIN_PLAIN_HEADER_SECRET = 8


def expand_header(raw: str, environ: Mapping[str, str], *, public: bool = False,
                  option: str = "--staging-header") -> tuple[str, str, set[str]]:
    """``"Name: value $VAR"`` -> (name, expanded value, the secret values it carries).

    Every header value is a secret (the shell may have expanded a token before pytest saw it,
    under a name without "token" in it), and so is the credential after a scheme word
    (``Bearer xyz``) and every ``$VAR`` expansion, unless the header is ``public``
    (``--staging-public-header NAME``)."""
    name, sep, value = raw.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or re.search(r"\s", name):
        # Nothing of what was given is echoed: a missing colon puts the token in "name".
        raise SettingsError(f"{option} must look like 'Name: value' (the value given "
                            "is not shown: it may hold a secret)")
    secrets: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        var = match.group("braced") or match.group("plain")
        if var not in environ:
            raise SettingsError(f"{option} {name}: ${var} is not set in the environment")
        secrets.add(environ[var])
        return environ[var]

    expanded = VARIABLE.sub(substitute, value)
    if public:
        return name, expanded, set()
    scheme, _, token = expanded.partition(" ")
    parts = {expanded, token.strip()} if token and scheme.isalpha() else {expanded}
    minimum = 0 if SECRET_HEADER.search(name) else MIN_PLAIN_HEADER_SECRET
    secrets |= {part for part in parts if len(part) >= minimum}
    return name, expanded, secrets


def name_of(raw: str) -> str:
    """The name of a ``"Name: value"`` header as typed, lower case ("" when it has none)."""
    return raw.partition(":")[0].strip().lower()


def public_header_names(names: Iterable[str], option: str = "--staging-public-header"
                        ) -> frozenset[str]:
    """The header names marked public, lower case. A credential header (a name the redactor
    always masks: Authorization, Cookie, *token*, *key*...) cannot be public."""
    out: set[str] = set()
    for raw in names:
        name = str(raw).strip()
        if not name or re.search(r"[\s:]", name):
            raise SettingsError(f"{option} {raw!r}: expected a header name like X-Tenant")
        if SECRET_HEADER.search(name):
            raise SettingsError(f"{option} {name}: a credential header is always secret, it "
                                "cannot be public")
        out.add(name.lower())
    return frozenset(out)


__all__ = ["MIN_PLAIN_HEADER_SECRET", "VARIABLE", "SettingsError", "expand_header", "name_of",
           "normalise_url", "public_header_names", "target_identity"]
