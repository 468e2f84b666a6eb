"""k6-style threshold expressions for load metrics.

Grammar (one expression per string)::

    [ENDPOINT:] METRIC OP VALUE[UNIT]

    p95 < 300ms            p99 <= 1s           avg < 150ms
    fail_ratio < 1%        rps > 200           GET /api/items: p95 < 200ms

``ENDPOINT`` is a Locust stats name, optionally prefixed by the HTTP method (``GET /api/items``);
without a method every method hitting that name is merged. ``OP`` is one of ``< <= > >= ==``.
Time values take ``ms`` (the default) or ``s``; ``fail_ratio`` takes ``%`` or a fraction.

A threshold may also be a table that stops a failing load early (like k6's ``abortOnFail``)::

    {expr = "fail_ratio < 5%", abort = true, min_requests = 100}

It is checked on Locust's live stats while the load runs (see ``abort.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytest_staging.gates.performance.metrics import endpoint_metrics

TIME_METRICS = ("avg", "min", "max", "p50", "p90", "p95", "p99")
METRICS: dict[str, str] = {
    **{name: "ms" for name in TIME_METRICS},
    "fail_ratio": "ratio",
    "rps": "rps",
    "requests": "count",
    "failures": "count",
    "successes": "count",
}
#: Judged on successful requests only: with none, they cannot be evaluated (a failed check).
SUCCESS_METRICS = (*TIME_METRICS, "rps")
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}
_EXPR = re.compile(
    r"^\s*(?:(?P<endpoint>\S.*?)\s*:\s+)?"
    r"(?P<metric>[a-z_0-9]+)\s*(?P<op><=|>=|==|<|>)\s*"
    r"(?P<value>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>ms|s|%|/s)?\s*$"
)


class ThresholdError(ValueError):
    """A threshold expression that cannot be parsed; the message names the expression."""


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold; ``limit`` is in canonical units (ms, fraction, req/s, count)."""

    expr: str
    metric: str
    op: str
    limit: float
    endpoint: str | None = None
    #: Stop the load as soon as live stats breach it (after ``min_requests`` requests).
    abort: bool = False
    min_requests: int = 0

    @property
    def unit(self) -> str:
        """Canonical unit of the metric: ``ms``, ``ratio``, ``rps`` or ``count``."""
        return METRICS[self.metric]


#: Keys of a threshold table.
TABLE_KEYS = ("expr", "abort", "min_requests")
#: Requests an abort waits for unless ``min_requests`` says otherwise.
DEFAULT_MIN_REQUESTS = 100


def parse_threshold(expr: str | Mapping[str, Any]) -> Threshold:
    """Parse one expression such as ``"GET /api: p95 < 200ms"``, or a table
    ``{"expr": ..., "abort": True, "min_requests": 100}``; raise ThresholdError if bad."""
    if isinstance(expr, Mapping):
        return _parse_table(expr)
    if not isinstance(expr, str):
        raise ThresholdError(f"threshold {expr!r}: expected a string like 'p95 < 300ms'")
    match = _EXPR.match(expr)
    if not match:
        raise ThresholdError(
            f"threshold {expr!r}: expected '[ENDPOINT:] METRIC OP VALUE[UNIT]', e.g. 'p95 < 300ms'"
        )
    metric, op, unit = match["metric"], match["op"], match["unit"]
    if metric not in METRICS:
        known = ", ".join(METRICS)
        raise ThresholdError(f"threshold {expr!r}: unknown metric {metric!r} (known: {known})")
    value = float(match["value"])
    kind = METRICS[metric]
    if kind == "ms":
        if unit in (None, "ms"):
            limit = value
        elif unit == "s":
            limit = value * 1000.0
        else:
            raise ThresholdError(f"threshold {expr!r}: {metric} takes ms or s, not {unit!r}")
    elif kind == "ratio":
        if unit == "%":
            limit = value / 100.0
        elif unit is None and value <= 1:
            limit = value
        else:
            raise ThresholdError(f"threshold {expr!r}: fail_ratio takes a percentage like '1%'")
    elif kind == "rps":
        if unit not in (None, "/s"):
            raise ThresholdError(f"threshold {expr!r}: rps takes a plain number, not {unit!r}")
        limit = value
    else:
        if unit is not None:
            raise ThresholdError(f"threshold {expr!r}: {metric} takes a plain count")
        limit = value
    endpoint = match["endpoint"]
    return Threshold(expr=expr.strip(), metric=metric, op=op, limit=limit, endpoint=endpoint)


