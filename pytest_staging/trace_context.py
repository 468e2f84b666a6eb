"""W3C Trace Context (https://www.w3.org/TR/trace-context/) on what the plugin sends to staging:
the one home of trace ids, span ids, the ``traceparent``/``tracestate`` headers and the rule of
which request gets them.

- One trace per test: :func:`derive_trace_id` turns the run's seed (its run id) and the test's
  node id into the test's trace id, the same on the controller and on every xdist worker; the
  run's own requests (readiness, version) are the run's trace (:data:`RUN_TRACE_NAME`).
- Each request is a new span (a random span id) in that trace: :meth:`Trace.stamp`, called
  by every client on every request and redirect hop it sends (the ``staging`` client, the
  readiness and version probes, the security and contract gates' sessions, the browser's route
  on the staging origin, the Locust load when ``[performance] traceparent`` is on).
- Only the staging origin gets the headers: a hop to another origin has ours removed (requests
  copies a request's headers onto every redirect), and the parity gate's compare target never
  has a :class:`Trace` at all.
- A caller's own ``traceparent`` (per request or as a session header, any case) wins: it is
  sent as it is, and so is the caller's ``tracestate``.

Pure stdlib, no import of the plugin: the Locust subprocess and the report writers use it too.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping
from urllib.parse import urlsplit

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
#: Our ``tracestate`` key (a W3C simple key: lowercase letters, digits, ``_-*/``).
VENDOR = "pytest-staging"
#: The most list members a ``tracestate`` may carry (W3C Trace Context, section 3.3.1.1).
MAX_MEMBERS = 32
#: The name the run's own trace is derived from (node ids are never empty).
RUN_TRACE_NAME = ""
#: The placeholder a ``trace_url`` template must contain.
TRACE_ID_FIELD = "{trace_id}"
#: Flags of every traceparent we send: sampled. The test records what it sent, so the backend
#: keeps its side of the trace (parent-based sampling).
SAMPLED = "01"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_VALUE = re.compile(r"^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$")
#: Stamped values remembered per trace, to tell ours from a caller's on a redirect hop.
_REMEMBERED = 64
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def new_span_id() -> str:
    """A random 16-hex span id, never all zeros (W3C: an all-zero parent-id is invalid)."""
    while True:
        span = os.urandom(8).hex()
        if span != _ZERO_SPAN:
            return span


def derive_trace_id(seed: str, name: str) -> str:
    """The 32-hex trace id of ``name`` (a node id, or :data:`RUN_TRACE_NAME` for the run) in
    the run seeded by ``seed`` (the run id, random): the same on every process of the run,
    different for every test and every run, never all zeros."""
    digest = hashlib.sha256(f"{seed}\0{name}".encode("utf-8", "surrogatepass")).hexdigest()
    trace = digest[:32]
    return trace if trace != _ZERO_TRACE else digest[32:64]


def format_traceparent(trace_id: str, span_id: str, flags: str = SAMPLED) -> str:
    """``00-<trace id>-<span id>-<flags>``, version 00."""
    return f"00-{trace_id}-{span_id}-{flags}"


def parse_traceparent(value: object) -> tuple[str, str, str] | None:
    """(trace id, span id, flags) of a valid ``traceparent``, else None.

    Version 00 has exactly four fields; a later version may add fields after them (the spec
    says to read the first four); version ``ff`` and all-zero ids are invalid."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace, span, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace == _ZERO_TRACE \
            or span == _ZERO_SPAN:
        return None
    return trace, span, flags


def header_key(headers: Mapping[str, str], name: str) -> str | None:
    """The key under which ``headers`` holds ``name``, in whatever case (plain dicts too)."""
    if name in headers:
        return name
    lower = name.lower()
    for key in headers:
        if key.lower() == lower:
            return key
    return None


def trace_id_of(headers: Mapping[str, str] | None) -> str:
    """The trace id a request carried (its ``traceparent``, any case), or "" if none was
    valid."""
    if not headers:
        return ""
    key = header_key(headers, TRACEPARENT)
    parsed = parse_traceparent(headers[key]) if key is not None else None
    return parsed[0] if parsed is not None else ""


def merge_tracestate(existing: str | None, member: str) -> str:
    """``member`` (``key=value``) first, then the members of ``existing`` that keep their
    place: its own key's old entry removed (the spec moves an updated entry to the left),
    empty list members dropped, at most :data:`MAX_MEMBERS` in all (the rightmost dropped)."""
    key = member.partition("=")[0]
    members = [member]
    for part in (existing or "").split(","):
        part = part.strip(" \t")
        if not part or part.partition("=")[0].strip() == key:
            continue
        members.append(part)
    return ",".join(members[:MAX_MEMBERS])


def state_member(value: str) -> str:
    """Our ``tracestate`` member, ``pytest-staging=<value>``; a value the spec does not
    allow becomes ``1``."""
    return f"{VENDOR}={value if _VALUE.match(value) else '1'}"


