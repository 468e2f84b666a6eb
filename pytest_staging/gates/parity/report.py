"""The parity sections of the terminal, Markdown and HTML reports (plain functions over a
verdict dict): differences grouped by kind, each with the production and the staging value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_staging.gates.parity.rules import KINDS
from pytest_staging.reports.markdown_text import md_code, md_escape

GATE = "parity"
LEVEL_ORDER = {"fail": 0, "warn": 1, "info": 2, "ignore": 3}
MAX_TERMINAL = 12
MAX_MARKDOWN = 50


def _gate(verdict: Mapping[str, Any]) -> Mapping[str, Any] | None:
    gate = (verdict.get("gates") or {}).get(GATE)
    return gate if isinstance(gate, Mapping) else None


def differences(verdict: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The parity findings by kind (security, transport, api, version), worst first."""
    gate = _gate(verdict) or {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in gate.get("findings") or []:
        if isinstance(item, Mapping) and item.get("level") != "ignore":
            groups.setdefault(str(item.get("kind") or "other"), []).append(dict(item))
    order = [k for k in KINDS if k in groups] + [k for k in groups if k not in KINDS]
    return {kind: sorted(groups[kind], key=lambda f: LEVEL_ORDER.get(str(f.get("level")), 9))
            for kind in order}


def summary(verdict: Mapping[str, Any]) -> dict[str, Any] | None:
    """Compare target, request count and budget, counts by level; None without the gate."""
    gate = _gate(verdict)
    if gate is None:
        return None
    metrics = {k: m for k, m in (gate.get("metrics") or {}).items()
               if str(k).startswith("parity:") and isinstance(m, Mapping)}
    counts = dict.fromkeys(("fail", "warn", "info"), 0)
    for items in differences(verdict).values():
        for item in items:
            level = str(item.get("level"))
            counts[level] = counts.get(level, 0) + 1
    # Each item's metric names the compare URL; "compare" (set on the controller) names it
    # when no item ran.
    every = [m for m in (gate.get("metrics") or {}).values() if isinstance(m, Mapping)]
    production = next((str(m.get("production")) for m in [*metrics.values(), *every]
                       if m.get("production")), "")
    sent = sum(int((m.get("requests") or {}).get("production", 0)) for m in metrics.values())
    budget = sum(int(m.get("budget") or 0) for m in metrics.values())
    return {"production": production, "counts": counts, "requests": sent, "budget": budget,
            "compared": [str(k).split(":", 1)[1] for k, m in metrics.items()
                         if not m.get("error")],
            "not_compared": [str(k).split(":", 1)[1] for k, m in metrics.items()
                             if m.get("error")],
            "status": gate.get("status")}


def line(verdict: Mapping[str, Any]) -> str:
    """``parity vs https://prod/: 1 fail, 0 warn, 2 info; 9 of 30 requests to production``."""
    facts = summary(verdict)
    if facts is None:
        return ""
    counts = facts["counts"]
    text = (f"parity vs {facts['production'] or '(compare target)'}: {counts['fail']} fail, "
            f"{counts['warn']} warn, {counts['info']} info")
    if facts["compared"]:
        text += f"; compared {', '.join(facts['compared'])}"
    if facts["not_compared"]:
        text += f"; could not compare {', '.join(facts['not_compared'])}"
    if facts["compared"] or facts["not_compared"]:
        text += f"; {facts['requests']} of {facts['budget']} requests to production"
    else:
        text += "; no comparison ran"
    return text


def _one(item: Mapping[str, Any]) -> str:
    return (f"[{item.get('level')}] {item.get('rule')} at {item.get('url')}: production "
            f"{item.get('production')} | staging {item.get('staging')}")


def terminal_lines(verdict: Mapping[str, Any]) -> list[tuple[str, dict[str, bool]]]:
    head = line(verdict)
    if not head:
        return []
    lines: list[tuple[str, dict[str, bool]]] = [(head, {"bold": True})]
    shown = 0
    for kind, items in differences(verdict).items():
        for item in items:
            if shown == MAX_TERMINAL:
                lines.append(("  ... more differences in the report", {}))
                return lines
            shown += 1
            level = item.get("level")
            lines.append((f"  {kind}: {_one(item)}",
                          {"red": level == "fail", "yellow": level == "warn"}))
    return lines


def markdown_lines(verdict: Mapping[str, Any]) -> list[str]:
    """A "Parity" section: one table per kind of difference, both values side by side."""
    head = line(verdict)
    if not head:
        return []
    lines = ["### Parity: staging vs production", "", md_escape(head[0].upper() + head[1:]), ""]
    groups = differences(verdict)
    if not groups:
        lines += ["No difference from production.", ""]
        return lines
    count = 0
    for kind, items in groups.items():
        lines += [f"**{kind}**", "", "| Level | Rule | Where | Production | Staging |",
                  "|---|---|---|---|---|"]
        for item in items:
            count += 1
            if count > MAX_MARKDOWN:
                break
            lines.append(f"| {item.get('level')} | {md_code(item.get('rule'))} | "
                         f"{md_escape(item.get('url'))} | {md_escape(item.get('production'))} | "
                         f"{md_escape(item.get('staging'))} |")
        lines.append("")
    if count > MAX_MARKDOWN:
        lines += [f"... and {count - MAX_MARKDOWN} more in verdict.json", ""]
    return lines


def html_view(verdict: Mapping[str, Any]) -> dict[str, Any] | None:
    """Plain data for the HTML template's parity section (None without the gate)."""
    head = line(verdict)
    if not head:
        return None
    groups = [{"kind": kind, "items": [
        {k: str(item.get(k) if item.get(k) is not None else "")
         for k in ("level", "rule", "url", "production", "staging", "title", "evidence")}
        for item in items]} for kind, items in differences(verdict).items()]
    return {"line": head, "groups": groups}
