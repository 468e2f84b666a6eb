"""The history store: one SQLite file (stdlib ``sqlite3``), one row per finished run.

The schema is versioned (``PRAGMA user_version``) and brought up to date by :data:`MIGRATIONS`
when a writer opens the file; ``PRAGMA application_id`` marks the file as ours, so another
program's database is refused rather than altered. The journal is WAL (readers never block the
writer); each run is appended in one ``BEGIN IMMEDIATE`` transaction, keyed by its run id (a
run decided again replaces its row). Two runs writing at once wait for each other: a busy
timeout, then a few bounded retries.

Everything that can go wrong (not a database, corrupt, locked, read-only, a newer schema) is a
:class:`StoreError` whose message names the file and the cause in words. No pytest import.

Size: a test's result is a row of small integers and a short outcome in a ``WITHOUT ROWID``
table keyed by (run, test); node ids are stored once in ``tests``.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

#: "pStg": the file is a pytest-staging history store.
APPLICATION_ID = 0x70537467
#: Seconds a writer waits for another writer's transaction, per attempt.
BUSY_TIMEOUT = 5.0
#: Attempts of an operation that found the store locked (each waits BUSY_TIMEOUT first).
ATTEMPTS = 3
#: Longest failure message kept per failed test.
MESSAGE_LIMIT = 300
#: Load metrics kept per load and endpoint: every metric a threshold or a regression names.
LOAD_METRICS = ("requests", "failures", "successes", "fail_ratio", "rps",
                "avg", "min", "max", "p50", "p90", "p95", "p99")
FAILED = ("failed", "error")

#: MIGRATIONS[i] takes the schema from version i to i + 1 (statements run in one transaction).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL UNIQUE,
            target TEXT NOT NULL,
            version TEXT,
            version_end TEXT,
            expected_version TEXT,
            subject TEXT,
            commit_sha TEXT,
            ci_run TEXT,
            started TEXT,
            finished TEXT,
            duration REAL,
            verdict TEXT NOT NULL,
            judgement TEXT,
            partial INTEGER NOT NULL,
            exit_status INTEGER,
            grade TEXT,
            score INTEGER,
            reasons TEXT NOT NULL,
            warnings TEXT NOT NULL,
            versions TEXT NOT NULL,
            recorded TEXT NOT NULL)""",
        "CREATE INDEX runs_by_target ON runs (target, id)",
        """CREATE TABLE gates (
            run INTEGER NOT NULL, gate TEXT NOT NULL, status TEXT NOT NULL,
            blocking INTEGER NOT NULL, ran INTEGER NOT NULL, passed INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            PRIMARY KEY (run, gate)) WITHOUT ROWID""",
        "CREATE TABLE tests (id INTEGER PRIMARY KEY, nodeid TEXT NOT NULL UNIQUE, gate TEXT)",
        """CREATE TABLE results (
            run INTEGER NOT NULL, test INTEGER NOT NULL, outcome TEXT NOT NULL,
            duration_us INTEGER NOT NULL, blocking INTEGER NOT NULL, flaky INTEGER NOT NULL,
            quarantined INTEGER NOT NULL,
            PRIMARY KEY (run, test)) WITHOUT ROWID""",
        """CREATE TABLE failures (
            run INTEGER NOT NULL, test INTEGER NOT NULL, message TEXT NOT NULL,
            PRIMARY KEY (run, test)) WITHOUT ROWID""",
        """CREATE TABLE loads (
            run INTEGER NOT NULL, load TEXT NOT NULL, endpoint TEXT NOT NULL,
            requests INTEGER, failures INTEGER, successes INTEGER, fail_ratio REAL, rps REAL,
            avg REAL, min REAL, max REAL, p50 REAL, p90 REAL, p95 REAL, p99 REAL,
            PRIMARY KEY (run, load, endpoint)) WITHOUT ROWID""",
        """CREATE TABLE thresholds (
            run INTEGER NOT NULL, load TEXT NOT NULL, expr TEXT NOT NULL, metric TEXT,
            endpoint TEXT, threshold REAL, passed INTEGER NOT NULL,
            PRIMARY KEY (run, load, expr)) WITHOUT ROWID""",
        """CREATE TABLE findings (
            run INTEGER NOT NULL, gate TEXT NOT NULL, rule TEXT NOT NULL, level TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (run, gate, rule, level)) WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
#: Tables holding rows of one run (column ``run``), removed with it.
RUN_TABLES = ("gates", "results", "failures", "loads", "thresholds", "findings")

T = TypeVar("T")


class StoreError(Exception):
    """The history store cannot be used; the message names the file and why, in words."""


def describe(path: str | Path, exc: BaseException) -> str:
    """What went wrong with the store at ``path``, as one line a human understands."""
    text = str(exc).lower()
    if isinstance(exc, StoreError):
        return str(exc)
    if "not a database" in text or "file is encrypted" in text:
        return f"history store {path} is not a SQLite database (a corrupt or foreign file)"
    if "malformed" in text or "corrupt" in text:
        return f"history store {path} is corrupt (malformed database image)"
    if "locked" in text or "busy" in text:
        return (f"history store {path} is locked by another process (waited "
                f"{BUSY_TIMEOUT * ATTEMPTS:.0f}s)")
    if "readonly" in text or "read-only" in text:
        return f"history store {path} cannot be written (a read-only file or folder)"
    if "unable to open" in text or isinstance(exc, OSError):
        why = getattr(exc, "strerror", None) or "missing folder or no permission"
        return f"history store {path} cannot be opened ({why})"
    return f"history store {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def _retrying(operation: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Run ``operation``; when the store is locked after the busy timeout, try again a few
    times with a growing pause (bounded: ``attempts`` in all)."""
    for attempt in range(attempts):
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if attempt == attempts - 1 or not ("locked" in text or "busy" in text):
                raise
            time.sleep(0.05 * 2 ** attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _number(value: Any) -> float | None:
    """A finite number as a float; anything else is not measured (None)."""
    kind = type(value)
    if kind is float:
        return value if -1e300 < value < 1e300 else None  # False for NaN and infinities
    if kind is int:
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    return None


class Store:
    """An open history store. Use :func:`open_store`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``): rolled back on error."""
        _retrying(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def append(self, verdict: Mapping[str, Any]) -> int:
        """Record one finished run from its verdict dict, in one transaction; a run already
        recorded under the same run id is replaced. Returns the run's row id."""
        def write() -> int:
            with self.transaction() as conn:
                return _insert_run(conn, verdict)
        try:
            return _retrying(write)
        except sqlite3.Error as exc:
            raise StoreError(describe(self.path, exc)) from None

    # -- reading ---------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read query; any database error is a StoreError naming the file."""
        try:
            return _retrying(lambda: self.conn.execute(sql, tuple(params)).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(describe(self.path, exc)) from None


@contextmanager
def open_store(path: str | Path, *, write: bool) -> Iterator[Store]:
    """The store at ``path``, closed afterwards. A writer creates the file (and its folder),
    switches it to WAL and migrates its schema; a reader needs an existing store and never
    changes it. Raises StoreError."""
    file = Path(path)
    try:
        conn = _connect(file, write)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(describe(file, exc)) from None
    store = Store(file, conn)
    try:
        try:
            _check_and_migrate(store, write)
        except sqlite3.Error as exc:
            raise StoreError(describe(file, exc)) from None
        yield store
    finally:
        store.close()


def _connect(file: Path, write: bool) -> sqlite3.Connection:
    if write:
        file.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(file), timeout=BUSY_TIMEOUT, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            # WAL: readers (a trends page, an xdist worker's baseline) never block the writer.
            _retrying(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            conn.close()
            raise
        return conn
    if not file.is_file():
        raise StoreError(f"history store {file} does not exist")
    uri = file.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT,
                               isolation_level=None)
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "unable to open" not in str(exc).lower():
            raise
        # A WAL store on a read-only medium (a CI artifact): read it as it is.
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _check_and_migrate(store: Store, write: bool,
                       migrations: Sequence[Sequence[str]] = MIGRATIONS) -> None:
    conn = store.conn
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app not in (0, APPLICATION_ID) or (app == 0 and conn.execute(
            "SELECT count(*) FROM sqlite_master").fetchone()[0]):
        raise StoreError(f"history store {store.path} is another program's SQLite database "
                         "(not written by pytest-staging): choose another path")
    if version > len(migrations):
        raise StoreError(f"history store {store.path} has schema version {version}, newer than "
                         f"this pytest-staging knows ({len(migrations)}): upgrade pytest-staging")
    if version == len(migrations):
        return
    if not write:
        if version == 0:
            raise StoreError(f"history store {store.path} is empty (no run recorded yet)")
        raise StoreError(f"history store {store.path} has schema version {version}: record a "
                         "run with this pytest-staging to migrate it")
    migrate(store, migrations)


def migrate(store: Store, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the schema up to ``len(migrations)``, each step in its own transaction (another
    writer may have migrated meanwhile: the version is read again inside). Returns it."""
    while True:
        with store.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= len(migrations):
                return int(version)
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


# -- one run's rows -------------------------------------------------------------------------
def _grade(gates: Mapping[str, Any]) -> tuple[str | None, int | None]:
    grade = (gates.get("security") or {}).get("grade")
    if not isinstance(grade, Mapping):
        return None, None
    score = grade.get("score")
    return (str(grade["grade"]) if grade.get("grade") else None,
            int(score) if isinstance(score, int) and not isinstance(score, bool) else None)


def _insert_run(conn: sqlite3.Connection, verdict: Mapping[str, Any]) -> int:
    run = verdict.get("run") or {}
    target = verdict.get("target") or {}
    observed = target.get("observed_version") or {}
    provenance = verdict.get("provenance") or {}
    gates: Mapping[str, Any] = verdict.get("gates") or {}
    run_id = str(run.get("id") or "")
    if not run_id:
        raise StoreError("a verdict without a run id cannot be recorded")
    grade, score = _grade(gates)
    previous = conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if previous is not None:
        for table in RUN_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE run = ?", (previous[0],))
        conn.execute("DELETE FROM runs WHERE id = ?", (previous[0],))
    cursor = conn.execute(
        "INSERT INTO runs (run_id, target, version, version_end, expected_version, subject, "
        "commit_sha, ci_run, started, finished, duration, verdict, judgement, partial, "
        "exit_status, grade, score, reasons, warnings, versions, recorded) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, str(target.get("url") or ""), observed.get("start"), observed.get("end"),
         target.get("expected_version"), provenance.get("subject"), provenance.get("commit"),
         (provenance.get("ci") or {}).get("run_id"), run.get("started"), run.get("finished"),
         _number(run.get("duration")),
         # Anything but an explicit GO is recorded as NO-GO.
         "GO" if verdict.get("verdict") == "GO" else "NO-GO",
         verdict.get("judgement") if isinstance(verdict.get("judgement"), str) else None,
         int(bool(run.get("partial"))), run.get("exit_status"), grade, score,
         _json(list(verdict.get("reasons") or [])), _json(list(verdict.get("warnings") or [])),
         _json(dict(run.get("versions") or {})), _now()))
    pk = int(cursor.lastrowid or 0)
    _insert_gates(conn, pk, gates)
    _insert_tests(conn, pk, verdict.get("tests") or [], gates)
    _insert_loads(conn, pk, gates.get("performance") or {})
    _insert_findings(conn, pk, gates)
    return pk


def _insert_gates(conn: sqlite3.Connection, pk: int, gates: Mapping[str, Any]) -> None:
    rows = []
    for name, gate in gates.items():
        if not isinstance(gate, Mapping):
            continue
        counts = gate.get("counts") or {}
        rows.append((pk, str(name), str(gate.get("status") or "error"),
                     int(gate.get("blocking", True) is not False), int(gate.get("ran") or 0),
                     int(counts.get("passed") or 0),
                     int(counts.get("failed") or 0) + int(counts.get("error") or 0)))
    conn.executemany("INSERT INTO gates VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def test_ids(conn: sqlite3.Connection, tests: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Row ids of node ids (added when new; their gate kept up to date)."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: thousands of rows
    known = {nodeid: (pk, gate) for pk, nodeid, gate in cursor.execute(
        "SELECT id, nodeid, gate FROM tests")}
    ids: dict[str, int] = {}
    for nodeid, gate in tests:
        found = known.get(nodeid)
        if found is None:
            cursor = conn.execute("INSERT INTO tests (nodeid, gate) VALUES (?, ?)",
                                  (nodeid, gate))
            found = (int(cursor.lastrowid or 0), gate)
            known[nodeid] = found
        elif found[1] != gate:
            conn.execute("UPDATE tests SET gate = ? WHERE id = ?", (gate, found[0]))
            known[nodeid] = (found[0], gate)
        ids[nodeid] = found[0]
    return ids


def _insert_tests(conn: sqlite3.Connection, pk: int, tests: Sequence[Any],
                  gates: Mapping[str, Any]) -> None:
    entries = [t for t in tests if isinstance(t, Mapping) and t.get("nodeid")]
    ids = test_ids(conn, [(str(t["nodeid"]), str(t.get("gate") or "")) for t in entries])
    rows: dict[str, tuple[Any, ...]] = {}
    for t in entries:
        # A node id listed twice keeps its worst outcome (the verdict's rule: any failure wins).
        nodeid = str(t["nodeid"])
        outcome = str(t.get("outcome") or "incomplete")
        if nodeid in rows and rows[nodeid][2] in FAILED:
            continue
        duration = t.get("duration")
        # 0 <= d < 1e9 is False for NaN; anything but a number is 0 (not measured).
        micros = round(duration * 1e6) if type(duration) in (float, int) \
            and 0 <= duration < 1e9 else 0
        rows[nodeid] = (pk, ids[nodeid], outcome, micros,
                        int(t.get("blocking", True) is not False), int(bool(t.get("flaky"))),
                        int(bool(t.get("quarantined"))))
    conn.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)", rows.values())
    messages = {}
    for gate in gates.values():
        for failure in (gate.get("failures") or []) if isinstance(gate, Mapping) else []:
            nodeid = str(failure.get("nodeid") or "") if isinstance(failure, Mapping) else ""
            if nodeid in ids:
                messages[ids[nodeid]] = str(failure.get("message") or "")[:MESSAGE_LIMIT]
    conn.executemany("INSERT INTO failures VALUES (?, ?, ?)",
                     [(pk, test, text) for test, text in messages.items()])


def _metric_row(pk: int, load: str, endpoint: str, block: Mapping[str, Any]) -> tuple[Any, ...]:
    return (pk, load, endpoint, *[_number(block.get(m)) for m in LOAD_METRICS])


def _insert_loads(conn: sqlite3.Connection, pk: int, gate: Mapping[str, Any]) -> None:
    from pytest_staging.gates.performance.report import thresholds_of

    rows, limits = [], []
    loads = gate.get("metrics") or {} if isinstance(gate, Mapping) else {}
    for name, metrics in loads.items():
        if not isinstance(metrics, Mapping) or "requests" not in metrics:
            continue
        rows.append(_metric_row(pk, str(name), "", metrics))
        for endpoint, block in (metrics.get("endpoints") or {}).items():
            if isinstance(block, Mapping):
                rows.append(_metric_row(pk, str(name), str(endpoint), block))
        for result in thresholds_of(gate, str(name)):
            limits.append((pk, str(name), result["expr"], result["metric"],
                           result["endpoint"], _number(result["limit"]),
                           int(result["passed"])))
    conn.executemany(f"INSERT INTO loads VALUES ({', '.join('?' * (3 + len(LOAD_METRICS)))})",
                     rows)
    conn.executemany("INSERT INTO thresholds VALUES (?, ?, ?, ?, ?, ?, ?)", limits)


def _insert_findings(conn: sqlite3.Connection, pk: int, gates: Mapping[str, Any]) -> None:
    counts: dict[tuple[str, str, str], int] = {}
    for name, gate in gates.items():
        for finding in (gate.get("findings") or []) if isinstance(gate, Mapping) else []:
            if not isinstance(finding, Mapping):
                continue
            key = (str(name), str(finding.get("rule") or finding.get("test_id") or "?"),
                   str(finding.get("level") or "fail"))
            counts[key] = counts.get(key, 0) + 1
    conn.executemany("INSERT INTO findings VALUES (?, ?, ?, ?, ?)",
                     [(pk, *key, n) for key, n in counts.items()])


# -- what readers ask -----------------------------------------------------------------------
def load_metrics(store: Store, run_pk: int) -> dict[str, dict[str, Any]]:
    """The loads of one recorded run as the verdict had them: ``{load: metrics}`` with the
    totals and ``endpoints`` (the metrics the store keeps: :data:`LOAD_METRICS`)."""
    loads: dict[str, dict[str, Any]] = {}
    for row in store.query("SELECT * FROM loads WHERE run = ? ORDER BY load, endpoint",
                           (run_pk,)):
        block = {m: row[m] for m in LOAD_METRICS}
        entry = loads.setdefault(row["load"], {"endpoints": {}})
        if row["endpoint"]:
            entry["endpoints"][row["endpoint"]] = block
        else:
            entry.update(block)
    return {name: m for name, m in loads.items() if "requests" in m}


def last_go(store: Store, target: str) -> sqlite3.Row | None:
    """The latest GO recorded for ``target`` (a complete run: a partial GO judged less)."""
    rows = store.query("SELECT * FROM runs WHERE target = ? AND verdict = 'GO' AND partial = 0 "
                       "ORDER BY id DESC LIMIT 1", (target,))
    return rows[0] if rows else None


__all__ = ["APPLICATION_ID", "LOAD_METRICS", "MIGRATIONS", "SCHEMA_VERSION", "Store",
           "StoreError", "describe", "last_go", "load_metrics", "migrate", "open_store"]
