"""What the load sends besides its own requests: the ``staging`` client's request options.

Query parameters of the staging URL, ``--staging-header`` headers, the URL's user:password and
the TLS trust go to the Locust subprocess as JSON in one environment variable, read there by
``locust_request_options`` (loaded with every locustfile). Never on the command line (``ps``
shows it to every user of the machine) nor in a generated file on disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

REQUEST_ENV = "PYTEST_STAGING_LOAD_REQUEST"


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (and without a query: it goes in the environment)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def request_env(
    host: str,
    headers: Mapping[str, str],
    params: Sequence[tuple[str, str]],
    verify: bool | str,
    trace: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment entries that make every Locust request to ``host`` carry the options."""
    parts = urlsplit(host)
    options: dict[str, object] = {
        "origin": strip_userinfo(host),
        "headers": dict(headers),
        "params": [[str(k), str(v)] for k, v in
                   [*parse_qsl(parts.query, keep_blank_values=True), *params]],
        "verify": verify,
    }
    if trace:
        options["trace"] = dict(trace)
    if parts.username is not None:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password or "")
    return {REQUEST_ENV: json.dumps(options)}