def origin_of(url: str) -> tuple[str, str, int | None]:
    """The RFC 6454 origin (scheme, host, port) of ``url``; the default port filled in."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", "", None)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _keys(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The keys of ``traceparent`` and ``tracestate`` in ``headers``, any case, in one pass
    (a miss in requests' CaseInsensitiveDict costs an exception; a scan of a few keys less)."""
    parent = state = None
    for key in headers:
        lower = key.lower()
        if lower == TRACEPARENT:
            parent = key
        elif lower == TRACESTATE:
            state = key
    return parent, state


class Trace:
    """One trace (a test's, or the run's) and the one origin that may receive it.

    :meth:`stamp` is the one rule every client applies to each request it sends."""

    __slots__ = ("_lock", "_ours", "_prefix", "member", "origin", "trace_id")

    def __init__(self, trace_id: str, origin_url: str, state: str = "1") -> None:
        if not _TRACE_ID.match(trace_id) or trace_id == _ZERO_TRACE:
            raise ValueError(f"not a W3C trace id: {trace_id!r}")
        self.trace_id = trace_id
        self.origin = origin_of(origin_url)
        scheme, host, port = self.origin
        #: A URL that starts with this is on the origin (the common case, without a parse);
        #: the slash ends the authority, so "http://host:1@elsewhere/" does not match.
        self._prefix = f"{scheme}://{host}:{port}/" if host and ":" not in host else ""
        self.member = state_member(state)
        #: traceparent values we stamped -> the caller's tracestate they replaced (or None).
        self._ours: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def is_ours(self, value: object) -> bool:
        """Whether ``value`` is a ``traceparent`` this trace stamped."""
        with self._lock:
            return isinstance(value, str) and value in self._ours

    def covers(self, url: str) -> bool:
        """Whether ``url`` is on the origin this trace may be sent to."""
        if self._prefix and url.startswith(self._prefix):
            return True
        return origin_of(url) == self.origin

    def stamp(self, headers: MutableMapping[str, str], url: str) -> str:
        """Give the request to ``url`` with ``headers`` a new span of this trace, when it goes
        to the staging origin and carries no ``traceparent`` of the caller's own.

        A ``traceparent`` this trace stamped before (a redirect hop: requests copies the
        headers) is taken off first, the caller's ``tracestate`` put back, so a hop to
        another origin carries nothing of ours. Returns the trace id the request carries
        ("" when none or not a valid one)."""
        key, state_key = _keys(headers)
        if key is not None:
            value = headers[key]
            with self._lock:
                ours = value in self._ours
                before = self._ours.get(value)
            if not ours:
                parsed = parse_traceparent(value)  # the caller's own: it wins
                return parsed[0] if parsed is not None else ""
            del headers[key]
            if before is None:
                if state_key is not None:
                    del headers[state_key]
                state_key = None
            else:
                headers[state_key or TRACESTATE] = before
                state_key = state_key or TRACESTATE
        if not self.covers(url):
            return ""
        value = format_traceparent(self.trace_id, new_span_id())
        before = headers[state_key] if state_key is not None else None
        headers[TRACEPARENT] = value
        headers[state_key or TRACESTATE] = (merge_tracestate(before, self.member) if before
                                            else self.member)
        with self._lock:
            self._ours[value] = before
            if len(self._ours) > _REMEMBERED:
                # popitem, not del of next(iter()): a plain dict emptied from the front
                # scans its dead slots, linear in the requests sent so far.
                self._ours.popitem(last=False)
        return self.trace_id


# -- links ------------------------------------------------------------------------------------
_UNSAFE_IN_URL = re.compile(r"[\s\"'<>\\`\x00-\x1f\x7f]")


def trace_url_problem(template: object) -> str | None:
    """Why ``template`` cannot be a ``[evidence] trace_url`` (None when it can): an http(s)
    URL with a host that contains ``{trace_id}`` and nothing that could break out of a link
    (quotes, spaces, angle brackets, control characters)."""
    if not isinstance(template, str):
        return "expected a string"
    if template == "":
        return None
    if TRACE_ID_FIELD not in template:
        return f"expected a URL containing {TRACE_ID_FIELD}"
    if _UNSAFE_IN_URL.search(template):
        return "expected a URL without spaces, quotes, angle brackets or control characters"
    parts = urlsplit(template.replace(TRACE_ID_FIELD, "0"))
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return "expected an http:// or https:// URL"
    return None


def trace_link(template: object, trace_id: object) -> str:
    """The link to ``trace_id`` in the trace viewer ``template`` points at, or "" when either
    is not valid (a verdict.json from elsewhere may hold anything)."""
    if not template or trace_url_problem(template) is not None:
        return ""
    if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        return ""
    return str(template).replace(TRACE_ID_FIELD, trace_id)


def is_trace_id(value: object) -> bool:
    return isinstance(value, str) and bool(_TRACE_ID.match(value)) and value != _ZERO_TRACE
