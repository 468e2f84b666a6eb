"""Loaded *by locust* (``-f locustfile,...,this``), never imported by pytest-staging itself.

Locust's own statistics log every request, failed ones included, in their response times: a
load whose requests all failed fast (401 in 2 ms) would look fast. This module keeps a second
``RequestStats`` of the successful requests only (a ``request`` event without an exception),
merged from workers the way Locust merges its own stats, and writes it in Locust's
``--json-file`` format to the path in ``$PYTEST_STAGING_SUCCESS_JSON`` when Locust quits.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

from locust import events
from locust.runners import WorkerRunner
from locust.stats import RequestStats, StatsEntry

SUCCESS_JSON_ENV = "PYTEST_STAGING_SUCCESS_JSON"
_REPORT_KEY = "pytest_staging_success"
_STATS = RequestStats(use_response_times_cache=False)
_ENVIRONMENT: list[Any] = []
#: ``StatsEntry.unserialize(data, stats)`` since locust 2.40; ``(data)`` before (2.39 still
#: installs on Python 3.10 with pytest < 8.3.3).
_UNSERIALIZE_TAKES_STATS = len(inspect.signature(StatsEntry.unserialize).parameters) > 1


@events.init.add_listener
def _remember(environment: Any, **_kwargs: Any) -> None:
    _ENVIRONMENT.append(environment)


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: Any, response_length: int,
                exception: BaseException | None = None, **_kwargs: Any) -> None:
    if exception is None:
        _STATS.log_request(request_type, name, response_time, response_length)


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    data[_REPORT_KEY] = _STATS.serialize_stats()  # serializing resets, as Locust's own does


@events.worker_report.add_listener
def _merge(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    for raw in data.get(_REPORT_KEY) or []:
        entry = (StatsEntry.unserialize(raw, _STATS) if _UNSERIALIZE_TAKES_STATS
                 else StatsEntry.unserialize(raw))
        _STATS.get(entry.name, entry.method).extend(entry)


@events.quit.add_listener
def _write(**_kwargs: Any) -> None:
    path = os.environ.get(SUCCESS_JSON_ENV)
    if not path or (_ENVIRONMENT and isinstance(_ENVIRONMENT[-1].runner, WorkerRunner)):
        return
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(_STATS.serialize_stats(), handle)
