"""What a run learns from the history store before its verdict is decided (no pytest import):

- ``recent``: the last runs on the same target, oldest first (verdict.html's strip);
- ``last_go``: the latest complete GO on the same target, and ``new_failures``: the tests that
  fail now and did not fail there (passed there, or were not run there);
- ``flaky``: tests that both failed and passed on the same target version within the last
  ``window`` runs, this one included (a pass on retry counts as both).

:func:`read_past` does the store's part once; :func:`history_facts` combines it with the
current run's tests and can run again when the run is decided again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_staging.history.store import FAILED, Store

#: Runs shown in verdict.html's strip of recent verdicts.
RECENT = 20
#: Tests listed by name per list (the counts stay exact).
MAX_NAMED = 50


@dataclass
class Past:
    """The store's side of a run's history facts, read once."""

    window: int
    recent: list[dict[str, Any]] = field(default_factory=list)
    last_go: dict[str, Any] | None = None
    #: Outcome per node id at the last GO.
    at_last_go: dict[str, str] = field(default_factory=dict)
    #: Per node id: [failed, passed] over the previous runs of the flaky window.
    window_counts: dict[str, list[int]] = field(default_factory=dict)
    window_runs: int = 0


def read_past(store: Store, target: str, version: str | None, window: int) -> Past:
    """Read what :func:`history_facts` needs about ``target`` (at ``version``) from the store."""
    past = Past(window=window)
    rows = store.query("SELECT run_id, finished, verdict, version, duration FROM runs "
                       "WHERE target = ? ORDER BY id DESC LIMIT ?", (target, RECENT))
    past.recent = [{"run_id": r["run_id"], "finished": r["finished"], "verdict": r["verdict"],
                    "version": r["version"]} for r in reversed(rows)]
    go = store.query("SELECT id, run_id, finished, version FROM runs WHERE target = ? AND "
                     "verdict = 'GO' AND partial = 0 ORDER BY id DESC LIMIT 1", (target,))
    if go:
        past.last_go = {"run_id": go[0]["run_id"], "finished": go[0]["finished"],
                        "version": go[0]["version"]}
        past.at_last_go = {r["nodeid"]: r["outcome"] for r in store.query(
            "SELECT t.nodeid, r.outcome FROM results r JOIN tests t ON t.id = r.test "
            "WHERE r.run = ?", (go[0]["id"],))}
    # The same version: "IS" also matches two runs that observed no version at all.
    runs = [r["id"] for r in store.query(
        "SELECT id FROM runs WHERE target = ? AND version IS ? ORDER BY id DESC LIMIT ?",
        (target, version, max(window - 1, 0)))]
    past.window_runs = len(runs)
    if runs:
        marks = ", ".join("?" * len(runs))
        for r in store.query(
                "SELECT t.nodeid, sum(r.outcome IN ('failed', 'error') OR r.flaky) AS failed, "
                "sum(r.outcome = 'passed') AS passed FROM results r JOIN tests t ON "
                f"t.id = r.test WHERE r.run IN ({marks}) GROUP BY r.test", runs):
            past.window_counts[r["nodeid"]] = [int(r["failed"] or 0), int(r["passed"] or 0)]
    return past


def history_facts(past: Past, tests: Iterable[Any], version: str | None) -> dict[str, Any]:
    """The ``history`` object of the verdict: ``tests`` are the run's ``TestRecord``s (or
    anything with ``nodeid``, ``outcome`` and ``flaky``)."""
    failing: list[dict[str, Any]] = []
    flaky: list[dict[str, Any]] = []
    counts = {k: list(v) for k, v in past.window_counts.items()}
    for test in tests:
        failed = test.outcome in FAILED
        passed = test.outcome == "passed"
        if failed and past.last_go is not None:
            before = past.at_last_go.get(test.nodeid)
            if before not in FAILED:
                failing.append({"nodeid": test.nodeid, "outcome": test.outcome,
                                "at_last_go": before or "not run"})
        seen = counts.setdefault(test.nodeid, [0, 0])
        seen[0] += int(failed or test.flaky)
        seen[1] += int(passed)
    for nodeid, (failed_n, passed_n) in counts.items():
        if failed_n and passed_n:
            flaky.append({"nodeid": nodeid, "failed": failed_n, "passed": passed_n})
    flaky.sort(key=lambda f: (-min(f["failed"], f["passed"]), f["nodeid"]))
    return {
        "window": past.window,
        "version": version,
        "runs_compared": past.window_runs + 1,
        "recent": past.recent,
        "last_go": past.last_go,
        "new_failures": failing[:MAX_NAMED],
        "new_failures_count": len(failing),
        "flaky": flaky[:MAX_NAMED],
        "flaky_count": len(flaky),
    }


__all__ = ["MAX_NAMED", "RECENT", "Past", "history_facts", "read_past"]
