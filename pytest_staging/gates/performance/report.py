"""Performance sections of the terminal and Markdown summaries (plain functions over a verdict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_staging.gates.performance.thresholds import format_metric
from pytest_staging.reports.markdown_text import md_code, md_escape

MAX_LOADS = 10


def _loads(verdict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    gate = (verdict.get("gates") or {}).get("performance") or {}
    metrics = gate.get("metrics") or {}
    return {n: m for n, m in metrics.items() if isinstance(m, dict) and "requests" in m}


def _checks(verdict: dict[str, Any], load: str) -> list[dict[str, Any]]:
    gate = (verdict.get("gates") or {}).get("performance") or {}
    return [c for c in gate.get("checks") or [] if c.get("load") == load]


def thresholds_of(gate: Mapping[str, Any], load: str) -> list[dict[str, Any]]:
    """The thresholds a load was judged by (the gate's checks of kind ``threshold``), each
    with ``expr``, ``metric``, ``endpoint``, ``limit`` (in the metric's unit) and ``passed``;
    once per expression."""
    out: dict[str, dict[str, Any]] = {}
    for check in gate.get("checks") or []:
        if (isinstance(check, Mapping) and check.get("load") == load
                and check.get("kind") == "threshold" and check.get("expr")):
            out.setdefault(str(check["expr"]), {
                "expr": str(check["expr"]), "metric": check.get("metric"),
                "endpoint": check.get("endpoint"), "limit": check.get("limit"),
                "passed": check.get("passed") is True})
    return list(out.values())


def _ms(value: Any) -> str:
    return format_metric(value, "ms") if isinstance(value, (int, float)) else "n/a"


def _rps(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "n/a"


def metrics_line(m: dict[str, Any]) -> str:
    """``1234 req, 205.3 req/s, p50 2.00 ms, p95 5.00 ms, p99 9.00 ms, 0.00% failed``."""
    return (
        f"{m.get('requests', 0)} req, {format_metric(m.get('rps'), 'rps')}, "
        f"p50 {_ms(m.get('p50'))}, p95 {_ms(m.get('p95'))}, p99 {_ms(m.get('p99'))}, "
        f"{format_metric(m.get('fail_ratio'), 'ratio')} failed"
    )


def terminal_lines(verdict: dict[str, Any]) -> list[tuple[str, dict[str, bool]]]:
    """One line per load test, then one per threshold / baseline check with its observed value."""
    lines: list[tuple[str, dict[str, bool]]] = []
    for name, m in list(_loads(verdict).items())[:MAX_LOADS]:
        lines.append((f"load {name}: {metrics_line(m)}", {"bold": True}))
        for check in _checks(verdict, name):
            ok = bool(check.get("passed"))
            mark = "ok  " if ok else "FAIL"
            lines.append((f"  {mark} {check.get('detail', '')}", {"green": ok, "red": not ok}))
    return lines


def markdown_lines(verdict: dict[str, Any]) -> list[str]:
    """A "Performance" section: a metrics table and a thresholds table."""
    loads = _loads(verdict)
    if not loads:
        return []
    lines = [
        "### Performance",
        "",
        "| Load | Requests | req/s | p50 | p90 | p95 | p99 | max | Failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in loads.items():
        lines.append(
            f"| {md_escape(name)} | {m.get('requests', 0)} | {_rps(m.get('rps'))} | "
            f"{_ms(m.get('p50'))} | {_ms(m.get('p90'))} | {_ms(m.get('p95'))} | "
            f"{_ms(m.get('p99'))} | {_ms(m.get('max'))} | "
            f"{format_metric(m.get('fail_ratio'), 'ratio')} |"
        )
    checks = [(n, c) for n in loads for c in _checks(verdict, n)]
    if checks:
        lines += ["", "| Load | Check | Observed vs required | Result |", "|---|---|---|---|"]
        for name, check in checks:
            result = "✅ pass" if check.get("passed") else "⛔ fail"
            lines.append(
                f"| {md_escape(name)} | {md_code(check.get('expr', check.get('name', '')))} | "
                f"{md_escape(check.get('detail', ''))} | {result} |"
            )
    lines.append("")
    return lines
