"""Metrics computed from Locust's own output files (``--json-file`` and ``--csv``).

Locust's JSON (2.x, ``save_stats_json``) is a list of per-endpoint entries, each with counts,
``start_time`` (first request), ``last_request_timestamp`` and a ``response_times`` histogram
(``{"rounded ms": count}``). Totals merge those histograms, so total percentiles are true
percentiles (not an average of per-endpoint ones); rps is computed over the measured span
(first to last request), not Locust's short-run figure. Percentiles use the nearest-rank rule on
the merged histogram (Locust's ~2-significant-digit buckets). Latency and rps are of the
successful requests only (see ``_stats_block``); a value that cannot be measured is None.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
MAX_ERRORS = 20
#: rps is a rate per second: a burst shorter than a second has not shown one (two concurrent
#: requests 0.2 ms apart would otherwise be 10,000 req/s and pass any ``rps >`` threshold).
MIN_RPS_SPAN = 1.0


def percentile(histogram: Mapping[float, int], count: int, fraction: float) -> float:
    """Nearest-rank percentile of a ``{bucket ms: count}`` histogram.

    The smallest bucket at or below which ``ceil(fraction * count)`` requests finished. Locust's
    own report rule can land one bucket higher (its p50 of 1..100 ms is 51).
    """
    if count <= 0:
        return 0.0
    rank = max(1, math.ceil(fraction * count - 1e-9))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram)) if histogram else 0.0


def _latency(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """avg/min/max and percentiles of the timed requests in ``entries`` (None when none)."""
    timed = sum(int(e.get("num_requests", 0)) - int(e.get("num_none_requests", 0)) for e in entries)
    if timed <= 0:
        return {name: None for name in ("avg", "min", "max", *PERCENTILES)}
    histogram: Counter[float] = Counter()
    for entry in entries:
        for key, count in (entry.get("response_times") or {}).items():
            histogram[float(key)] += int(count)
    mins = [
        float(e["min_response_time"]) for e in entries if e.get("min_response_time") is not None
    ]
    total_time = sum(float(e.get("total_response_time", 0.0)) for e in entries)
    block: dict[str, Any] = {
        "avg": round(total_time / timed, 3),
        "min": round(min(mins), 3) if mins else 0.0,
        "max": round(max(float(e.get("max_response_time") or 0.0) for e in entries), 3),
    }
    for name, fraction in PERCENTILES.items():
        block[name] = percentile(histogram, timed, fraction)
    return block


def _stats_block(
    entries: list[Mapping[str, Any]],
    successes: list[Mapping[str, Any]] | None = None,
    min_span: float = 0.0,
) -> dict[str, Any]:
    """Merge Locust entries into one metrics block (builtins only).

    ``requests``, ``failures`` and ``fail_ratio`` count every request; latency and ``rps`` are
    of the successful requests only (``successes``: entries of the same shape holding only
    them), since Locust's response times include failed requests (a load of fast 401s would
    look fast). Without success stats, latency is known only when no request failed. A value
    that cannot be measured is None (a threshold on it fails), never 0. ``rps`` is over the
    measured span but never over less than ``min_span`` seconds: two requests 0.2 ms apart
    are 2 req/s over a 1 s floor, not 10,000.
    """
    requests = sum(int(e.get("num_requests", 0)) for e in entries)
    failures = sum(int(e.get("num_failures", 0)) for e in entries)
    succeeded = max(requests - failures, 0)
    starts = [float(e["start_time"]) for e in entries if e.get("start_time")]
    ends = [float(e["last_request_timestamp"]) for e in entries if e.get("last_request_timestamp")]
    span = max(max(ends) - min(starts), 0.0) if starts and ends else 0.0
    if successes is not None:
        counted = sum(int(e.get("num_requests", 0)) for e in successes)
        # Success stats that disagree with Locust's own counts cannot be trusted.
        latency_of = successes if counted == succeeded else None
    else:
        latency_of = entries if failures == 0 else None
    block: dict[str, Any] = {
        "requests": requests,
        "failures": failures,
        "successes": succeeded,
        "fail_ratio": round(failures / requests, 6) if requests else None,
        "rps": round(succeeded / max(span, min_span), 3) if succeeded and max(span, min_span)
        else None,
        "span": round(span, 3),
    }
    if latency_of is None or not succeeded:
        block.update({name: None for name in ("avg", "min", "max", *PERCENTILES)})
    else:
        block.update(_latency(latency_of))
    return block


def summarize(
    entries: Iterable[Mapping[str, Any]],
    *,
    errors: Iterable[Mapping[str, Any]] = (),
    exceptions: Iterable[Mapping[str, Any]] = (),
    successes: Iterable[Mapping[str, Any]] | None = None,
    min_span: float = 0.0,
) -> dict[str, Any]:
    """Metrics dict from Locust JSON entries: totals plus ``endpoints`` keyed ``"METHOD name"``.

    ``successes``: the same kind of entries for the successful requests only (written by
    ``locust_success_stats``); latency and rps come from them. A name requested with several
    methods also gets a merged entry keyed by the bare name. ``min_span``: the shortest time in
    seconds rps is computed over (the runner uses ``MIN_RPS_SPAN``).
    """
    entries = [e for e in entries if isinstance(e, Mapping)]
    ok = None if successes is None else [e for e in successes if isinstance(e, Mapping)]
    metrics = _stats_block(entries, ok, min_span)
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    ok_key: dict[str, list[Mapping[str, Any]]] = {}
    ok_name: dict[str, list[Mapping[str, Any]]] = {}
    for group, name_group, source in ((by_key, by_name, entries), (ok_key, ok_name, ok or [])):
        for entry in source:
            name = str(entry.get("name", ""))
            method = str(entry.get("method") or "").strip()
            group.setdefault(f"{method} {name}".strip(), []).append(entry)
            name_group.setdefault(name, []).append(entry)

    def success_group(index: dict[str, list[Mapping[str, Any]]], key: str) -> Any:
        return None if ok is None else index.get(key, [])

    endpoints = {
        key: _stats_block(group, success_group(ok_key, key), min_span)
        for key, group in sorted(by_key.items())
    }
    for name, group in by_name.items():
        if len(group) > 1 and name not in endpoints:
            endpoints[name] = _stats_block(group, success_group(ok_name, name), min_span)
    metrics["endpoints"] = endpoints
    metrics["errors"] = list(errors)[:MAX_ERRORS]
    exceptions = list(exceptions)
    metrics["exceptions"] = sum(int(e.get("count", 0)) for e in exceptions)
    metrics["exception_messages"] = [str(e.get("message", ""))[:300] for e in exceptions][:5]
    return metrics


def endpoint_metrics(metrics: Mapping[str, Any], endpoint: str) -> Mapping[str, Any] | None:
    """The block for ``"GET /x"`` or ``"/x"`` (any method) in a metrics dict, else None."""
    endpoints: Mapping[str, Any] = metrics.get("endpoints") or {}
    key = " ".join(endpoint.split(None, 1)) if endpoint.split(None, 1)[0].isupper() else endpoint
    if key in endpoints:
        return endpoints[key]
    matches = [block for name, block in endpoints.items() if name.split(" ", 1)[-1] == endpoint]
    return matches[0] if len(matches) == 1 else None


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        return list(csv.DictReader(handle))


def read_errors(csv_prefix: Path) -> list[dict[str, Any]]:
    """Failure kinds from ``<prefix>_failures.csv``: ``{endpoint, error, occurrences}``."""
    rows = _read_csv(Path(f"{csv_prefix}_failures.csv"))
    errors = [
        {
            "endpoint": f"{row.get('Method', '')} {row.get('Name', '')}".strip(),
            "error": str(row.get("Error", ""))[:300],
            "occurrences": int(row.get("Occurrences") or 0),
        }
        for row in rows
    ]
    return sorted(errors, key=lambda e: -e["occurrences"])


def read_exceptions(csv_prefix: Path) -> list[dict[str, Any]]:
    """Exceptions raised in user code, from ``<prefix>_exceptions.csv``."""
    rows = _read_csv(Path(f"{csv_prefix}_exceptions.csv"))
    return [
        {"count": int(row.get("Count") or 0), "message": row.get("Message", "")} for row in rows
    ]


def read_progress(csv_prefix: Path) -> dict[str, Any] | None:
    """Latest aggregated row of ``<prefix>_stats_history.csv`` as a progress dict, or None."""
    path = Path(f"{csv_prefix}_stats_history.csv")
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if len(lines) < 2:
        return None
    rows = list(csv.DictReader([lines[0], *lines[-3:]]))
    rows = [r for r in rows if r.get("Name") == "Aggregated"]
    if not rows:
        return None
    row = rows[-1]

    def num(key: str) -> float | None:
        try:
            return float(row.get(key) or "")
        except ValueError:
            return None

    return {
        "users": int(num("User Count") or 0),
        "rps": num("Requests/s") or 0.0,
        "p95": num("95%"),
        "requests": int(num("Total Request Count") or 0),
        "failures": int(num("Total Failure Count") or 0),
    }


#: Points a load's timeline keeps at most (a long load is thinned evenly): verdict.json and
#: verdict.html stay small whatever the run time.
MAX_TIMELINE = 240
TIMELINE_COLUMNS = ("t", "users", "rps", "fail_rps", "p50", "p95", "p99")


def read_timeline(csv_prefix: Path, max_points: int = MAX_TIMELINE) -> dict[str, Any] | None:
    """The load over its duration from ``<prefix>_stats_history.csv`` (Locust writes its
    ``Aggregated`` row every second): ``{"columns": TIMELINE_COLUMNS, "rows": [...]}`` with
    ``t`` in seconds from the first row, users, requests and failures per second over each
    interval (from the running totals: Locust's own current rps lags on short loads) and
    Locust's current response-time percentiles in ms (a sliding window over all requests,
    failed ones included; None before the first answer). None without a history file."""
    path = Path(f"{csv_prefix}_stats_history.csv")
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("Name") == "Aggregated"]
    except OSError:
        return None

    def num(row: Mapping[str, Any], key: str) -> float | None:
        try:
            value = float(row.get(key) or "")
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    points: list[list[float | None]] = []
    start = prev_t = prev_req = prev_fail = None
    for row in rows:
        t, requests, failures = (num(row, "Timestamp"), num(row, "Total Request Count"),
                                 num(row, "Total Failure Count"))
        if t is None or requests is None or failures is None:
            continue
        start = t if start is None else start
        span = t - prev_t if prev_t is not None else 0.0
        rps = fail_rps = None
        if prev_t is not None and span > 0:
            rps = round(max(requests - (prev_req or 0.0), 0.0) / span, 3)
            fail_rps = round(max(failures - (prev_fail or 0.0), 0.0) / span, 3)
        points.append([round(t - start, 3), num(row, "User Count"), rps, fail_rps,
                       num(row, "50%"), num(row, "95%"), num(row, "99%")])
        prev_t, prev_req, prev_fail = t, requests, failures
    if not points:
        return None
    if len(points) > max_points:
        step = (len(points) - 1) / (max_points - 1)
        points = [points[round(i * step)] for i in range(max_points)]
    return {"columns": list(TIMELINE_COLUMNS), "rows": points}


def load_locust_json(path: Path) -> list[dict[str, Any]]:
    """Read Locust's ``--json-file`` output (a list of entries); raise ValueError if malformed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of stats entries")
    return data
