"""Loaded *by locust* (``-f locustfile,...,this``), never imported by pytest-staging itself.

In distributed mode (``--master`` with external workers, or ``--processes``), which workers
made the load, and did every one of them last to the end? Locust keeps going when a worker
dies: the master marks it "missing" after a few lost heartbeats and the run ends with the
survivors' users, so the stats describe a smaller load than the one asked for. This module
keeps a roster on the master from Locust's own signals and writes it as JSON to the path in
``$PYTEST_STAGING_WORKERS_JSON`` each time it changes (so a master that gives up waiting for
workers still leaves who did connect):

- ``worker_connect``: a worker reported ready (its id is ``<hostname>_<uuid>``);
- ``worker_report``: its share of the requests and users (``stats_total``, ``user_count``);
- Locust's heartbeat bookkeeping: a worker the master marks ``missing`` while the load runs,
  or that leaves the master's list of workers, is lost;
- at the end of the load (``test_stop`` on the master, before the workers are told to quit),
  every worker still listed must prove it is alive with one more heartbeat
  (``heartbeat_sent``), or be marked missing by Locust's own heartbeat check; a worker that
  died in the last seconds, before Locust noticed, is found here.

Nothing here decides a verdict: pytest-staging reads the roster and judges it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import gevent
from locust import events
from locust.runners import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_LIVENESS,
    STATE_MISSING,
    MasterRunner,
)

ROSTER_JSON_ENV = "PYTEST_STAGING_WORKERS_JSON"
#: How long the end-of-load check waits for Locust's heartbeat verdict on each worker: one
#: more heartbeat from a live worker (every HEARTBEAT_INTERVAL), or the "missing" mark Locust
#: sets after HEARTBEAT_LIVENESS lost ones; two intervals of slack on a loaded machine.
END_CHECK_SECONDS = (HEARTBEAT_LIVENESS + 3) * HEARTBEAT_INTERVAL
POLL_SECONDS = HEARTBEAT_INTERVAL / 10
_MISSING = "its heartbeats stopped: Locust marked it missing {}"

_ROSTER: dict[str, Any] = {"expected": None, "started": None, "workers": {},
                           "end_checked": False, "lost": []}
_BEATS: dict[str, int] = {}
_STATE: dict[str, Any] = {"runner": None, "t0": None, "watcher": None, "checking": False}


def _when() -> str:
    t0 = _STATE["t0"]
    if t0 is None:
        return "before the load started"
    return f"{round(time.monotonic() - t0, 1)}s after the load started"


def _write() -> None:
    path = os.environ.get(ROSTER_JSON_ENV)
    if not path or _STATE["runner"] is None:
        return
    data = {**_ROSTER, "workers": list(_ROSTER["workers"].values())}
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(temporary, path)


def _worker(client_id: str) -> dict[str, Any]:
    workers = _ROSTER["workers"]
    if client_id not in workers:
        host = client_id.rpartition("_")[0] or client_id
        index = None
        runner = _STATE["runner"]
        if runner is not None:
            try:
                index = runner.get_worker_index(client_id)
            except Exception:  # an index is a nicety; the id names the worker anyway
                index = None
        workers[client_id] = {"id": client_id, "host": host, "index": index, "requests": 0,
                              "failures": 0, "users": 0, "lost": None}
    return workers[client_id]


def _lose(client_id: str, why: str) -> None:
    entry = _worker(client_id)
    if entry["lost"] is None:
        entry["lost"] = why
        _ROSTER["lost"].append(client_id)
        _write()


@events.init.add_listener
def _init(environment: Any, **_kwargs: Any) -> None:
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    _STATE["runner"] = runner
    options = environment.parsed_options
    _ROSTER["expected"] = getattr(options, "expect_workers", None) if options else None
    _write()
    # From the start: a worker lost while the master waits for the others is named too.
    _STATE["watcher"] = gevent.spawn(_watch, runner)


@events.worker_connect.add_listener
def _connected(client_id: str, **_kwargs: Any) -> None:
    if _STATE["runner"] is None:
        return
    _worker(client_id)
    _write()


@events.heartbeat_sent.add_listener
def _heartbeat(client_id: str, **_kwargs: Any) -> None:
    _BEATS[client_id] = _BEATS.get(client_id, 0) + 1


@events.worker_report.add_listener
def _report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    if _STATE["runner"] is None:
        return
    entry = _worker(client_id)
    total = data.get("stats_total") or {}
    entry["requests"] += int(total.get("num_requests") or 0)
    entry["failures"] += int(total.get("num_failures") or 0)
    entry["users"] = max(entry["users"], int(data.get("user_count") or 0))


def _watch(runner: MasterRunner) -> None:
    """Until the load ends: a worker Locust marks missing is lost; once the load runs, so is
    one that leaves. (Before it runs, a worker leaves when a master that gave up waiting
    tells it to quit: that is no loss of the load's, and the master's own line says why.)"""
    present: set[str] = set()
    while not _STATE["checking"]:
        listed = {c.id: c for c in runner.clients.all}
        for client_id, client in listed.items():
            if client.state == STATE_MISSING:
                _lose(client_id, _MISSING.format(_when()))
        if _STATE["t0"] is not None:
            present |= set(_ROSTER["started"] or ())
            for client_id in present - set(listed):
                _lose(client_id, f"it left the master {_when()}")
            present |= set(listed)
        gevent.sleep(HEARTBEAT_INTERVAL / 2)


@events.test_start.add_listener
def _started(environment: Any, **_kwargs: Any) -> None:
    runner = _STATE["runner"]
    if runner is None or environment.runner is not runner or _STATE["t0"] is not None:
        return
    _STATE["t0"] = time.monotonic()
    _ROSTER["started"] = [c.id for c in runner.clients.all]
    for client_id in _ROSTER["started"]:
        _worker(client_id)
    _write()


@events.test_stop.add_listener
def _stopped(environment: Any, **_kwargs: Any) -> None:
    """The end of the load: every worker still listed proves it is alive, or is lost."""
    runner = _STATE["runner"]
    if runner is None or environment.runner is not runner or _STATE["checking"]:
        return
    _STATE["checking"] = True
    before = dict(_BEATS)
    started = set(_ROSTER["started"] or ())
    listed = {c.id for c in runner.clients.all}
    for client_id in started - listed:
        _lose(client_id, f"it left the master {_when()}")
    pending = {c for c in listed if c in started}
    deadline = time.monotonic() + END_CHECK_SECONDS
    while pending and time.monotonic() < deadline:
        for client_id in list(pending):
            client = runner.clients.get(client_id)
            if client is None:
                _lose(client_id, f"it left the master {_when()}")
            elif client.state == STATE_MISSING:
                _lose(client_id, _MISSING.format(_when()))
            elif _BEATS.get(client_id, 0) > before.get(client_id, 0):
                pending.discard(client_id)
                continue
            else:
                continue
            pending.discard(client_id)
        if pending:
            gevent.sleep(POLL_SECONDS)
    for client_id in pending:
        _lose(client_id, f"it sent no heartbeat in the {END_CHECK_SECONDS:g}s after the load "
                         "ended")
    _ROSTER["end_checked"] = True
    _write()


@events.quit.add_listener
def _quit(**_kwargs: Any) -> None:
    _write()  # the workers' last reports arrive while the master quits
