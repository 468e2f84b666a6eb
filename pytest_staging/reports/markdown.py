"""verdict.md: the verdict for humans, in GitHub-flavoured Markdown."""

from __future__ import annotations

from typing import Any

from pytest_staging.gates.performance.report import markdown_lines as performance_lines
from pytest_staging.gates.security.accepted import accepted_rows
from pytest_staging.reports.summary import gate_rows, headline, security_line


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(verdict: dict[str, Any]) -> str:
    """The whole verdict as Markdown: banner, reasons, a table of gates, failures, warnings."""
    go = verdict["verdict"] == "GO"
    lines = [f"## {'✅' if go else '⛔'} {verdict['verdict']}: staging verdict", ""]
    lines.append(headline(verdict))
    lines.append("")
    if verdict["reasons"]:
        lines.append("**Why NO-GO**")
        lines.append("")
        lines.extend(f"- {_cell(r)}" for r in verdict["reasons"])
        lines.append("")
    rows = gate_rows(verdict)
    if rows:
        lines.append("| Gate | Mode | Passed | Failed | Errors | Skipped | Flaky | Status |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---|")
        for row in rows:
            lines.append(
                f"| {row['gate']} | {row['mode']} | {row['passed']} | {row['failed']} | "
                f"{row['error']} | {row['skipped']} | {row['flaky']} | {row['status']} |")
        lines.append("")
    security = security_line(verdict)
    if security:
        lines.append(f"**{_cell(security[0].upper() + security[1:])}**")
        lines.append("")
    lines.extend(_security_findings(verdict))
    lines.extend(_accepted_risks(verdict))
    lines.extend(performance_lines(verdict))
    failures = [(name, f) for name, gate in verdict["gates"].items() for f in gate["failures"]]
    if failures:
        lines.append("### Failures")
        lines.append("")
        for name, failure in failures:
            mark = "blocking" if failure.get("blocking") else "advisory"
            lines.append(f"- **{_cell(failure['nodeid'])}** ({name}, {mark}, "
                         f"{failure['outcome']}): {_cell(failure.get('message', ''))}")
            for ex in failure.get("evidence", [])[-3:]:
                status = ex.get("status") if ex.get("status") is not None else ex.get("error")
                lines.append(f"  - `{ex['method']} {_cell(ex['url'])}` -> {status} "
                             f"({ex.get('latency_ms', 0):.0f} ms)")
        lines.append("")
    if verdict["warnings"]:
        lines.append("### Warnings")
        lines.append("")
        lines.extend(f"- {_cell(w)}" for w in verdict["warnings"])
        lines.append("")
    if verdict.get("destructive_skipped"):
        lines.append("### Destructive tests not run (sensitive target)")
        lines.append("")
        lines.extend(f"- {_cell(n)}" for n in verdict["destructive_skipped"])
        lines.append("")
    return "\n".join(lines)


MAX_FINDINGS = 50


def _accepted_risks(verdict: dict[str, Any]) -> list[str]:
    """Who accepted which security risk, until when and why."""
    rows = accepted_rows(verdict)
    if not rows:
        return []
    lines = ["### Accepted risks", "", "| Rule | Owner | Expires | Reason | Where |",
             "|---|---|---|---|---|"]
    for row in rows:
        expires = f"**expired {row['expires']}**" if row["expired"] else row["expires"]
        lines.append(f"| `{_cell(row['rule'])}` | {_cell(row['owner'])} | {expires} | "
                     f"{_cell(row['reason'])} | {_cell(', '.join(row['where'][:3]))} |")
    lines.append("")
    return lines


def _security_findings(verdict: dict[str, Any]) -> list[str]:
    """A table of the security findings that matter (fail, warn), fail first."""
    found = [f for gate in verdict.get("gates", {}).values() for f in gate.get("findings", [])
             if isinstance(f, dict) and f.get("level") in ("fail", "warn")]
    if not found:
        return []
    found.sort(key=lambda f: (f.get("level") != "fail", str(f.get("rule"))))
    lines = ["### Security findings", "", "| Level | Rule | Severity | Where | Evidence |",
             "|---|---|---|---|---|"]
    for item in found[:MAX_FINDINGS]:
        where = item.get("url") or (f"{item.get('file')}:{item.get('line')}"
                                    if item.get("file") else "")
        lines.append(f"| {item.get('level')} | `{_cell(item.get('rule'))}` | "
                     f"{item.get('severity')} | {_cell(where)} | "
                     f"{_cell(str(item.get('evidence', ''))[:200])} |")
    if len(found) > MAX_FINDINGS:
        lines.append(f"\n... and {len(found) - MAX_FINDINGS} more in verdict.json")
    lines.append("")
    return lines
