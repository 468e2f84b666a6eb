"""What changed between two verdicts, for the release notes of a promotion.

``diff_verdicts(old, new)`` returns plain data; ``render_diff_markdown`` turns it into Markdown.
Tests are matched by nodeid, findings by (gate, rule, location, title), metrics by gate and
dotted path.

Unmeasured is not resolved: a finding, metric, test or reason missing from one side because
what would have measured it did not run there (the target was down, the run stopped, its gate
or its test did not run, a partial run left it out) is "not measured", never "resolved",
"fixed", "removed", "added" or a metric change. A finding records the test that made it
(``nodeid``): it is resolved only when that test ran again; without one (an older verdict),
only when its whole gate ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_staging.reports.html import display_value, flatten_metrics, ordered_gate_names
from pytest_staging.reports.markdown_text import md_code, md_escape

FAILING = ("failed", "error")
#: Outcomes of a test that measured what it checks (an error is a setup or teardown failure).
MEASURED = ("passed", "failed")
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


class Measured:
    """What one verdict's run measured: nothing unless its target was ready; a test measured
    when it passed or failed; a gate ran when one of its tests did, and ran whole when every
    test of it did in a complete run that left nothing out."""

    def __init__(self, verdict: Mapping[str, Any]) -> None:
        run, target = _dict(verdict.get("run")), _dict(verdict.get("target"))
        self.reached = target.get("ready_after") is not None
        selection = _dict(verdict.get("selection"))
        # Whatever an interrupted or partial run did not list, it may simply not have reached.
        self.partial = bool(selection.get("partial") or run.get("partial")
                            or "selection" not in verdict or run.get("complete") is not True)
        self.tests = _tests(verdict)
        gates = _dict(verdict.get("gates"))
        self.gates_ran = {g for g in gates if self.reached and any(
            t.get("gate") == g and t.get("outcome") in MEASURED for t in self.tests.values())}
        self.gates_whole = {g for g in self.gates_ran if not self.partial and all(
            t.get("outcome") in MEASURED for t in self.tests.values() if t.get("gate") == g)}

    def whole(self, gate: Any) -> bool:
        """Whether the run would have listed every test of ``gate``: it reached its target,
        left nothing out, and the gate ran."""
        return not self.partial and gate in self.gates_ran

    def test(self, nodeid: Any) -> bool:
        return self.reached and (self.tests.get(str(nodeid)) or {}).get("outcome") in MEASURED

    def finding(self, f: Mapping[str, Any]) -> bool:
        """Whether this run would have found ``f`` again had it still been there."""
        if f.get("nodeid"):
            return self.test(f["nodeid"])
        return str(f.get("gate")) in self.gates_whole

    def metric(self, name: str) -> bool:
        return name.split(".", 1)[0] in self.gates_whole

    def reason(self, reason: str, gates: set[str]) -> bool:
        """A gate's reason (``"security: ..."``, for one of ``gates``) is checked again only
        where the gate ran; a reason of the run itself (its target, a signal) always is."""
        gate = reason.split(":", 1)[0]
        return gate in self.gates_ran if gate in gates else True


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
    ordered significant first (largest relative change first), each marked ``significant``.
    What one side did not measure goes to ``not_measured`` (``side``: the run that did not
    measure it), never to the resolved, fixed, removed, added or changed lists."""
    was, now = Measured(old), Measured(new)
    old_tests, new_tests = was.tests, now.tests
    unmeasured_tests: list[dict[str, Any]] = []
    newly_failing, fixed, newly_flaky = [], [], []
    for nodeid, t in new_tests.items():
        before = old_tests.get(nodeid)
        was_failing = before is not None and before.get("outcome") in FAILING
        if t.get("outcome") in FAILING and not was_failing:
            newly_failing.append({"nodeid": nodeid, "gate": t.get("gate"),
                                  "outcome": t.get("outcome"),
                                  "before": before.get("outcome") if before else None,
                                  # absent before: new to the suite, or the old run missed it
                                  "new_test": before is None and was.whole(t.get("gate"))})
        elif was_failing and t.get("outcome") not in FAILING:
            if now.test(nodeid):
                fixed.append({"nodeid": nodeid, "gate": t.get("gate"),
                              "outcome": t.get("outcome")})
            else:  # skipped, xfailed, incomplete: it says nothing of the failure
                unmeasured_tests.append({"nodeid": nodeid, "gate": t.get("gate"),
                                         "before": before.get("outcome"),
                                         "now": t.get("outcome"), "side": "new"})
        if t.get("flaky") is True and not (before or {}).get("flaky"):
            newly_flaky.append({"nodeid": nodeid, "gate": t.get("gate")})
    removed, added = [], []
    for nodeid in sorted(set(old_tests) - set(new_tests)):
        t = old_tests[nodeid]
        if now.whole(t.get("gate")):
            removed.append(nodeid)
        else:  # the new run did not get to it: not a test taken out of the suite
            unmeasured_tests.append({"nodeid": nodeid, "gate": t.get("gate"),
                                     "before": t.get("outcome"), "now": None, "side": "new"})
    for nodeid in sorted(set(new_tests) - set(old_tests)):
        t = new_tests[nodeid]
        if was.whole(t.get("gate")):
            added.append(nodeid)
        else:
            unmeasured_tests.append({"nodeid": nodeid, "gate": t.get("gate"), "before": None,
                                     "now": t.get("outcome"), "side": "old"})

    old_f, new_f = _findings(old), _findings(new)
    new_findings, resolved_findings, unmeasured_findings = [], [], []
    for key, f in new_f.items():
        if key in old_f:
            continue
        if was.finding(f):
            new_findings.append(f)
        else:
            unmeasured_findings.append({**f, "side": "old"})
    for key, f in old_f.items():
        if key in new_f:
            continue
        if now.finding(f):
            resolved_findings.append(f)
        else:
            unmeasured_findings.append({**f, "side": "new"})

    old_m, new_m = _metrics(old), _metrics(new)
    metric_changes, unmeasured_metrics = [], []
    for name in [*old_m, *(k for k in new_m if k not in old_m)]:
        a, b = old_m.get(name), new_m.get(name)
        if a == b:
            continue
        if (b is None and not now.metric(name)) or (a is None and not was.metric(name)):
            unmeasured_metrics.append({"metric": name, "old": a, "new": b,
                                       "side": "new" if b is None else "old"})
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

    names = set(old_gates) | set(new_gates)
    old_reasons, new_reasons = list(old.get("reasons") or []), list(new.get("reasons") or [])
    gone = [r for r in old_reasons if r not in new_reasons]
    return {
        "verdict": {"old": old.get("verdict"), "new": new.get("verdict"),
                    "changed": old.get("verdict") != new.get("verdict")},
        "version": {"old": _version(old), "new": _version(new)},
        "gates": gate_changes,
        "newly_failing": newly_failing,
        "fixed": fixed,
        "newly_flaky": newly_flaky,
        "added_tests": added,
        "removed_tests": removed,
        "new_findings": new_findings,
        "resolved_findings": resolved_findings,
        "metric_changes": metric_changes,
        "significant_percent": significant_percent,
        "new_reasons": [r for r in new_reasons if r not in old_reasons],
        "resolved_reasons": [r for r in gone if now.reason(str(r), names)],
        "not_measured": {
            "gates": {"old": sorted(g for g in old_gates if g not in was.gates_ran),
                      "new": sorted(g for g in new_gates if g not in now.gates_ran)},
            "tests": unmeasured_tests,
            "findings": unmeasured_findings,
            "metrics": unmeasured_metrics,
            "reasons": [r for r in gone if not now.reason(str(r), names)],
        },
    }


