"""verdict.md: the verdict for humans, in GitHub-flavoured Markdown."""

from __future__ import annotations

from typing import Any

from pytest_staging.gates.contract.report import markdown_lines as contract_lines
from pytest_staging.gates.parity.report import markdown_lines as parity_lines
from pytest_staging.gates.performance.report import markdown_lines as performance_lines
from pytest_staging.gates.security.accepted import accepted_rows
from pytest_staging.printable import printable_data
from pytest_staging.reports.markdown_text import md_code, md_escape, md_link
from pytest_staging.reports.summary import (
    JUDGEMENT_MEANING,
    gate_rows,
    headline,
    history_lines,
    judgement_of,
    quarantine_lines,
    security_line,
    summary_view,
    verdict_label,
)
from pytest_staging.trace_context import trace_link


def render_markdown(verdict: dict[str, Any]) -> str:
    """The whole verdict as Markdown: banner, reasons, a table of gates, failures, warnings.

    Every string that may come from the target or a test goes through :func:`md_escape`
    (after control characters are made visible), so none can add HTML, a heading or a
    banner of its own."""
    # The per-test list is not part of the summary: escaping (copying) thousands of entries
    # would be wasted.
    verdict = printable_data(summary_view(verdict))
    go = verdict["verdict"] == "GO"
    lines = [f"## {'✅' if go else '⛔'} {verdict_label(verdict)}: staging verdict", ""]
    lines.append(md_escape(headline(verdict)))
    lines.append("")
    judgement = judgement_of(verdict)
    if judgement in JUDGEMENT_MEANING:
        lines.append(f"**Judgement: {judgement}**: {JUDGEMENT_MEANING[judgement]}.")
        lines.append("")
    if verdict["reasons"]:
        lines.append("**Why NO-GO**")
        lines.append("")
        lines.extend(f"- {md_escape(r)}" for r in verdict["reasons"])
        lines.append("")
    rows = gate_rows(verdict)
    if rows:
        lines.append("| Gate | Mode | Passed | Failed | Errors | Skipped | Flaky | Status |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---|")
        for row in rows:
            lines.append(
                f"| {md_escape(row['gate'])} | {row['mode']} | {row['passed']} | {row['failed']} | "
                f"{row['error']} | {row['skipped']} | {row['flaky']} | {row['status']} |")
        lines.append("")
    security = security_line(verdict)
    if security:
        lines.append(f"**{md_escape(security[0].upper() + security[1:])}**")
        lines.append("")
    lines.extend(_security_findings(verdict))
    lines.extend(_accepted_risks(verdict))
    lines.extend(performance_lines(verdict))
    lines.extend(parity_lines(verdict))
    lines.extend(contract_lines(verdict))
    failures = [(name, f) for name, gate in verdict["gates"].items() for f in gate["failures"]]
    if failures:
        trace_url = str((verdict.get("run") or {}).get("trace_url") or "")
        lines.append("### Failures")
        lines.append("")
        for name, failure in failures:
            mark = "blocking" if failure.get("blocking") else "advisory"
            link = trace_link(trace_url, failure.get("trace_id"))
            lines.append(f"- **{md_escape(failure['nodeid'])}** ({name}, {mark}, "
                         f"{failure['outcome']}): {md_escape(failure.get('message', ''))}"
                         + (f" ({md_link('trace', link)})" if link else ""))
            for ex in failure.get("evidence", [])[-3:]:
                if ex.get("kind") == "browser":
                    lines.append(f"  - browser: {md_code(ex['url'])}, "
                                 f"{len(ex.get('console_errors') or [])} console error(s), "
                                 f"{len(ex.get('failed_requests') or [])} failed request(s)"
                                 + (f", screenshot {md_code(ex['screenshot'])}"
                                    if ex.get("screenshot") else ""))
                    continue
                status = ex.get("status") if ex.get("status") is not None else ex.get("error")
                link = trace_link(trace_url, ex.get("trace_id"))
                lines.append(f"  - {md_escape(ex['method'])} {md_escape(ex['url'])} -> "
                             f"{md_escape(status)} ({ex.get('latency_ms', 0):.0f} ms)"
                             + (f", {md_link('trace', link)}" if link else ""))
        lines.append("")
    for title, extra in (("Quarantined tests", quarantine_lines(verdict)),
                         ("History", history_lines(verdict))):
        if extra:
            lines += [f"### {title}", "", *(f"- {md_escape(x)}" for x in extra), ""]
    if verdict["warnings"]:
        lines.append("### Warnings")
        lines.append("")
        lines.extend(f"- {md_escape(w)}" for w in verdict["warnings"])
        lines.append("")
    if verdict.get("destructive_skipped"):
        lines.append("### Destructive tests not run (sensitive target)")
        lines.append("")
        lines.extend(f"- {md_escape(n)}" for n in verdict["destructive_skipped"])
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
        lines.append(f"| {md_code(row['rule'])} | {md_escape(row['owner'])} | {expires} | "
                     f"{md_escape(row['reason'])} | {md_escape(', '.join(row['where'][:3]))} |")
    lines.append("")
    return lines


def _security_findings(verdict: dict[str, Any]) -> list[str]:
    """A table of the security findings that matter (fail, warn), fail first."""
    # The parity gate's differences have their own section.
    found = [f for name, gate in verdict.get("gates", {}).items() if name != "parity"
             for f in gate.get("findings", [])
             if isinstance(f, dict) and f.get("level") in ("fail", "warn")]
    if not found:
        return []
    found.sort(key=lambda f: (f.get("level") != "fail", str(f.get("rule"))))
    lines = ["### Security findings", "", "| Level | Rule | Severity | Where | Evidence |",
             "|---|---|---|---|---|"]
    for item in found[:MAX_FINDINGS]:
        where = item.get("url") or (f"{item.get('file')}:{item.get('line')}"
                                    if item.get("file") else "")
        lines.append(f"| {md_escape(item.get('level'))} | {md_code(item.get('rule'))} | "
                     f"{md_escape(item.get('severity'))} | {md_escape(where)} | "
                     f"{md_escape(str(item.get('evidence', ''))[:200])} |")
    if len(found) > MAX_FINDINGS:
        lines.append(f"\n... and {len(found) - MAX_FINDINGS} more in verdict.json")
    lines.append("")
    return lines
