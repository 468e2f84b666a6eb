"""The final verdict's files: verdict.json (signed with a key, over exactly what is written,
after redaction), verdict.html, verdict.md, findings.sarif and the Ed25519 attestations,
rendered (``render_reports``) then written in the one safe order (``write_reports``), by a
run's controller and by ``pytest-staging merge`` alike. A rendering or signing failure is a
NO-GO reason on the verdict, never a crash and never an unsigned file that claims a
signature."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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


def render_signed(verdict: dict[str, Any], redact: Callable[[str], str], key: str | None,
                  signing_key: Any) -> tuple[str, str | None, dict[str, str]]:
    """``render_outputs`` plus ``{file name: text}`` of the attestations signed with the
    Ed25519 ``signing_key`` (none without one).

    The attestations sign the verdict exactly as written to verdict.json (after redaction).
    If signing fails, the verdict becomes a NO-GO and is rendered again, unattested.
    """
    json_text, html = render_outputs(verdict, redact, key)
    if signing_key is None:
        return json_text, html, {}
    from pytest_staging.attestation import attest

    try:
        files = attest(json.loads(json_text), signing_key)
    except Exception as exc:
        # Fail closed: an unsigned GO must not leave the run when signing was asked for.
        nogo(verdict, f"cannot sign the attestation: {type(exc).__name__}: "
                      f"{redact(str(exc)).splitlines()[0] if str(exc) else ''}")
        json_text, html = render_outputs(verdict, redact, key)
        return json_text, html, {}
    # Not passed through ``redact``: the payload was built from the redacted verdict, and a
    # masked run of base64 characters would only break the signature.
    return json_text, html, files


@dataclass
class Rendered:
    """Every report of one verdict as text, and what could not be rendered."""

    json_text: str
    #: ``{file name: text}``; None: the report could not be rendered.
    reports: dict[str, str | None] = field(default_factory=dict)
    attestations: dict[str, str] = field(default_factory=dict)
    #: One line per report that could not be rendered or signed (a fact: decide again).
    problems: list[str] = field(default_factory=list)


def render_reports(verdict: dict[str, Any], redact: Callable[[str], str], key: str | None,
                   signing_key: Any) -> Rendered:
    """verdict.json, findings.sarif, verdict.md, verdict.html and the attestations of
    ``verdict``; a failure is a line in ``problems`` (and, for html and the signatures, a
    reason on ``verdict`` already)."""
    problems: list[str] = []
    before = len(verdict["reasons"])
    sarif = None
    try:
        from pytest_staging.reports.sarif import render_sarif

        sarif = render_sarif(verdict)
    except Exception as exc:
        problems.append(f"cannot render findings.sarif: {type(exc).__name__}: {exc}")
    json_text, html, attestations = render_signed(verdict, redact, key, signing_key)
    problems.extend(verdict["reasons"][before:])
    markdown = None
    try:
        from pytest_staging.reports.markdown import render_markdown

        markdown = redact(render_markdown(verdict))
    except Exception as exc:
        problems.append(f"cannot render verdict.md: {type(exc).__name__}: {exc}")
    return Rendered(json_text, {"findings.sarif": redact(sarif) if sarif is not None else None,
                                "verdict.md": markdown, "verdict.html": html},
                    attestations, problems)


def write_reports(report_dir: Path, rendered: Rendered) -> None:
    """Write every report atomically; verdict.json last but the attestations (its presence
    with a decision means every report is in place; a failed write never leaves a signed GO
    beside a NO-GO). A findings file that could not be rendered is removed, never left
    stale. Raises OSError."""
    from pytest_staging.reports.atomic import atomic_write_text

    for name, text in rendered.reports.items():
        if text is not None:
            atomic_write_text(report_dir / name, text)
        elif name == "findings.sarif":
            with contextlib.suppress(FileNotFoundError):
                (report_dir / name).unlink()
    atomic_write_text(report_dir / "verdict.json", rendered.json_text)
    for name, text in rendered.attestations.items():
        atomic_write_text(report_dir / name, text)
