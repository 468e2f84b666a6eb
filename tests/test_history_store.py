"""The history store on its own: schema and migrations, one transaction per run, concurrent
writers, and every way a store can be unusable (each a StoreError naming file and cause)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_staging.history import store as store_mod
from pytest_staging.history.baseline import last_go_loads
from pytest_staging.history.facts import history_facts, read_past
from pytest_staging.history.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    StoreError,
    load_metrics,
    migrate,
    open_store,
)
from pytest_staging.verdict import TestRecord

TARGET = "http://127.0.0.1:9/"


def verdict(run_id: str, go: bool, outcomes: dict[str, str], *, p95: float = 10.0,
            version: str | None = "1.0", target: str = TARGET) -> dict[str, Any]:
    """A verdict dict as decide() makes it, with one load."""
    tests = [{"nodeid": n, "gate": "integration", "outcome": o, "duration": 0.5,
              "blocking": True, "flaky": False} for n, o in outcomes.items()]
    failures = [{"nodeid": n, "outcome": o, "message": f"{n} broke", "blocking": True}
                for n, o in outcomes.items() if o in ("failed", "error")]
    load = {"requests": 100, "failures": 0, "successes": 100, "fail_ratio": 0.0, "rps": 50.0,
            "p50": p95 / 2, "p95": p95, "p99": p95 * 2,
            "endpoints": {"GET /slow": {"requests": 100, "p95": p95, "rps": 50.0}}}
    return {
        "verdict": "GO" if go else "NO-GO", "reasons": [] if go else ["it broke"],
        "warnings": [],
        "run": {"id": run_id, "started": "2026-01-01T00:00:00Z",
                "finished": "2026-01-01T00:01:00Z", "duration": 60.0, "partial": False,
                "exit_status": 0 if go else 1, "versions": {"python": "3"}},
        "target": {"url": target, "observed_version": {"start": version, "end": version}},
        "gates": {
            "integration": {"status": "passed" if go else "failed", "blocking": True, "ran": 2,
                            "counts": {"passed": 2}, "failures": failures},
            "performance": {"status": "passed", "blocking": True, "ran": 1, "counts": {},
                            "failures": [], "metrics": {"load": load},
                            "checks": [{"name": "load: p95 < 300ms", "load": "load",
                                        "kind": "threshold", "expr": "p95 < 300ms",
                                        "metric": "p95", "endpoint": None, "limit": 300.0,
                                        "passed": True}]},
            "security": {"status": "passed", "blocking": True, "counts": {}, "failures": [],
                         "grade": {"grade": "B", "score": 75},
                         "findings": [{"rule": "csp-missing", "level": "warn"}]},
        },
        "tests": tests,
        "provenance": {"subject": "shop@1.0", "commit": "abc123", "ci": {"run_id": "77"}},
    }


def test_append_records_every_fact_and_a_rerun_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path, write=True) as store:
        store.append(verdict("r1", True, {"t::a": "passed", "t::b": "passed"}))
        store.append(verdict("r1", False, {"t::a": "passed", "t::b": "failed"}))  # decided again
        runs = store.query("SELECT * FROM runs")
        assert len(runs) == 1 and runs[0]["verdict"] == "NO-GO"
        assert (runs[0]["subject"], runs[0]["commit_sha"], runs[0]["ci_run"]) == (
            "shop@1.0", "abc123", "77")
        assert (runs[0]["grade"], runs[0]["score"], runs[0]["version"]) == ("B", 75, "1.0")
        results = store.query("SELECT t.nodeid, r.outcome, r.duration_us FROM results r "
                              "JOIN tests t ON t.id = r.test ORDER BY t.nodeid")
        assert [tuple(r) for r in results] == [("t::a", "passed", 500000),
                                               ("t::b", "failed", 500000)]
        assert store.query("SELECT message FROM failures")[0][0] == "t::b broke"
        assert [tuple(r) for r in store.query("SELECT gate, status FROM gates ORDER BY gate")
                ] == [("integration", "failed"), ("performance", "passed"),
                      ("security", "passed")]
        assert [tuple(r) for r in store.query("SELECT rule, level, count FROM findings")] == [
            ("csp-missing", "warn", 1)]
        loads = load_metrics(store, runs[0]["id"])
        assert loads["load"]["p95"] == 10.0 and loads["load"]["endpoints"]["GET /slow"][
            "p95"] == 10.0
        assert store.query("SELECT threshold FROM thresholds")[0][0] == 300.0
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_a_failed_append_leaves_nothing_half_written(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path, write=True) as store:
        store.append(verdict("r1", True, {"t::a": "passed"}))
        bad = verdict("r2", True, {"t::a": "passed"})
        bad["run"]["id"] = ""  # refused inside the transaction, after nothing was written
        with pytest.raises(StoreError, match="run id"):
            store.append(bad)
        bad = verdict("r3", True, {"t::a": "passed"})
        bad["tests"].append({"nodeid": "t::c", "gate": "integration", "outcome": "passed",
                             "duration": float("nan"), "blocking": True})
        bad["gates"]["performance"]["metrics"]["load"]["p95"] = object()  # not a number
        store.append(bad)  # odd values are stored as not measured, not a crash
        assert [r[0] for r in store.query("SELECT run_id FROM runs ORDER BY id")] == ["r1", "r3"]
        assert load_metrics(store, store.query("SELECT id FROM runs WHERE run_id = 'r3'")[0][0]
                            )["load"]["p95"] is None


def test_migrations_run_once_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path, write=True) as store:
        store.append(verdict("r1", True, {"t::a": "passed"}))
        # A future migration: applied once, in order, the data kept.
        more = (*store_mod.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT",))
        assert migrate(store, more) == SCHEMA_VERSION + 1
        assert migrate(store, more) == SCHEMA_VERSION + 1
        assert store.query("SELECT run_id, note FROM runs")[0][0] == "r1"
    with pytest.raises(StoreError, match=r"schema version 2, newer than this pytest-staging "
                                         r"knows \(1\): upgrade"), open_store(path, write=True):
        pass


@pytest.mark.parametrize("content,why", [
    (b"this is not a database at all" * 100, "is not a SQLite database"),
    (b"SQLite format 3\x00" + b"\xff" * 4000, "is not a SQLite database|corrupt"),
])
def test_garbage_is_refused_in_words(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "h.db"
    path.write_bytes(content)
    for write in (True, False):
        with pytest.raises(StoreError, match=why) as info, open_store(path, write=write):
            pass
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == content  # never "repaired" into an empty store


def test_another_programs_database_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(StoreError, match="another program's SQLite database"), \
            open_store(path, write=True):
        pass
    with sqlite3.connect(path) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["users"]


def test_a_locked_store_gives_up_after_bounded_waits(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT", 0.2)
    path = tmp_path / "h.db"
    with open_store(path, write=True) as store:
        store.append(verdict("r1", True, {"t::a": "passed"}))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="is locked by another process"), \
                open_store(path, write=True) as store:
            store.append(verdict("r2", True, {"t::a": "passed"}))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_two_writers_at_once_both_land(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path, write=True):
        pass
    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        try:
            for i in range(15):
                with open_store(path, write=True) as store:
                    store.append(verdict(f"{prefix}{i}", True,
                                         {f"t::{prefix}{j}": "passed" for j in range(50)}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    with open_store(path, write=False) as store:
        assert store.query("SELECT count(*) FROM runs")[0][0] == 30
        assert store.query("SELECT count(*) FROM results")[0][0] == 30 * 50


def test_facts_flaky_new_failures_and_last_go(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(path, write=True) as store:
        store.append(verdict("r1", True, {"t::a": "passed", "t::flip": "passed"}))
        store.append(verdict("r2", False, {"t::a": "passed", "t::flip": "failed"}))
        store.append(verdict("r3", True, {"t::a": "passed", "t::flip": "passed"},
                             version="2.0"))
        past = read_past(store, TARGET, "1.0", window=10)
    now = [TestRecord("t::a", "integration", outcome="failed"),
           TestRecord("t::new", "integration", outcome="error"),
           TestRecord("t::flip", "integration", outcome="passed")]
    facts = history_facts(past, now, "1.0")
    assert facts["last_go"]["run_id"] == "r3"
    assert [(f["nodeid"], f["at_last_go"]) for f in facts["new_failures"]] == [
        ("t::a", "passed"), ("t::new", "not run")]
    # flip failed once and passed twice on 1.0; a: passed twice, failed now
    assert {f["nodeid"]: (f["failed"], f["passed"]) for f in facts["flaky"]} == {
        "t::flip": (1, 2), "t::a": (1, 2)}
    assert [r["run_id"] for r in facts["recent"]] == ["r1", "r2", "r3"]
    # on version 2.0 only one run so far: nothing flipped there
    with open_store(path, write=False) as store:
        past2 = read_past(store, TARGET, "2.0", window=10)
    assert history_facts(past2, now[2:], "2.0")["flaky"] == []


def test_last_go_loads_for_the_baseline(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    assert last_go_loads(path, TARGET)[0] is None  # no store yet: no GO
    with open_store(path, write=True) as store:
        store.append(verdict("r1", True, {"t::a": "passed"}, p95=12.0))
        store.append(verdict("r2", False, {"t::a": "failed"}, p95=99.0))
        partial = verdict("r3", True, {"t::a": "passed"}, p95=50.0)
        partial["run"]["partial"] = True  # a partial GO judged less: not a baseline
        store.append(partial)
    loads, where = last_go_loads(path, TARGET)
    assert loads is not None and loads["load"]["p95"] == 12.0 and "r1" in where
    assert last_go_loads(path, "http://elsewhere/")[0] is None
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        last_go_loads(path, TARGET)
