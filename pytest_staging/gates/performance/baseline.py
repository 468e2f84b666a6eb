"""Baseline comparison (a canary judge): metrics against an earlier verdict's performance gate.

``max_regression`` expressions::

    [ENDPOINT:] METRIC +N%     the metric may grow at most N% (latency, fail_ratio)
    [ENDPOINT:] METRIC -N%     the metric may shrink at most N% (rps)
    [ENDPOINT:] METRIC +Nms    absolute allowance, in the metric's unit (ms, s)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_staging.gates.performance.metrics import endpoint_metrics
from pytest_staging.gates.performance.thresholds import METRICS, ThresholdError, format_metric

_EXPR = re.compile(
    r"^\s*(?:(?P<endpoint>\S.*?)\s*:\s+)?(?P<metric>[a-z_0-9]+)\s+"
    r"(?P<sign>[+-])\s*(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>%|ms|s)?\s*$"
)


class BaselineError(ValueError):
    """A baseline file or regression expression that cannot be used."""


@dataclass(frozen=True)
class Regression:
    """One parsed ``max_regression`` rule."""

    expr: str
    metric: str
    sign: str
    amount: float
    relative: bool
    endpoint: str | None = None


def parse_regression(expr: str) -> Regression:
    """Parse ``"p95 +15%"`` or ``"GET /x: rps -10%"``; raise BaselineError naming a bad one."""
    match = _EXPR.match(expr) if isinstance(expr, str) else None
    if not match:
        raise BaselineError(
            f"max_regression {expr!r}: expected '[ENDPOINT:] METRIC +N%' or 'METRIC -N%'"
        )
    metric, unit = match["metric"], match["unit"]
    if metric not in METRICS:
        raise BaselineError(f"max_regression {expr!r}: unknown metric {metric!r}")
    amount = float(match["value"])
    relative = unit == "%"
    if not relative:
        if METRICS[metric] == "ms":
            amount = amount * 1000.0 if unit == "s" else amount
        elif unit is not None:
            raise BaselineError(f"max_regression {expr!r}: {metric} takes % or a plain number")
    return Regression(expr.strip(), metric, match["sign"], amount, relative, match["endpoint"])


def parse_regressions(exprs: Iterable[str]) -> list[Regression]:
    """Parse every rule; the first bad one raises BaselineError."""
    if isinstance(exprs, str):
        exprs = [exprs]
    return [parse_regression(e) for e in exprs]


def load_baseline(path: str | Path) -> dict[str, Any]:
    """The performance metrics of an earlier ``verdict.json`` (or a report dir holding one).

    Returns ``{load name: metrics dict}``; raise BaselineError when unreadable.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "verdict.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineError(f"performance baseline {file}: cannot read ({exc})") from None
    try:
        loads = data["gates"]["performance"]["metrics"]
    except (KeyError, TypeError):
        raise BaselineError(f"performance baseline {file}: no performance metrics in it") from None
    if not isinstance(loads, dict):
        raise BaselineError(f"performance baseline {file}: performance metrics is not an object")
    return {name: m for name, m in loads.items() if isinstance(m, dict) and "requests" in m}


def compare(
    rules: Iterable[Regression | str],
    current: Mapping[str, Any],
    baseline: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Judge ``current`` metrics against ``baseline`` metrics of the same load.

    Each result: ``{expr, metric, endpoint, observed, baseline, limit, unit, passed, detail}``;
    a metric missing on either side fails (fail closed).
    """
    results = []
    for rule in rules:
        if isinstance(rule, str):
            rule = parse_regression(rule)
        unit = METRICS[rule.metric]
        now_scope = endpoint_metrics(current, rule.endpoint) if rule.endpoint else current
        base_scope = endpoint_metrics(baseline, rule.endpoint) if rule.endpoint else baseline
        now = None if now_scope is None else now_scope.get(rule.metric)
        base = None if base_scope is None else base_scope.get(rule.metric)
        where = f" for {rule.endpoint}" if rule.endpoint else ""
        limit: float | None = None
        if now is None or base is None:
            passed = False
            detail = f"{rule.metric}{where}: not measured in {'run' if now is None else 'baseline'}"
        else:
            delta = float(base) * rule.amount / 100.0 if rule.relative else rule.amount
            limit = float(base) + delta if rule.sign == "+" else float(base) - delta
            passed = float(now) <= limit if rule.sign == "+" else float(now) >= limit
            word = "at most" if rule.sign == "+" else "at least"
            detail = (
                f"{rule.metric}{where} = {format_metric(float(now), unit)}, baseline "
                f"{format_metric(float(base), unit)}, allowed {word} {format_metric(limit, unit)} "
                f"({rule.expr})"
            )
        results.append(
            {
                "expr": rule.expr,
                "metric": rule.metric,
                "endpoint": rule.endpoint,
                "observed": None if now is None else float(now),
                "baseline": None if base is None else float(base),
                "limit": limit,
                "unit": unit,
                "passed": passed,
                "detail": detail,
            }
        )
    return results


__all__ = [
    "BaselineError",
    "Regression",
    "ThresholdError",
    "compare",
    "load_baseline",
    "parse_regression",
    "parse_regressions",
]
