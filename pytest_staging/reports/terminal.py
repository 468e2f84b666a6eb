"""The terminal summary: one line per gate, then the verdict and its reasons."""

from __future__ import annotations

from typing import Any

from pytest_staging.gates.contract.report import terminal_lines as contract_lines
from pytest_staging.gates.parity.report import terminal_lines as parity_lines
from pytest_staging.gates.performance.report import terminal_lines as performance_lines
from pytest_staging.gates.security.accepted import terminal_lines as accepted_lines
from pytest_staging.printable import printable, printable_data
from pytest_staging.reports.summary import (
    gate_rows,
    headline,
    history_lines,
    quarantine_lines,
    security_line,
    summary_view,
    verdict_label,
)

#: (text, markup) pairs; markup uses pytest's TerminalWriter keywords (green, red, bold, ...).
Line = tuple[str, dict[str, bool]]
MAX_LINES = 12


def render_terminal(verdict: dict[str, Any], report_path: str = "") -> list[Line]:
    """The summary as lines with markup, so the plugin only has to write them.

    Control characters in any string (a reason quoting a response) print as visible escapes:
    an ``ESC[2J`` from the target must not clear the CI log."""
    # The per-test list is not printed here: escaping thousands of entries would be wasted.
    verdict = printable_data(summary_view(verdict))
    lines: list[Line] = []
    rows = gate_rows(verdict)
    width = max([len(r["gate"]) for r in rows] + [4])
    if rows:
        lines.append((f"{'gate':<{width}}  {'mode':<8}  passed failed errors skipped flaky  status",
                      {"bold": True}))
    for row in rows:
        bad = row["status"] in ("failed", "error", "empty") and row["mode"] == "blocking"
        warn = row["status"] in ("advisory", "empty") and not bad
        markup = {"red": True} if bad else {"yellow": True} if warn else {"green": True}
        lines.append((
            f"{row['gate']:<{width}}  {row['mode']:<8}  {row['passed']:>6} {row['failed']:>6} "
            f"{row['error']:>6} {row['skipped']:>7} {row['flaky']:>5}  {row['status']}",
            markup))
    security = security_line(verdict)
    if security:
        lines.append((security, {"bold": True}))
    lines.extend(performance_lines(verdict))
    lines.extend(parity_lines(verdict))
    lines.extend(contract_lines(verdict))
    go = verdict["verdict"] == "GO"
    lines.append((f"{verdict_label(verdict)}  {headline(verdict)}",
                  {"green": go, "red": not go, "bold": True}))
    for reason in verdict["reasons"][:MAX_LINES]:
        lines.append((f"  - {printable(reason, one_line=True)}", {"red": True}))
    if len(verdict["reasons"]) > MAX_LINES:
        lines.append((f"  - ... {len(verdict['reasons']) - MAX_LINES} more in the report", {}))
    warnings, accepted = accepted_lines(verdict, verdict["warnings"])
    for warning in warnings[:MAX_LINES]:
        lines.append((f"  ! {printable(warning, one_line=True)}", {"yellow": True}))
    if len(warnings) > MAX_LINES:
        lines.append((f"  ! ... {len(warnings) - MAX_LINES} more in the report", {}))
    extra = quarantine_lines(verdict) + history_lines(verdict)
    for line in extra[:MAX_LINES]:
        lines.append((f"  ~ {printable(line, one_line=True)}", {"yellow": True}))
    # Accepted risks: a decision with an owner and an expiry, not an ordinary warning.
    for text, expired in accepted[:MAX_LINES]:
        lines.append((f"  ~ {printable(text, one_line=True)}",
                      {"red": True} if expired else {"cyan": True}))
    if len(accepted) > MAX_LINES:
        lines.append((f"  ~ ... {len(accepted) - MAX_LINES} more in the report", {}))
    if report_path:
        lines.append((f"verdict: {report_path}", {}))
    return lines
