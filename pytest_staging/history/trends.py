"""The facts of the trends page (``pytest-staging history``), read from the store as plain data:
the last runs with their verdicts, gates, loads (with thresholds), grade and duration; flaky
tests ranked by flips; new failures since the last GO; the slowest tests. No pytest import;
rendering is ``reports/trends.py``.

A flip is a change between a failing and a passing outcome from one run of a test to the next
on the same target and version; a pass on retry is a flip of its own. Only tests that failed at
least once in the window are read one run at a time, so 500 runs of 1,000 tests stay fast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pytest_staging.history.store import FAILED, LOAD_METRICS, Store

#: Rows of each table on the page.
TOP = 20
#: Endpoints charted per load (the busiest).
MAX_ENDPOINTS = 8


def _runs(store: Store, last: int, target: str | None) -> list[dict[str, Any]]:
    where, params = ("WHERE target = ?", [target]) if target else ("", [])
    rows = store.query(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", [*params, last])
    runs = []
    for row in reversed(rows):
        run = dict(row)
        for key in ("reasons", "warnings", "versions"):
            try:
                run[key] = json.loads(run[key])
            except (TypeError, ValueError):
                run[key] = [] if key != "versions" else {}
        runs.append(run)
    return runs


def _in(ids: Sequence[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)  # row ids: integers from the store itself


def collect(store: Store, *, last: int = 100, target: str | None = None) -> dict[str, Any]:
    """Everything the trends page and its Markdown show about the last ``last`` runs."""
    runs = _runs(store, last, target)
    ids = [r["id"] for r in runs]
    index = {pk: i for i, pk in enumerate(ids)}
    data: dict[str, Any] = {"runs": runs, "targets": sorted({r["target"] for r in runs}),
                            "gates": {}, "loads": {}, "flaky": [], "new_failures": [],
                            "slowest": [], "last_go": None, "store": str(store.path)}
    if not runs:
        return data
    marks = _in(ids)
    for row in store.query(f"SELECT run, gate, status FROM gates WHERE run IN ({marks})"):
        data["gates"].setdefault(row["gate"], [None] * len(runs))[index[row["run"]]] = \
            row["status"]
    data["loads"] = _loads(store, marks, index, len(runs))
    data["flaky"] = _flaky(store, marks, runs)
    data["slowest"] = [dict(r) for r in store.query(
        "SELECT t.nodeid, t.gate, avg(r.duration_us) / 1e6 AS mean, max(r.duration_us) / 1e6 "
        f"AS longest, count(*) AS runs FROM results r JOIN tests t ON t.id = r.test WHERE "
        f"r.run IN ({marks}) AND r.outcome IN ('passed', 'failed', 'error') GROUP BY r.test "
        "ORDER BY mean DESC LIMIT ?", [TOP])]
    data["last_go"], data["new_failures"] = _new_failures(store, runs)
    return data


def _loads(store: Store, marks: str, index: dict[int, int], count: int) -> dict[str, Any]:
    loads: dict[str, Any] = {}
    for row in store.query(f"SELECT * FROM loads WHERE run IN ({marks})"):
        load = loads.setdefault(row["load"], {"total": {}, "endpoints": {}, "thresholds": {}})
        scope = load["endpoints"].setdefault(row["endpoint"], {}) if row["endpoint"] \
            else load["total"]
        at = index[row["run"]]
        for metric in LOAD_METRICS:
            if metric not in scope:
                scope[metric] = [None] * count
            scope[metric][at] = row[metric]
    for row in store.query(f"SELECT * FROM thresholds WHERE run IN ({marks}) AND "
                           "(endpoint IS NULL OR endpoint = '')"):
        load = loads.get(row["load"])
        if load is None or row["threshold"] is None:
            continue
        key = f"{row['metric']}|{row['expr']}"
        line = load["thresholds"].setdefault(key, {"metric": row["metric"], "expr": row["expr"],
                                                   "values": [None] * count})
        line["values"][index[row["run"]]] = row["threshold"]
    for load in loads.values():
        # The busiest endpoints, by requests over the window.
        busiest = sorted(load["endpoints"].items(),
                         key=lambda kv: -sum(v or 0 for v in kv[1].get("requests", [])))
        load["endpoints_omitted"] = max(len(busiest) - MAX_ENDPOINTS, 0)
        load["endpoints"] = dict(busiest[:MAX_ENDPOINTS])
    return loads


def _flaky(store: Store, marks: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tests ranked by flips between failing and passing on the same target and version."""
    where = {r["id"]: (r["target"], r["version"]) for r in runs}
    rows = store.query(
        "SELECT t.nodeid, r.run, r.outcome, r.flaky FROM results r JOIN tests t ON t.id = "
        f"r.test WHERE r.run IN ({marks}) AND r.test IN (SELECT test FROM results WHERE run IN "
        f"({marks}) AND (outcome IN ('failed', 'error') OR flaky)) ORDER BY r.test, r.run")
    tests: dict[str, dict[str, Any]] = {}
    last: dict[tuple[str, Any], bool] = {}
    for row in rows:
        entry = tests.setdefault(row["nodeid"], {"nodeid": row["nodeid"], "flips": 0,
                                                 "failed": 0, "passed": 0, "retried": 0,
                                                 "last": None, "versions": set()})
        failed = row["outcome"] in FAILED
        if row["outcome"] not in ("passed", *FAILED):
            continue
        entry["failed"] += int(failed)
        entry["passed"] += int(not failed)
        entry["retried"] += int(bool(row["flaky"]))
        entry["flips"] += int(bool(row["flaky"]))
        entry["last"] = row["outcome"]
        key = (row["nodeid"], where.get(row["run"]))
        if key in last and last[key] != failed:
            entry["flips"] += 1
            entry["versions"].add(where[row["run"]][1] or "(none observed)")
        last[key] = failed
    ranked = [t for t in tests.values() if t["flips"]]
    for test in ranked:
        test["versions"] = sorted(test["versions"])
    ranked.sort(key=lambda t: (-t["flips"], -t["failed"], t["nodeid"]))
    return ranked[:TOP]


def _new_failures(store: Store, runs: list[dict[str, Any]]
                  ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The latest run's failures that did not fail at the last complete GO of its target."""
    latest = runs[-1]
    go = store.query("SELECT id, run_id, finished, version FROM runs WHERE target = ? AND "
                     "verdict = 'GO' AND partial = 0 AND id <= ? ORDER BY id DESC LIMIT 1",
                     (latest["target"], latest["id"]))
    if not go:
        return None, []
    before = {r["nodeid"]: r["outcome"] for r in store.query(
        "SELECT t.nodeid, r.outcome FROM results r JOIN tests t ON t.id = r.test "
        "WHERE r.run = ?", (go[0]["id"],))}
    now = store.query(
        "SELECT t.nodeid, r.outcome, f.message FROM results r JOIN tests t ON t.id = r.test "
        "LEFT JOIN failures f ON f.run = r.run AND f.test = r.test WHERE r.run = ? AND "
        "r.outcome IN ('failed', 'error') ORDER BY t.nodeid", (latest["id"],))
    new = [{"nodeid": r["nodeid"], "outcome": r["outcome"], "message": r["message"] or "",
            "at_last_go": before.get(r["nodeid"], "not run")}
           for r in now if before.get(r["nodeid"]) not in FAILED]
    return dict(go[0]), new[:TOP * 5]


__all__ = ["MAX_ENDPOINTS", "TOP", "collect"]
