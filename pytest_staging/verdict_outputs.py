"""The final verdict's files as text: verdict.json (signed with a key, over exactly what is
written, after redaction) and verdict.html. A rendering or signing failure is a NO-GO reason
on the verdict, never a crash and never an unsigned file that claims a signature."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pytest_staging.reports.json_report import render_json
from pytest_staging.signing import signed


def nogo(verdict: dict[str, Any], reason: str) -> None:
    """Turn ``verdict`` into a NO-GO with one more reason. (The controller takes every reason
    added here as a fact and decides again: ``Controller.write``.)"""
    verdict["verdict"] = "NO-GO"
    if verdict.get("judgement") == "passed":
        verdict["judgement"] = "inconclusive"  # a report that cannot be made judges nothing
    verdict.setdefault("reasons", []).append(reason)


def render_outputs(verdict: dict[str, Any], redact: Callable[[str], str], key: str | None
                   ) -> tuple[str, str | None]:
    """``(verdict.json text, verdict.html text or None)`` for the final verdict.

    With a key, the JSON is signed over exactly the content written (after redaction), and
    ``verdict["signature"]`` is set. A rendering or signing failure makes the verdict NO-GO.
    """
    html: str | None = None
    try:
        from pytest_staging.reports.html import render_html  # jinja2: only when writing

        html = render_html(verdict)
    except Exception as exc:
        nogo(verdict, f"cannot render verdict.html: {type(exc).__name__}: {exc}")
    text = redact(render_json(verdict))
    if key:
        try:
            data = signed(json.loads(text), key)
        except (TypeError, ValueError) as exc:
            nogo(verdict, f"cannot sign the verdict: {type(exc).__name__}")
            return redact(render_json(verdict)), html
        verdict["signature"] = data["signature"]
        text = render_json(data)
        if html is not None:
            html = render_html(verdict)  # now says "signed"
    return text, (redact(html) if html is not None else None)
