"""Text from the target made safe to print and to write: control characters become visible
escapes. A response body with ``ESC[2J`` would clear the CI log, a NUL would make junit.xml
unreadable, a bidi override would make a reason read backwards. Every target-derived string
the plugin prints or writes (evidence, reasons, failure messages) goes through
:func:`printable` (:func:`one_line` where one line is wanted); :func:`sanitize_report` applies it
to a test report before pytest prints it.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_staging.compat import map_failure_text

#: C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi and
#: line/paragraph separators that reorder or break what a reader sees.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                      "\u202a-\u202e\u2066-\u2069]")
_CONTROL_ONE_LINE = re.compile(_CONTROL.pattern[:-1] + "\n\t]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with control characters as visible escapes (``\\x1b``, ``\\x00``, ``\\u202e``);
    newlines and tabs kept, unless ``one_line``."""
    if not text:
        return text
    pattern = _CONTROL_ONE_LINE if one_line else _CONTROL
    return pattern.sub(_escape, text) if pattern.search(text) else text


def one_line(text: object, limit: int | None = 300) -> str:
    """``text`` as one printable line of at most ``limit`` characters (None: no limit; cut
    only after redaction, or half a secret survives): runs of white space (newlines included)
    folded to one space, control characters as visible escapes."""
    line = printable(" ".join(str(text).split()), one_line=True)
    return line if limit is None or len(line) <= limit else line[: limit - 3] + "..."


def first_line(text: object, limit: int | None = None) -> str:
    """The first non-blank line of ``text`` through :func:`one_line` ("" when there is none):
    an exception's message without the details or traceback that follow it."""
    for line in str(text).splitlines():
        if line.strip():
            return one_line(line, limit)
    return ""


def error_line(exc: BaseException, limit: int | None = None) -> str:
    """``TypeName: first line of the message``, or just ``TypeName`` for an empty message
    (``str(exc).splitlines()[0]`` raised IndexError there, inside the handler)."""
    message = first_line(exc, limit)
    return one_line(f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
                    limit)


def printable_data(value: Any) -> Any:
    """A copy of builtins data (a verdict) with every string made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): printable_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_data(v) for v in value]
    return value


def sanitize_report(report: Any) -> None:
    """Make a pytest report's failure text and sections printable, keeping its structure
    (pytest's own terminal, JUnit and xdist serialisation print from it)."""
    if report.longrepr is not None:
        report.longrepr = map_failure_text(report.longrepr, printable)
    report.sections = [(title, printable(body)) for title, body in report.sections]

