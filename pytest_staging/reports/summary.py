"""Plain summaries of a verdict shared by the terminal, Markdown and HTML reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def gate_rows(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per gate: name, blocking/advisory, counts and status."""
    rows = []
    for name, gate in verdict.get("gates", {}).items():
        counts = gate["counts"]
        rows.append({
            "gate": name,
            "mode": "blocking" if gate["blocking"] else "advisory",
            "passed": counts["passed"],
            "failed": counts["failed"],
            "error": counts["error"],
            "skipped": counts["skipped"] + counts.get("xfailed", 0),
            "flaky": counts.get("flaky", 0),
            "status": gate["status"],
        })
    return rows


#: What each NO-GO judgement means, in the words of the reports.
JUDGEMENT_MEANING = {
    "failed": "evidence that the release is bad: a blocking test or check failed",
    "inconclusive": "the run could not judge the release (no evidence either way); still "
                    "NO-GO: fix the cause and run again",
}


def judgement_of(verdict: Mapping[str, Any]) -> str:
    """``passed``, ``failed`` or ``inconclusive``; "" for a NO-GO written before judgements
    existed (a GO is always ``passed``)."""
    if verdict.get("verdict") == "GO":
        return "passed"
    value = verdict.get("judgement")
    return value if value in JUDGEMENT_MEANING else ""


def verdict_label(verdict: Mapping[str, Any]) -> str:
    """``GO``, ``NO-GO (failed)``, ``NO-GO (inconclusive)`` (or ``NO-GO`` for an older file):
    the verdict word with its judgement, as every report shows it."""
    if verdict.get("verdict") == "GO":
        return "GO"
    judgement = judgement_of(verdict)
    return f"NO-GO ({judgement})" if judgement else "NO-GO"


def summary_view(verdict: dict[str, Any]) -> dict[str, Any]:
    """The verdict without what no summary shows: the per-test list and a shard's records
    (its collection and facts), so a summary never copies or escapes thousands of entries."""
    view = {k: v for k, v in verdict.items() if k != "tests"}
    if isinstance(view.get("shard"), dict):
        view["shard"] = {k: view["shard"].get(k) for k in ("index", "count", "run_id")}
    return view


def sharding(verdict: dict[str, Any]) -> str:
    """What a shard or a merged verdict is, in words ("" for a run of the whole suite)."""
    shard, merged = verdict.get("shard"), verdict.get("merged")
    if isinstance(shard, dict):
        return (f"shard {shard.get('index')}/{shard.get('count')} of run {shard.get('run_id')} "
                "(not deployable alone: merge the shards)")
    if isinstance(merged, dict):
        return f"merged from {len(merged.get('shards') or [])} shard verdict(s) of run " \
               f"{merged.get('run_id') or '(unknown)'}"
    return ""


def headline(verdict: dict[str, Any]) -> str:
    """One line of run facts: shard, target, version, duration, workers."""
    target = verdict.get("target", {})
    run = verdict.get("run", {})
    parts = [sharding(verdict)] if sharding(verdict) else []
    parts.append(f"target {target.get('url') or '(none)'}")
    observed = (target.get("observed_version") or {}).get("start")
    if observed:
        parts.append(f"version {observed}")
    elif target.get("expected_version"):
        parts.append(f"expected version {target['expected_version']}")
    parts.append(f"{run.get('duration', 0):.1f}s")
    if run.get("workers"):
        parts.append(f"{run['workers']} workers")
    return " · ".join(parts)


def security_line(verdict: dict[str, Any]) -> str:
    """The security gate's grade and findings by level, or "" when it has none."""
    grade = (verdict.get("gates", {}).get("security") or {}).get("grade")
    if not isinstance(grade, dict):
        return ""
    counts = grade.get("counts") or {}
    excluded = grade.get("excluding_accepted")
    if grade.get("grade") and isinstance(excluded, dict):
        text = (f"security grade {excluded.get('grade')} ({excluded.get('score')}/100) with "
                f"{excluded.get('accepted')} accepted risk(s) excluded, {grade['grade']} "
                f"({grade.get('score')}/100) counting them")
    elif grade.get("grade"):
        text = f"security grade {grade['grade']} ({grade.get('score')}/100)"
    else:
        text = "security grade: none (no passive HTTP check ran)"
    if grade.get("min_grade"):
        text += f", minimum {grade['min_grade']}"
    text += (f"; findings: {counts.get('fail', 0)} fail, {counts.get('warn', 0)} warn, "
             f"{counts.get('info', 0)} info, {counts.get('ignore', 0)} ignored")
    return text


def flaky_line(entry: Mapping[str, Any], facts: Mapping[str, Any]) -> str:
    """One flaky test as the reports name it."""
    return (f"{entry.get('nodeid')}: failed {entry.get('failed')} and passed "
            f"{entry.get('passed')} of the last {facts.get('runs_compared')} run(s) on "
            f"version {facts.get('version') or '(none observed)'}")


def quarantine_lines(verdict: dict[str, Any]) -> list[str]:
    """One line per quarantine entry: the test, what it did, owner and expiry."""
    lines = []
    for entry in verdict.get("quarantine") or []:
        if not isinstance(entry, dict):
            continue
        state = (f"expired {entry.get('expires')}, blocks again" if entry.get("expired")
                 is not False else f"until {entry.get('expires')}")
        lines.append(f"quarantined {entry.get('test')}: {entry.get('outcome') or 'not run'} "
                     f"(owner {entry.get('owner') or 'unknown'}, {state})")
    return lines


def history_lines(verdict: dict[str, Any]) -> list[str]:
    """What the history store said: the last GO, new failures since it, flaky tests."""
    history = verdict.get("history")
    if not isinstance(history, dict) or not set(history) - {"problems"}:
        return []
    go = history.get("last_go")
    lines = [f"history: last GO on this target: run {str(go.get('run_id'))[:12]} "
             f"({go.get('finished')})" if isinstance(go, dict)
             else "history: no GO recorded on this target yet"]
    new = history.get("new_failures") or []
    if new:
        lines.append(f"history: {history.get('new_failures_count', len(new))} new failure(s) "
                     "since the last GO: " + ", ".join(str(f.get("nodeid")) for f in new[:5])
                     + (" ..." if len(new) > 5 else ""))
    lines += [f"history: flaky: {flaky_line(f, history)}" for f in history.get("flaky") or []
              if isinstance(f, dict)]
    return lines
