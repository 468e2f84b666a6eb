"""Accepted risks: findings the policy accepted with an owner, an expiry and a reason.

``csp-missing = { level = "warn", owner = "alice", expires = 2026-12-31, reason = "JIRA-12" }``
is a decision, written down: it should not cost grade points until it expires, or a
``min_grade`` could only be met by ``ignore`` (which hides the finding and its owner). The
grade is shown both ways; ``min_grade`` is judged on the grade with accepted risks excluded.
An expired acceptance is a ``fail`` finding again and counts in both grades.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pytest_staging.gates.security import grade as grading


def is_accepted(finding: Mapping[str, Any]) -> bool:
    """Whether the policy accepted this finding and the acceptance has not expired."""
    risk = finding.get("accepted_risk")
    return isinstance(risk, Mapping) and not risk.get("expired", False)


def grade_excluding_accepted(findings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"score", "grade", "accepted"}`` of the findings minus the accepted risks."""
    items = list(findings)
    kept = [f for f in items if not is_accepted(f)]
    points = grading.score(kept)
    return {"score": points, "grade": grading.letter(points),
            "accepted": len({str(f.get("rule")) for f in items if is_accepted(f)})}


def accepted_rows(verdict: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per accepted-risk entry seen in the verdict's findings (expired ones too)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for gate in (verdict.get("gates") or {}).values():
        if not isinstance(gate, Mapping):
            continue
        for finding in gate.get("findings") or []:
            risk = finding.get("accepted_risk") if isinstance(finding, Mapping) else None
            if not isinstance(risk, Mapping):
                continue
            rule = str(finding.get("rule") or "?")
            where = str(finding.get("url") or finding.get("file") or "")
            row = rows.setdefault((rule, str(risk.get("owner") or "")), {
                "rule": rule, "owner": str(risk.get("owner") or "-"),
                "expires": str(risk.get("expires") or "never"),
                "reason": str(risk.get("reason") or "-"),
                "expired": bool(risk.get("expired", False)),
                "level": str(finding.get("level") or ""), "where": []})
            if where and where not in row["where"]:
                row["where"].append(where)
    return sorted(rows.values(), key=lambda r: (not r["expired"], r["rule"]))


__all__ = ["accepted_rows", "grade_excluding_accepted", "is_accepted"]
