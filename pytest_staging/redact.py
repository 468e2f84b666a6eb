"""Secret redaction: every byte the plugin writes or prints goes through a Redactor."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

MASK = "***"

#: Header names whose values are always secret, whatever their origin.
SECRET_HEADER = re.compile(
    r"authorization|cookie|token|secret|password|passwd|api[-_]?key|session|credential|signature",
    re.IGNORECASE,
)
#: Headers whose value is a URL: secret query parameters in them are masked like in URLs.
URL_HEADER = re.compile(r"location|content-location|referer|link|refresh", re.IGNORECASE)
#: Query parameter names whose values are redacted in URLs.
SECRET_PARAM = re.compile(
    r"token|secret|password|passwd|pwd|key|sig|signature|auth|session|code|credential",
    re.IGNORECASE,
)
# Values shorter than this are not replaced inside free text: masking "1" everywhere would
# destroy the report while protecting nothing.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Masks known secret values, secret-looking headers, URL credentials and query tokens."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a value that must never appear in any output."""
        if not secret or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def text(self, value: str) -> str:
        """Mask every registered secret inside free text."""
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(MASK, value)

    def url(self, value: str) -> str:
        """Remove URL credentials, mask secret query values, then mask known secrets."""
        try:
            parts = urlsplit(value)
        except ValueError:
            return self.text(value)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user, sep, password = userinfo.partition(":")
            # requests sends userinfo as "Authorization: Basic base64(user:password)", and
            # a debug endpoint that echoes headers puts that form into evidence bodies.
            plain = f"{unquote(user)}:{unquote(password)}"
            self.add(base64.b64encode(plain.encode()).decode())
            if sep:
                self.add(password)
                self.add(unquote(password))
                netloc = f"{user}:{MASK}@{host}"
            else:
                # A bare userinfo is usually a token (https://TOKEN@host).
                self.add(user)
                self.add(unquote(user))
                netloc = f"{MASK}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            masked = []
            changed = False
            for name, val in pairs:
                if val and SECRET_PARAM.search(name):
                    self.add(val)
                    masked.append((name, MASK))
                    changed = True
                else:
                    masked.append((name, val))
            if changed:
                query = urlencode(masked, safe="*")
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Copy of ``headers`` with secret-looking names masked and known secrets removed."""
        out: dict[str, str] = {}
        for name, value in headers.items():
            if SECRET_HEADER.search(name):
                out[name] = MASK
            elif URL_HEADER.fullmatch(name):
                # A redirect's Location can carry a token before any request URL showed it
                # (and under xdist the controller never learns what a worker's redactor saw).
                out[name] = self.url(str(value))
            else:
                out[name] = self.text(str(value))
        return out


def strip_credentials(url: str) -> str:
    """The URL without its userinfo part, for display and for the verdict's target."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redact_data(value: object, redactor: Redactor) -> object:
    """A deep copy of ``value`` as builtins only, every string passed through ``redactor.text``.

    Anything else (a Path, a datetime, an Enum a test recorded) becomes its ``str()``: under
    xdist the data crosses a process boundary that only carries builtins.
    """
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {redactor.text(str(k)): redact_data(v, redactor) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact_data(v, redactor) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redactor.text(str(value))
