"""verdict.md: the verdict for humans, in GitHub-flavoured Markdown."""

from __future__ import annotations

import re
from typing import Any

from pytest_staging.gates.contract.report import markdown_lines as contract_lines
from pytest_staging.gates.parity.report import markdown_lines as parity_lines
from pytest_staging.gates.performance.report import markdown_lines as performance_lines
from pytest_staging.gates.security.accepted import accepted_rows
from pytest_staging.printable import printable_data
from pytest_staging.reports.summary import gate_rows, headline, security_line

#: Characters with a meaning in GitHub-flavoured Markdown inline text (emphasis, code, links
#: and images, tables, strikethrough, math), backslash-escaped. A line never starts with
#: untrusted text here, so line-start syntax (#, -, +, >) cannot apply.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|~$])")
#: An underscore opens or closes emphasis only at a word's edge: ``test_checkout`` stays
#: greppable, ``_x_`` is escaped.
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
#: ``:white_check_mark:`` renders as an emoji on GitHub: a fake green tick.
_EMOJI = re.compile(r":([A-Za-z0-9_+-]+):")


def md_escape(text: object) -> str:
    """The one Markdown escaper: untrusted text (a reason, a response snippet, a URL) as
    plain inline text. HTML becomes entities, Markdown syntax is backslash-escaped, emoji
    shortcodes are broken up, and newlines become spaces (a cell or a list item stays one)."""
    value = _EMOJI.sub(":\u200b\\1\u200b:", str(text))
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    value = _EDGE_UNDERSCORE.sub(r"\\_", value)
    return " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value


_cell = md_escape


def render_markdown(verdict: dict[str, Any]) -> str:
    """The whole verdict as Markdown: banner, reasons, a table of gates, failures, warnings.

    Every string that may come from the target or a test goes through :func:`md_escape`
    (after control characters are made visible), so none can add HTML, a heading or a
    banner of its own."""
    # The per-test list is not part of the summary: escaping (copying) thousands of entries
    # would be wasted.
    verdict = printable_data({k: v for k, v in verdict.items() if k != "tests"})
    go = verdict["verdict"] == "GO"
    lines = [f"## {'✅' if go else '⛔'} {verdict['verdict']}: staging verdict", ""]
    lines.append(_cell(headline(verdict)))
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
                f"| {_cell(row['gate'])} | {row['mode']} | {row['passed']} | {row['failed']} | "
                f"{row['error']} | {row['skipped']} | {row['flaky']} | {row['status']} |")
        lines.append("")
    security = security_line(verdict)
    if security:
        lines.append(f"**{_cell(security[0].upper() + security[1:])}**")
        lines.append("")
    lines.extend(_security_findings(verdict))
    lines.extend(_accepted_risks(verdict))
    lines.extend(performance_lines(verdict))
    lines.extend(parity_lines(verdict))
    lines.extend(contract_lines(verdict))
    failures = [(name, f) for name, gate in verdict["gates"].items() for f in gate["failures"]]
    if failures:
        lines.append("### Failures")
        lines.append("")
        for name, failure in failures:
            mark = "blocking" if failure.get("blocking") else "advisory"
            lines.append(f"- **{_cell(failure['nodeid'])}** ({name}, {mark}, "
                         f"{failure['outcome']}): {_cell(failure.get('message', ''))}")
            for ex in failure.get("evidence", [])[-3:]:
                if ex.get("kind") == "browser":
                    lines.append(f"  - browser: `{_cell(ex['url'])}`, "
                                 f"{len(ex.get('console_errors') or [])} console error(s), "
                                 f"{len(ex.get('failed_requests') or [])} failed request(s)"
                                 + (f", screenshot `{_cell(ex['screenshot'])}`"
                                    if ex.get("screenshot") else ""))
                    continue
                status = ex.get("status") if ex.get("status") is not None else ex.get("error")
                lines.append(f"  - {_cell(ex['method'])} {_cell(ex['url'])} -> "
                             f"{_cell(status)} ({ex.get('latency_ms', 0):.0f} ms)")
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
        rule = str(item.get("rule")).replace("`", "'").replace("|", "/")
        lines.append(f"| {_cell(item.get('level'))} | `{rule}` | "
                     f"{_cell(item.get('severity'))} | {_cell(where)} | "
                     f"{_cell(str(item.get('evidence', ''))[:200])} |")
    if len(found) > MAX_FINDINGS:
        lines.append(f"\n... and {len(found) - MAX_FINDINGS} more in verdict.json")
    lines.append("")
    return lines
