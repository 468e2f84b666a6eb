"""What a failure report says: the one line a reason needs (:func:`failure_message`, with the
line that names the cause: :func:`cause_line`), a failed request without pages of library
frames, a module that fails to import without importlib's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_staging.compat import without_frames_from
from pytest_staging.printable import one_line
from pytest_staging.wire import payload_of


def failure_message(report: pytest.TestReport | pytest.CollectReport, limit: int = 240) -> str:
    """The one line a human needs from a failure: the exception message, not the traceback;
    the reason our report hook worded when the message would cut the cause off."""
    payload = payload_of(report)
    if payload is not None and payload.reason:
        return one_line(payload.reason, limit)
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = ""
    if crash is not None and getattr(crash, "message", ""):
        text = crash.message
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        lines = [ln for ln in str(longrepr or "").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("E ")]
        # The last "E" line is the exception itself (a SyntaxError report starts with its
        # "File ..., line 1" location).
        text = errors[-1] if errors else (lines[-1] if lines else "")
    return one_line(cause_line(text.strip().removeprefix("E")), limit)


#: ``playwright._impl._errors.TimeoutError: ...``: the type's module path says nothing.
_DOTTED_TYPE = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )")
#: A later line that names the cause (Playwright: ``Error: strict mode violation: ...``).
_CAUSE = re.compile(r"^(?:Error|Caused by|Cause)\s*:\s*(?P<cause>\S.*)$")
#: Where the message ends and the details begin (Playwright's call log and page snapshot).
_DETAILS = ("call log:", "aria snapshot:", "traceback (most recent call last)")
_WAITING = re.compile(r"^-\s+(?P<what>waiting for .+)$")
_ACTUAL = re.compile(r"^Actual value:\s*(?P<value>\S.*)$")


#: urllib3's text of a request that got no answer (requests' ConnectionError, SSLError,
#: ConnectTimeout, ProxyError): the cause comes last, where a reason cut to one line loses it.
_NO_ANSWER = re.compile(
    r"^(?P<type>\w+): \w*?(?P<tls>HTTPS)?ConnectionPool\(host='(?P<host>[^']*)', "
    r"port=(?P<port>\d+)\): Max retries exceeded with url: (?P<path>\S*) \(Caused by "
    r"(?P<cause>.*)\)\s*$", re.DOTALL)


def _no_answer(first: str) -> str:
    """``ConnectionError: no answer from http://host:port/path: connection refused``: the URL
    and the cause in the words of staging being down (``request_problems.describe``), or ""
    when ``first`` is not urllib3's text."""
    match = _NO_ANSWER.match(first)
    if match is None:
        return ""
    import requests

    from pytest_staging.request_problems import describe

    kind = getattr(requests.exceptions, match.group("type"), None)
    if not (isinstance(kind, type) and issubclass(kind, requests.RequestException)):
        kind = requests.exceptions.ConnectionError
    scheme = "https" if match.group("tls") else "http"
    url = f"{scheme}://{match.group('host')}:{match.group('port')}{match.group('path')}"
    return f"{match.group('type')}: no answer from {url}: {describe(kind(match.group('cause')))}"


def cause_line(text: str) -> str:
    """The one line of a (multi-line) failure message that says what went wrong: its first
    line, plus the cause when a later line names it. Playwright puts the cause below its
    first line: ``Locator expected to have text 'Welcome'`` / ``Error: strict mode violation:
    locator("h2") resolved to 2 elements: ...``; a time-out's call log says what it waited
    for; an assertion's ``Actual value`` says what it got; urllib3's "Max retries exceeded
    ... (Caused by ...)" becomes the URL and the cause in words."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    first = _DOTTED_TYPE.sub("", lines[0]).rstrip().rstrip(":")
    no_answer = _no_answer(first)
    if no_answer:
        return no_answer
    body: list[str] = []
    log: list[str] = []
    for line in lines[1:]:
        if log or line.lower().startswith(_DETAILS):
            log.append(line)
        else:
            body.append(line)
    causes = [m.group("cause").rstrip().rstrip(":") for line in body
              if (m := _CAUSE.match(line))]
    if causes and causes[0].lower() not in first.lower():
        return f"{first}: {causes[0]}"
    if "timeout" in first.lower() and "exceeded" in first.lower():
        waits = [m.group("what") for line in log if (m := _WAITING.match(line))]
        if waits:
            return f"{first.rstrip('.')} ({waits[-1]})"
    actual = [m.group("value") for line in body if (m := _ACTUAL.match(line))]
    if actual and actual[0] != "None":
        return f"{first} (actual value: {actual[0]})"
    return first


#: Frames from these packages are noise in the report of a failed HTTP request.
_MACHINERY = ("requests", "urllib3", "_pytest", "pluggy", "pytest_staging")


def short_http_failure(excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
    """The failure of a request the target did not answer, without pages of urllib3 internals:
    the test's own frames and the requests exception, not its chain of causes."""
    without_frames_from(excinfo, _MACHINERY)
    return excinfo.getrepr(style="short", chain=False)


def without_import_machinery(text: str) -> str:
    """pytest's report of a test module that fails to import, minus its "Traceback:" header
    and importlib's frames: the module's own line and the error are what a reader needs."""
    head, sep, frames = text.partition("\nTraceback:\n")
    if not sep:
        return text
    kept: list[str] = []
    skipping = False
    for line in frames.splitlines():
        if line and not line[0].isspace() and not line.startswith("E "):
            skipping = "importlib" in line
        if not skipping:
            kept.append(line)
    return "\n".join([head, *kept])
