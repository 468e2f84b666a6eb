"""What changed between two verdicts, for the release notes of a promotion.

``diff_verdicts(old, new)`` returns plain data; ``render_diff_markdown`` turns it into Markdown.
Tests are matched by nodeid, findings by (gate, rule, location, title), metrics by gate and
dotted path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_staging.reports.html import display_value, flatten_metrics, ordered_gate_names
from pytest_staging.reports.markdown_text import md_code, md_escape

FAILING = ("failed", "error")
#: A metric change of at least this many percent is significant (listed first, always shown).
SIGNIFICANT_PERCENT = 10.0


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _tests(verdict: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for t in verdict.get("tests") or []:
        if isinstance(t, Mapping) and t.get("nodeid"):
            out[str(t["nodeid"])] = dict(t)
    return out


def _finding_key(gate: str, f: Mapping[str, Any]) -> tuple[str, ...]:
    where = f"{f.get('file')}:{f.get('line')}" if f.get("file") else str(f.get("url") or "")
    return (gate, str(f.get("rule") or f.get("test_id") or ""), where, str(f.get("title") or ""))


def _findings(verdict: Mapping[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    gates = _dict(verdict.get("gates"))
    out = {}
    for gate in ordered_gate_names(gates):
        for f in _dict(gates[gate]).get("findings") or []:
            if isinstance(f, Mapping):
                out[_finding_key(gate, f)] = {"gate": gate, **f}
    return out


def _metrics(verdict: Mapping[str, Any]) -> dict[str, Any]:
    gates = _dict(verdict.get("gates"))
    out: dict[str, Any] = {}
    for gate in ordered_gate_names(gates):
        for name, value in flatten_metrics(_dict(gates[gate]).get("metrics")):
            out[f"{gate}.{name}"] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _version(verdict: Mapping[str, Any]) -> Any:
    observed = _dict(_dict(verdict.get("target")).get("observed_version"))
    return observed.get("end", observed.get("start"))


def _significant(change: Mapping[str, Any], percent: float) -> bool:
    """A metric that appeared, vanished, changed kind, moved off zero, or by >= percent."""
    if "delta" not in change:
        return True
    if change.get("percent") is None:
        return change["delta"] != 0
    return abs(float(change["percent"])) >= percent


def diff_verdicts(old: Mapping[str, Any], new: Mapping[str, Any],
                  significant_percent: float = SIGNIFICANT_PERCENT) -> dict[str, Any]:
    """Compare two verdict dicts; every value in the result is a builtin. Metric changes are
    ordered significant first (largest relative change first), each marked ``significant``."""
    old_tests, new_tests = _tests(old), _tests(new)
    newly_failing, fixed, newly_flaky = [], [], []
    for nodeid, t in new_tests.items():
        before = old_tests.get(nodeid)
        was_failing = before is not None and before.get("outcome") in FAILING
        if t.get("outcome") in FAILING and not was_failing:
            newly_failing.append({"nodeid": nodeid, "gate": t.get("gate"),
                                  "outcome": t.get("outcome"),
                                  "before": before.get("outcome") if before else None})
        elif was_failing and t.get("outcome") not in FAILING:
            fixed.append({"nodeid": nodeid, "gate": t.get("gate"), "outcome": t.get("outcome")})
        if t.get("flaky") is True and not (before or {}).get("flaky"):
            newly_flaky.append({"nodeid": nodeid, "gate": t.get("gate")})

    old_f, new_f = _findings(old), _findings(new)
    old_m, new_m = _metrics(old), _metrics(new)
    metric_changes = []
    for name in [*old_m, *(k for k in new_m if k not in old_m)]:
        a, b = old_m.get(name), new_m.get(name)
        if a == b:
            continue
        change: dict[str, Any] = {"metric": name, "old": a, "new": b}
        if _is_number(a) and _is_number(b):
            change["delta"] = b - a
            change["percent"] = round((b - a) / a * 100, 1) if a else None
        change["significant"] = _significant(change, significant_percent)
        metric_changes.append(change)
    metric_changes.sort(key=lambda c: (not c["significant"], -abs(c.get("percent") or 0.0)
                                       if c.get("percent") is not None else -1e18))

    old_gates, new_gates = _dict(old.get("gates")), _dict(new.get("gates"))
    gate_changes = []
    for gate in ordered_gate_names({**old_gates, **new_gates}):
        a = _dict(old_gates.get(gate)).get("status")
        b = _dict(new_gates.get(gate)).get("status")
        if a != b:
            gate_changes.append({"gate": gate, "old": a, "new": b})

    old_reasons, new_reasons = list(old.get("reasons") or []), list(new.get("reasons") or [])
    return {
        "verdict": {"old": old.get("verdict"), "new": new.get("verdict"),
                    "changed": old.get("verdict") != new.get("verdict")},
        "version": {"old": _version(old), "new": _version(new)},
        "gates": gate_changes,
        "newly_failing": newly_failing,
        "fixed": fixed,
        "newly_flaky": newly_flaky,
        "added_tests": sorted(set(new_tests) - set(old_tests)),
        "removed_tests": sorted(set(old_tests) - set(new_tests)),
        "new_findings": [new_f[k] for k in new_f if k not in old_f],
        "resolved_findings": [old_f[k] for k in old_f if k not in new_f],
        "metric_changes": metric_changes,
        "significant_percent": significant_percent,
        "new_reasons": [r for r in new_reasons if r not in old_reasons],
        "resolved_reasons": [r for r in old_reasons if r not in new_reasons],
    }


def has_changes(d: Mapping[str, Any]) -> bool:
    """True when the diff holds anything beyond identical verdicts."""
    return bool(d["verdict"]["changed"] or d["version"]["old"] != d["version"]["new"] or any(
        d[k] for k in ("gates", "newly_failing", "fixed", "newly_flaky", "added_tests",
                       "removed_tests", "new_findings", "resolved_findings", "metric_changes",
                       "new_reasons", "resolved_reasons")))


def _finding_line(f: Mapping[str, Any]) -> str:
    where = f"{f.get('file')}:{f.get('line')}" if f.get("file") else f.get("url") or ""
    rule = f.get("rule") or f.get("test_id") or "?"
    sev = f"{f.get('severity', '?')}/{f.get('level', '?')}"
    return f"- {md_code(rule)} ({sev}, {f['gate']}) {md_escape(f.get('title', ''))}" + (
        f" at {md_escape(where)}" if where else "")


def render_diff_markdown(d: Mapping[str, Any], all_metrics: bool = False) -> str:
    """Release-notes Markdown for a diff from ``diff_verdicts``: what changed significantly
    first; metric changes under the significance threshold only counted unless
    ``all_metrics``."""
    v, ver = d["verdict"], d["version"]
    lines = ["## Staging verdict changes", ""]
    arrow = f"{v['old']} -> {v['new']}" if v["changed"] else f"{v['new']} (unchanged)"
    lines.append(f"- **Verdict:** {arrow}")
    if ver["old"] != ver["new"]:
        lines.append(f"- **Version:** {md_escape(display_value(ver['old']))} -> "
                     f"{md_escape(display_value(ver['new']))}")
    for g in d["gates"]:
        lines.append(f"- **Gate {md_escape(g['gate'])}:** {g['old'] or 'absent'} -> "
                     f"{g['new'] or 'absent'}")
    sections: list[tuple[str, list[str]]] = [
        ("New NO-GO reasons", [f"- {md_escape(r)}" for r in d["new_reasons"]]),
        ("Resolved NO-GO reasons", [f"- {md_escape(r)}" for r in d["resolved_reasons"]]),
        ("Newly failing tests", [
            f"- {md_code(t['nodeid'])} ({t['gate']}, {t['outcome']}"
            + (f", was {t['before']})" if t["before"] else ", new test)")
            for t in d["newly_failing"]]),
        ("Fixed tests", [f"- {md_code(t['nodeid'])} ({t['gate']}, now {t['outcome']})"
                         for t in d["fixed"]]),
        ("Newly flaky tests", [f"- {md_code(t['nodeid'])} ({t['gate']})"
                               for t in d["newly_flaky"]]),
        ("New findings", [_finding_line(f) for f in d["new_findings"]]),
        ("Resolved findings", [_finding_line(f) for f in d["resolved_findings"]]),
    ]
    for title, items in sections:
        if items:
            lines += ["", f"### {title} ({len(items)})", "", *items]
    changes = list(d["metric_changes"])
    shown = changes if all_metrics else [m for m in changes if m.get("significant", True)]
    hidden = len(changes) - len(shown)
    if shown:
        title = "Metric changes" if all_metrics else "Significant metric changes"
        lines += ["", f"### {title} ({len(shown)})", "",
                  "| metric | old | new | change |", "|---|---:|---:|---:|"]
        for m in shown:
            change = ""
            if "delta" in m:
                change = f"{m['delta']:+.4g}"
                if m.get("percent") is not None:
                    change += f" ({m['percent']:+.1f}%)"
            lines.append(f"| {md_code(m['metric'])} | {md_escape(display_value(m['old']))} | "
                         f"{md_escape(display_value(m['new']))} | {change} |")
    if hidden:
        threshold = d.get("significant_percent", SIGNIFICANT_PERCENT)
        lines += ["", f"{hidden} smaller metric change(s) (under {threshold:g}%) not listed: "
                      "`pytest-staging diff --all-metrics` lists them, `--format json` has "
                      "them all."]
    if d["added_tests"] or d["removed_tests"]:
        lines += ["", f"Tests added: {len(d['added_tests'])}, removed: "
                      f"{len(d['removed_tests'])}."]
    if not has_changes(d):
        lines += ["", "No changes."]
    return "\n".join(lines) + "\n"
