"""What a failure report says: the one line a reason needs (:func:`failure_message`), a failed
request without pages of library frames, a module that fails to import without importlib's."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_staging.compat import without_frames_from
from pytest_staging.printable import one_line


def failure_message(report: pytest.TestReport | pytest.CollectReport, limit: int = 240) -> str:
    """The one line a human needs from a failure: the exception message, not the traceback."""
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
    text = text.strip().splitlines()[0] if text.strip() else ""
    return one_line(text.removeprefix("E"), limit)


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
