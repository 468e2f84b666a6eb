"""Which URLs are sensitive (production): the policy's ``sensitive_url`` regex, with the match
kept so every message can say which pattern matched and on what text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit, urlunsplit

#: The spellings fleets use for production: prod, production, prd, with digits, regions and
#: separators around them (prod1, prod01, eu-prod2, prod_eu, shop-prd), but not products,
#: reproduce, preprod / pre-prod or nonprod / non-prod.
DEFAULT_SENSITIVE_URL = (r"(?i)(?<![a-z])(?<!pre[-_.])(?<!non[-_.])"
                         r"(?:prod(?:uction)?|prd)(?![a-z])")


@dataclass(frozen=True)
class SensitiveMatch:
    """``pattern`` matched ``text`` inside ``url``."""

    pattern: str
    text: str
    url: str

    @property
    def shown_url(self) -> str:
        """The URL without credentials and query (they may carry secrets)."""
        try:
            parts = urlsplit(self.url)
        except ValueError:
            return "(unparseable URL)"
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    def describe(self) -> str:
        return f"sensitive_url {self.pattern!r} matched {self.text!r} in {self.shown_url}"


@lru_cache(maxsize=32)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def sensitive_match(pattern: str, urls: Iterable[str]) -> SensitiveMatch | None:
    """The first of ``urls`` that matches ``pattern``, with what matched; None if none does."""
    if not pattern:
        return None
    regex = _compiled(pattern)
    for url in urls:
        if not url:
            continue
        # Percent-encoding must not hide a match: /%70rod/ is /prod/ to the server.
        for text in dict.fromkeys((url, unquote(url))):
            found = regex.search(text)
            if found:
                return SensitiveMatch(pattern, found.group(0), url)
    return None
