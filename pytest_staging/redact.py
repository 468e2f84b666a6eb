"""Secret redaction: every byte the plugin writes or prints goes through a Redactor."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

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
#: Shortest stable middle of a secret's base64 inside a larger blob worth masking: shorter
#: runs of base64 letters would mask ordinary words.
MIN_EMBEDDED_BASE64 = 6
_PERCENT = re.compile(r"%[0-9A-F]{2}")
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")
#: ``name=value`` in a query string or form body, for the names SECRET_PARAM knows.
QUERY_PAIR = re.compile(r"(?P<name>[?&;]?[A-Za-z0-9_.\-\[\]]*=)(?P<value>[^&\s\"'#<>;]+)")


def _base64_forms(raw: bytes) -> set[str]:
    """The base64 of ``raw`` on its own, and the parts of it that stay the same wherever it
    sits inside a larger base64 blob (one per byte alignment), standard and URL-safe."""
    forms: set[str] = set()
    whole = base64.b64encode(raw).decode()
    forms.update({whole, whole.rstrip("=")})
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0").decode()
        first_bit, end_bit = 8 * offset, 8 * (offset + len(raw))
        # Character i holds bits [6i, 6i + 6): stable when they all come from the secret.
        stable = [i for i in range(len(encoded)) if 6 * i >= first_bit and 6 * i + 6 <= end_bit]
        if stable:
            middle = encoded[stable[0]:stable[-1] + 1]
            if len(middle) >= MIN_EMBEDDED_BASE64:
                forms.add(middle)
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return forms


def encoded_forms(secret: str) -> set[str]:
    """Every form in which ``secret`` may reappear in an output: as is, percent-encoded
    (quote, quote_plus, either hex case, twice), JSON-escaped (ASCII or not, ``\\/``),
    HTML-escaped and base64 (whole or inside a larger blob)."""
    forms = {secret, html.escape(secret), html.escape(secret, quote=False)}
    percent = {quote(secret), quote(secret, safe=""), quote_plus(secret),
               quote_plus(secret, safe="/")}
    percent |= {quote(p, safe="") for p in list(percent)}
    percent |= {_PERCENT.sub(lambda m: m.group(0).lower(), p) for p in percent}
    forms |= percent
    for ensure_ascii in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/"),
                  _UNICODE_ESCAPE.sub(lambda m: "\\u" + m.group(0)[2:].upper(), escaped)}
    forms |= _base64_forms(secret.encode("utf-8"))
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


class Redactor:
    """Masks known secret values, secret-looking headers, URL credentials and query tokens."""

    def __init__(self, secrets: Iterable[str] = (), *,
                 secret_headers: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        #: Names (lower case) of headers whose value is masked whatever it is: the run's own
        #: --staging-header / --staging-compare-header headers not marked public.
        self.secret_headers = frozenset(name.lower() for name in secret_headers)
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a value that must never appear in any output, in any of its encoded
        forms (see :func:`encoded_forms`)."""
        if not secret or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        self._forms |= encoded_forms(secret)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(self._forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def text(self, value: str) -> str:
        """Mask every registered secret inside free text."""
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(MASK, value)

    def log_text(self, value: str) -> str:
        """Free text that may hold URLs or form bodies of requests nobody registered (a log
        line of urllib3): known secrets and the values of secret-looking query parameters."""
        return self.text(QUERY_PAIR.sub(self._query_pair, value)) if "=" in value else \
            self.text(value)

    def _query_pair(self, match: re.Match[str]) -> str:
        name = match.group("name")
        if SECRET_PARAM.search(name[:-1]):
            self.add(unquote(match.group("value")))
            return name + MASK
        return match.group(0)

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

    def har_headers(self, text: str) -> str:
        """``{"name": "X-Debug", "value": "1"}`` pairs (HAR, Playwright traces) of the
        :attr:`secret_headers` with their value masked, however short it is."""
        if not self.secret_headers or '"name"' not in text:
            return text
        names = "|".join(re.escape(n) for n in sorted(self.secret_headers))
        pattern = re.compile(r'("name"\s*:\s*"(?:' + names + r')"\s*,\s*"value"\s*:\s*")'
                             r'(?:[^"\\]|\\.)*(")', re.IGNORECASE)
        return pattern.sub(lambda m: m.group(1) + MASK + m.group(2), text)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Copy of ``headers`` with secret-looking names masked and known secrets removed."""
        out: dict[str, str] = {}
        for name, value in headers.items():
            if SECRET_HEADER.search(name) or name.lower() in self.secret_headers:
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
