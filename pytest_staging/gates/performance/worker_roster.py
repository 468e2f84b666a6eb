"""Which Locust workers made a distributed load, and whether every one lasted to its end.

``locust_worker_roster.py`` (loaded by Locust on the master) writes the roster as JSON from
Locust's own signals: workers connecting, their stats reports, the master's heartbeat
bookkeeping and a last heartbeat from each worker when the load ends. This module reads it on
the pytest side and turns it into facts for the verdict: each worker's share of the load
(``metrics["worker_nodes"]``), and a failed blocking check when a worker was lost, or when the
roster cannot show that none was. A lost worker is not evidence that the release is slow: the
load measured is not the profile asked for, so the gate could not judge it
(``"inconclusive": True`` on the check).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Written next to Locust's stats (``stats*`` files of a run are removed before it starts).
ROSTER_JSON = "stats_workers.json"
ROSTER_JSON_ENV = "PYTEST_STAGING_WORKERS_JSON"  # also in locust_worker_roster.py
CHECK_KIND = "workers"


def read_roster(path: Path) -> dict[str, Any] | None:
    """The roster the master wrote, or None when there is none (or it is not readable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _workers(roster: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [w for w in roster.get("workers") or [] if isinstance(w, dict) and w.get("id")]


def describe_worker(worker: Mapping[str, Any]) -> str:
    """``worker host-a_3f2c... (host host-a, index 1)``: the id Locust logs it by."""
    where = [f"host {worker.get('host') or '?'}"]
    if worker.get("index") is not None:
        where.append(f"index {worker['index']}")
    return f"locust worker {worker['id']} ({', '.join(where)})"


def worker_nodes(roster: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each worker's share of the load, for the metrics: id, host, index, requests,
    failures, users (the most it ran) and ``lost`` (why, or None)."""
    if roster is None:
        return []
    keys = ("id", "host", "index", "requests", "failures", "users", "lost")
    return [{key: worker.get(key) for key in keys} for worker in _workers(roster)]


def never_connected(roster: Mapping[str, Any] | None, expected: int, where: str,
                    wait: float, command: str) -> str:
    """The one line of a master that gave up waiting for its workers: how many it had, which,
    and any that connected and were lost while it waited."""
    workers = _workers(roster) if roster is not None else []
    ready = [str(w["id"]) for w in workers if not w.get("lost")]
    lost = [w for w in workers if w.get("lost")]
    who = f" (connected: {', '.join(ready)})" if ready else ""
    gone = "".join(f"; {describe_worker(w)} connected, then was lost: {w['lost']}"
                   for w in lost[:3])
    return (f"only {len(ready)} of {expected} locust worker(s) connected to the master at "
            f"{where} within {wait:g}s{who}{gone} (performance.expect_workers_max_wait): no "
            f"load was measured; start each worker with: {command}")


def lost_check(name: str, roster: Mapping[str, Any] | None, expected: int,
               users: int) -> dict[str, Any] | None:
    """A failed blocking check when the distributed load lost a worker or cannot show it did
    not, else None."""
    detail = _problem(roster, expected, users)
    if detail is None:
        return None
    return {"name": f"{name}: load workers", "passed": False, "blocking": True,
            "detail": detail, "load": name, "kind": CHECK_KIND, "inconclusive": True}


def _problem(roster: Mapping[str, Any] | None, expected: int, users: int) -> str | None:
    if roster is None:
        return ("the locust master wrote no worker roster: cannot tell whether every worker "
                "lasted the load")
    workers = {str(w["id"]): w for w in _workers(roster)}
    lost = [workers[i] for i in roster.get("lost") or [] if i in workers]
    lost += [w for w in workers.values() if w.get("lost") and w not in lost]
    profile = f"{expected} worker(s), {users} user(s)"
    if lost:
        first = lost[0]
        more = f"; {len(lost) - 1} more worker(s) lost" if len(lost) > 1 else ""
        return (f"{describe_worker(first)} was lost mid-load: {first['lost']}{more}; the "
                f"load measured is not the profile asked for ({profile})")
    started: Sequence[str] = roster.get("started") or []
    if len(started) < expected:
        return (f"the load started with {len(started)} of {expected} locust worker(s): the "
                f"load measured is not the profile asked for ({profile})")
    if not roster.get("end_checked"):
        return ("the locust master did not check its workers at the end of the load: cannot "
                "tell whether every worker lasted it")
    return None