def has_changes(d: Mapping[str, Any]) -> bool:
    """True when the diff holds anything beyond identical verdicts."""
    unmeasured = _dict(d.get("not_measured"))
    return bool(d["verdict"]["changed"] or d["version"]["old"] != d["version"]["new"] or any(
        d[k] for k in ("gates", "newly_failing", "fixed", "newly_flaky", "added_tests",
                       "removed_tests", "new_findings", "resolved_findings", "metric_changes",
                       "new_reasons", "resolved_reasons"))
        or any(unmeasured.get(k) for k in ("tests", "findings", "metrics", "reasons")))


def _finding_line(f: Mapping[str, Any]) -> str:
    where = f"{f.get('file')}:{f.get('line')}" if f.get("file") else f.get("url") or ""
    rule = f.get("rule") or f.get("test_id") or "?"
    sev = f"{f.get('severity', '?')}/{f.get('level', '?')}"
    return f"- {md_code(rule)} ({sev}, {f['gate']}) {md_escape(f.get('title', ''))}" + (
        f" at {md_escape(where)}" if where else "")


#: Lines of one kind listed in a "not measured" section before "... and N more".
MAX_UNMEASURED = 20


def _unmeasured_lines(unmeasured: Mapping[str, Any], side: str) -> list[str]:
    """Markdown lines of what the ``side`` run ("old" or "new") did not measure: findings
    one by one, metrics by gate, tests and reasons one by one (each kind capped)."""
    def capped(lines: list[str], what: str) -> list[str]:
        if len(lines) <= MAX_UNMEASURED:
            return lines
        return [*lines[:MAX_UNMEASURED],
                f"- ... and {len(lines) - MAX_UNMEASURED} more {what} (`--format json` lists "
                "them all)"]

    lines = capped([_finding_line(f) for f in unmeasured.get("findings") or []
                    if f.get("side") == side], "finding(s)")
    by_gate: dict[str, list[str]] = {}
    for m in unmeasured.get("metrics") or []:
        if m.get("side") == side:
            value = m["old"] if side == "new" else m["new"]
            gate = str(m["metric"]).split(".", 1)[0]
            by_gate.setdefault(gate, []).append(
                f"{md_code(m['metric'])} {md_escape(display_value(value))}")
    for gate, shown in by_gate.items():
        lines.append(f"- {len(shown)} metric(s) of {md_escape(gate)} "
                     f"({'values of the old run' if side == 'new' else 'values now'}): "
                     + ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else ""))
    tests = []
    for t in unmeasured.get("tests") or []:
        if t.get("side") != side:
            continue
        gate = md_escape(str(t.get("gate")))
        if side == "new":
            now = f"now {t['now']}" if t.get("now") else "not run"
            tests.append(f"- test {md_code(t['nodeid'])} ({gate}, was {t.get('before')}; "
                         f"{now})")
        else:
            tests.append(f"- test {md_code(t['nodeid'])} ({gate}, now {t.get('now')}; "
                         "not run before)")
    lines += capped(tests, "test(s)")
    if side == "new":
        lines += capped([f"- reason no longer checked: {md_escape(r)}"
                         for r in unmeasured.get("reasons") or []], "reason(s)")
    return lines


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
            + (f", was {t['before']})" if t["before"]
               else ", new test)" if t.get("new_test", True) else ", not run before)")
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
    unmeasured = _dict(d.get("not_measured"))
    for side in ("new", "old"):
        items = _unmeasured_lines(unmeasured, side)
        if not items:
            continue
        idle = (_dict(unmeasured.get("gates")).get(side) or [])
        lines += ["", f"### Not measured in the {side} run ({len(items)})", "",
                  f"The {side} run did not run what measures these (its target was not ready, "
                  "it stopped early, or their gate or test did not run), so they are neither "
                  "resolved nor changed"
                  + (f"; gates that ran no test: {md_escape(', '.join(idle))}" if idle else "")
                  + ".", "", *items]
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
