"""Plain summaries of a verdict shared by the terminal, Markdown and HTML reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def gate_rows(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per gate: name, blocking/advisory, counts and status."""
    rows = []
    for name, gate in verdict.get("gates", {}).items():
        counts = gate["counts"]
        rows.append({
            "gate": name,
            "mode": "blocking" if gate["blocking"] else "advisory",
            "passed": counts["passed"],
            "failed": counts["failed"],
            "error": counts["error"],
            "skipped": counts["skipped"] + counts.get("xfailed", 0),
            "flaky": counts.get("flaky", 0),
            "status": gate["status"],
        })
    return rows


#: What each NO-GO judgement means, in the words of the reports.
JUDGEMENT_MEANING = {
    "failed": "evidence that the release is bad: a blocking test or check failed",
    "inconclusive": "the run could not judge the release (no evidence either way); still "
                    "NO-GO: fix the cause and run again",
}


def judgement_of(verdict: Mapping[str, Any]) -> str:
    """``passed``, ``failed`` or ``inconclusive``; "" for a NO-GO written before judgements
    existed (a GO is always ``passed``)."""
    if verdict.get("verdict") == "GO":
        return "passed"
    value = verdict.get("judgement")
    return value if value in JUDGEMENT_MEANING else ""


def verdict_label(verdict: Mapping[str, Any]) -> str:
    """``GO``, ``NO-GO (failed)``, ``NO-GO (inconclusive)`` (or ``NO-GO`` for an older file):
    the verdict word with its judgement, as every report shows it."""
    if verdict.get("verdict") == "GO":
        return "GO"
    judgement = judgement_of(verdict)
    return f"NO-GO ({judgement})" if judgement else "NO-GO"


def headline(verdict: dict[str, Any]) -> str:
    """One line of run facts: target, version, duration, workers."""
    target = verdict.get("target", {})
    run = verdict.get("run", {})
    parts = [f"target {target.get('url') or '(none)'}"]
    observed = (target.get("observed_version") or {}).get("start")
    if observed:
        parts.append(f"version {observed}")
    elif target.get("expected_version"):
        parts.append(f"expected version {target['expected_version']}")
    parts.append(f"{run.get('duration', 0):.1f}s")
    if run.get("workers"):
        parts.append(f"{run['workers']} workers")
    return " · ".join(parts)


def security_line(verdict: dict[str, Any]) -> str:
    """The security gate's grade and findings by level, or "" when it has none."""
    grade = (verdict.get("gates", {}).get("security") or {}).get("grade")
    if not isinstance(grade, dict):
        return ""
    counts = grade.get("counts") or {}
    excluded = grade.get("excluding_accepted")
    if grade.get("grade") and isinstance(excluded, dict):
        text = (f"security grade {excluded.get('grade')} ({excluded.get('score')}/100) with "
                f"{excluded.get('accepted')} accepted risk(s) excluded, {grade['grade']} "
                f"({grade.get('score')}/100) counting them")
    elif grade.get("grade"):
        text = f"security grade {grade['grade']} ({grade.get('score')}/100)"
    else:
        text = "security grade: none (no passive HTTP check ran)"
    if grade.get("min_grade"):
        text += f", minimum {grade['min_grade']}"
    text += (f"; findings: {counts.get('fail', 0)} fail, {counts.get('warn', 0)} warn, "
             f"{counts.get('info', 0)} info, {counts.get('ignore', 0)} ignored")
    return text
