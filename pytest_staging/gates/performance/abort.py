"""Stop a failing load early (like k6's ``abortOnFail``): thresholds marked ``abort = true``
are judged on Locust's live cumulative stats while it runs, and the first one breached after
its minimum sample stops the load, saving the staging time the rest would have cost.

Locust rewrites ``<prefix>_stats.csv`` (cumulative per endpoint and ``Aggregated``) every
second while it runs; ``live_metrics`` reads it into the same shape as ``metrics.summarize``
so the same ``evaluate`` judges it. Only metrics that a longer run cannot take back are
abortable: ``failures`` (a count that only grows) at once, and ``fail_ratio`` and the response
times once ``min_requests`` requests were measured; ``rps`` or ``requests`` would need the whole
run to be judged.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_staging.gates.performance.metrics import endpoint_metrics
from pytest_staging.gates.performance.thresholds import Threshold, evaluate, format_metric

# Which thresholds may abort (ABORTABLE, abort_problem) is decided by the threshold parser in
# thresholds.py, which uses it: no import cycle.
#: Locust CSV columns of each abortable time metric.
_COLUMNS = {"avg": "Average Response Time", "max": "Max Response Time", "p50": "50%",
            "p90": "90%", "p95": "95%", "p99": "99%"}


def _block(row: Mapping[str, str]) -> dict[str, Any] | None:
    try:
        requests = int(row.get("Request Count") or 0)
        failures = int(row.get("Failure Count") or 0)
    except ValueError:
        return None
    block: dict[str, Any] = {"requests": requests, "failures": failures,
                             "fail_ratio": failures / requests if requests else 0.0}
    for metric, column in _COLUMNS.items():
        try:
            block[metric] = float(row.get(column) or "")
        except ValueError:
            block[metric] = None
    return block


def live_metrics(csv_prefix: Path) -> dict[str, Any] | None:
    """Cumulative metrics so far from ``<prefix>_stats.csv``, or None when not readable yet
    (not written, or caught mid-rewrite without its ``Aggregated`` row)."""
    try:
        text = Path(f"{csv_prefix}_stats.csv").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    total: dict[str, Any] | None = None
    endpoints: dict[str, Any] = {}
    for row in csv.DictReader(text.splitlines()):
        block = _block(row)
        if block is None:
            continue
        if row.get("Name") == "Aggregated" and not row.get("Type"):
            total = block
        else:
            endpoints[f"{row.get('Type', '')} {row.get('Name', '')}".strip()] = block
    if total is None:
        return None
    total["endpoints"] = endpoints
    return total


def breach(thresholds: Sequence[Threshold], live: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first abort threshold that ``live`` metrics breach, as a result dict of
    ``evaluate`` plus ``requests`` (the sample it was judged on), else None."""
    for threshold in thresholds:
        if not threshold.abort:
            continue
        result = evaluate(threshold, live)
        if result["passed"] or result["observed"] is None:
            continue  # no sample for it yet is not a breach
        scope = endpoint_metrics(live, threshold.endpoint) if threshold.endpoint else live
        requests = int((scope or {}).get("requests") or 0)
        # A failure count only grows: breached is certain. Ratios and times need a sample.
        if threshold.metric != "failures" and requests < threshold.min_requests:
            continue
        return {**result, "requests": requests}
    return None


def abort_detail(hit: Mapping[str, Any], after: float, planned: float) -> str:
    """The verdict's line for an aborted load."""
    observed = format_metric(hit["observed"], hit["unit"])
    return (f"load aborted after {after:.1f}s of {planned:.0f}s: {hit['expr']} breached "
            f"({hit['metric']} = {observed} after {hit['requests']} requests)")
