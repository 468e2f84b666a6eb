"""Accepted risks: findings the policy accepted with an owner, an expiry and a reason.

``csp-missing = { level = "warn", owner = "alice", expires = 2026-12-31, reason = "JIRA-12" }``
is a decision, written down: it should not cost grade points until it expires, or a
``min_grade`` could only be met by ``ignore`` (which hides the finding and its owner). The
grade is shown both ways; ``min_grade`` is judged on the grade with accepted risks excluded.
An expired acceptance is a ``fail`` finding again and counts in both grades.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
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


def _mentions(text: str, rule: str) -> bool:
    """Whether ``text`` names ``rule`` as a whole rule id (``csp-missing`` is not named by
    ``security-csp-missing``, a parity rule of its own)."""
    return re.search(rf"(?<![\w-]){re.escape(rule)}(?![\w-])", text) is not None


def _facts(row: Mapping[str, Any], today: dt.date) -> str:
    expires = row["expires"]
    if expires != "never":
        with contextlib.suppress(ValueError):
            left = (dt.date.fromisoformat(expires) - today).days
            expires += f" (in {left} day{'s' if left != 1 else ''})" if left >= 0 else ""
    facts = [f"owner {row['owner']}", f"expires {expires}"]
    if row["reason"] != "-":
        facts.append(str(row["reason"]))
    return ", ".join(facts)


def terminal_lines(verdict: Mapping[str, Any], warnings: Iterable[str],
                   today: dt.date | None = None) -> tuple[list[str], list[tuple[str, bool]]]:
    """The verdict's warnings split for the terminal: ``(ordinary warnings, accepted-risk
    lines)``. An accepted risk is a decision, not news: its warning is shown with who accepted
    it and until when (as verdict.md and verdict.html show), an expired one as expired (its
    finding is a fail again), one that warns nothing (accepted at ``info``) on a line of its
    own. Each accepted line comes with ``expired`` (to be shown as a problem)."""
    rows = accepted_rows(verdict)
    if not rows:
        return list(warnings), []
    today = today or dt.date.today()
    ordinary: list[str] = []
    lines: list[tuple[str, bool]] = []
    shown: set[str] = set()
    for warning in warnings:
        row = next((r for r in rows if not r["expired"] and _mentions(warning, r["rule"])),
                   None)
        if row is None:
            ordinary.append(warning)
            continue
        shown.add(row["rule"])
        lines.append((f"accepted risk ({_facts(row, today)}): {warning}", False))
    for row in rows:
        if row["rule"] in shown:
            continue
        where = f" at {', '.join(row['where'][:2])}" if row["where"] else ""
        if row["expired"]:
            lines.append((f"accepted risk EXPIRED on {row['expires']}: {row['rule']}{where} "
                          f"(owner {row['owner']}): a {row['level']} finding again", True))
        else:
            lines.append((f"accepted risk ({_facts(row, today)}): {row['rule']}{where}: "
                          f"accepted at level {row['level']}", False))
    return ordinary, lines


__all__ = ["accepted_rows", "grade_excluding_accepted", "is_accepted", "terminal_lines"]