def _parse_table(table: Mapping[str, Any]) -> Threshold:
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise ThresholdError(f"threshold {dict(table)!r}: unknown key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(TABLE_KEYS)})")
    if "expr" not in table:
        raise ThresholdError(f"threshold {dict(table)!r}: 'expr' is required")
    threshold = parse_threshold(table["expr"])
    abort = table.get("abort", False)
    min_requests = table.get("min_requests", DEFAULT_MIN_REQUESTS)
    if not isinstance(abort, bool):
        raise ThresholdError(f"threshold {threshold.expr!r}: abort must be true or false")
    if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 1:
        raise ThresholdError(f"threshold {threshold.expr!r}: min_requests must be an "
                             "integer >= 1")
    if abort:
        problem = abort_problem(threshold)
        if problem:
            raise ThresholdError(f"threshold {threshold.expr!r}: abort: {problem}")
    return replace(threshold, abort=abort, min_requests=min_requests if abort else 0)


#: Metrics a live run can breach for good (see abort.py).
ABORTABLE = ("failures", "fail_ratio", "avg", "max", "p50", "p90", "p95", "p99")


def abort_problem(threshold: Threshold) -> str | None:
    """Why ``threshold`` cannot stop a load early, or None when it can."""
    if threshold.metric not in ABORTABLE:
        return (f"{threshold.metric} is only known at the end of a run "
                f"(abortable: {', '.join(ABORTABLE)})")
    if threshold.op not in ("<", "<="):
        return f"{threshold.metric} {threshold.op} ...: only an upper bound can be breached early"
    return None


def parse_thresholds(exprs: Iterable[str | Mapping[str, Any]] | str) -> list[Threshold]:
    """Parse every expression; the first bad one raises ThresholdError naming it."""
    if isinstance(exprs, (str, Mapping)):
        exprs = [exprs]
    return [parse_threshold(expr) for expr in exprs]


def format_metric(value: float | None, unit: str) -> str:
    """Human form of a metric in its canonical unit: ``52 ms``, ``0.50%``, ``210.3 req/s``."""
    if value is None:
        return "n/a"
    if unit == "ms":
        whole = value >= 10 or float(value).is_integer()
        return f"{value:.0f} ms" if whole else f"{value:.2f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "rps":
        return f"{value:.1f} req/s"
    return f"{value:.0f}"


def evaluate(threshold: Threshold | str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate one threshold against a metrics dict (see ``metrics.summarize``).

    Returns ``{expr, metric, endpoint, observed, limit, unit, passed, detail}``. A threshold
    that cannot be evaluated fails (fail closed) with ``observed`` None: a missing endpoint, a
    scope without requests (only ``requests`` itself is judged on a count of 0), latency or rps
    without a successful request, a metric not measured.
    """
    if isinstance(threshold, str):
        threshold = parse_threshold(threshold)
    scope: Mapping[str, Any] | None = metrics
    where = ""
    if threshold.endpoint:
        scope = endpoint_metrics(metrics, threshold.endpoint)
        where = f" for {threshold.endpoint}"
    observed = None if scope is None else scope.get(threshold.metric)
    why = f"{threshold.metric} not measured{where}"
    if scope is None:
        why = f"no requests{where}"
    elif threshold.metric != "requests" and not scope.get("requests"):
        observed, why = None, f"no requests{where}"
    elif threshold.metric in SUCCESS_METRICS and not _successes(scope):
        observed, why = None, f"no successful request{where} to measure"
    unit = threshold.unit
    required = f"{threshold.op} {format_metric(threshold.limit, unit)}"
    if isinstance(observed, bool) or not isinstance(observed, (int, float)):
        observed = None
    if observed is None:
        passed = False
        detail = f"{threshold.metric}: {why}, required {required}"
    else:
        passed = bool(_OPS[threshold.op](float(observed), threshold.limit))
        detail = f"{threshold.metric}{where} = {format_metric(observed, unit)}, required {required}"
    return {
        "expr": threshold.expr,
        "metric": threshold.metric,
        "endpoint": threshold.endpoint,
        "observed": None if observed is None else float(observed),
        "limit": threshold.limit,
        "unit": unit,
        "passed": passed,
        "detail": detail,
    }


def _successes(scope: Mapping[str, Any]) -> int:
    """Successful requests of a metrics block (older blocks lack ``successes``)."""
    if "successes" in scope:
        return int(scope.get("successes") or 0)
    return int(scope.get("requests") or 0) - int(scope.get("failures") or 0)


def evaluate_all(
    thresholds: Iterable[Threshold | str], metrics: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Evaluate every threshold; returns one result dict each, in order."""
    return [evaluate(t, metrics) for t in thresholds]
