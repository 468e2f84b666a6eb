"""Contract sections of the terminal, Markdown and HTML reports (plain functions over a
verdict dict; no pytest, no Schemathesis import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_staging.reports.markdown_text import md_code, md_escape

MAX_OPERATIONS = 50
MAX_PROBLEMS = 20


def _gate(verdict: Mapping[str, Any]) -> dict[str, Any]:
    gate = (verdict.get("gates") or {}).get("contract")
    return gate if isinstance(gate, dict) and isinstance(gate.get("coverage"), dict) else {}


def coverage_line(verdict: Mapping[str, Any]) -> str:
    """``contract: 3 of 4 operations covered (75.0%), 52 requests, seed 4242`` or ""."""
    gate = _gate(verdict)
    if not gate:
        return ""
    cov = gate["coverage"]
    requests = (gate.get("metrics") or {}).get("requests", 0)
    return (f"contract: {cov.get('covered', 0)} of {cov.get('documented', 0)} operations "
            f"covered ({cov.get('percent', 0.0)}%), {requests} requests, "
            f"seed {gate.get('seed')}")


def terminal_lines(verdict: Mapping[str, Any]) -> list[tuple[str, dict[str, bool]]]:
    line = coverage_line(verdict)
    return [(line, {"bold": True})] if line else []


def _statuses(statuses: Any) -> str:
    if not isinstance(statuses, dict) or not statuses:
        return "-"
    return ", ".join(f"{code} ({n})" for code, n in sorted(statuses.items()))


def markdown_lines(verdict: Mapping[str, Any]) -> list[str]:
    """A "Contract" section: coverage, operations, and each problem with its reproduction."""
    gate = _gate(verdict)
    if not gate:
        return []
    lines = ["### Contract (OpenAPI)", "", f"**{md_escape(coverage_line(verdict))}**", ""]
    operations = gate.get("operations") or {}
    if operations:
        lines += ["| Operation | Requests | Responses | Note |", "|---|---:|---|---|"]
        for label, op in list(operations.items())[:MAX_OPERATIONS]:
            lines.append(f"| {md_code(label)} | {op.get('requests', 0)} | "
                         f"{_statuses(op.get('statuses'))} | {md_escape(op.get('note', ''))} |")
        lines.append("")
    for problem in (gate.get("problems") or [])[:MAX_PROBLEMS]:
        response = problem.get("response") or {}
        lines.append(f"- **[{problem.get('level')}] {md_escape(problem.get('operation'))}: "
                     f"{md_escape(problem.get('check'))}**: {md_escape(problem.get('title'))} "
                     f"(status {response.get('status', '-')}, x{problem.get('count', 1)})")
        if problem.get("curl"):
            lines += ["", "  ```sh", f"  {problem['curl']}", "  ```"]
    if gate.get("problems"):
        lines.append("")
    return lines


def html_view(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data for the HTML template's contract section ({} when the gate did not run)."""
    gate = _gate(verdict)
    if not gate:
        return {}
    operations = gate.get("operations") or {}
    return {
        "summary": coverage_line(verdict),
        "operations": [{"label": str(label), "requests": op.get("requests", 0),
                        "statuses": _statuses(op.get("statuses")),
                        "note": str(op.get("note", ""))}
                       for label, op in list(operations.items())[:MAX_OPERATIONS]],
        "problems": [{"level": str(p.get("level", "")), "operation": str(p.get("operation", "")),
                      "check": str(p.get("check", "")), "title": str(p.get("title", "")),
                      "status": (p.get("response") or {}).get("status", "-"),
                      "message": str(p.get("message", "")), "curl": str(p.get("curl", ""))}
                     for p in (gate.get("problems") or [])[:MAX_PROBLEMS]],
    }
