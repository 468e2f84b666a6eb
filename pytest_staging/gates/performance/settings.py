"""Policy keys of the ``[performance]`` section, as a declarative table for policy.py.

Each row: key -> (expected type(s), default, validator or None, description). ``validate``
applies the table to a parsed TOML section and returns the effective settings; errors name the
key (policy.py prefixes the file name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pytest_staging.gates.performance.baseline import parse_regressions
from pytest_staging.gates.performance.runner import LoadError, parse_timespan
from pytest_staging.gates.performance.thresholds import parse_thresholds


def _list_of_str(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")


def _thresholds(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, (str, dict)) for v in value):
        raise ValueError("expected a list of strings or tables like "
                         "{expr = 'fail_ratio < 5%', abort = true}")
    parse_thresholds(value)


def _fail_ratio(value: Any) -> None:
    (ceiling,) = parse_thresholds([f"fail_ratio <= {value}"])
    if not 0 <= ceiling.limit <= 1:
        raise ValueError(f"{value!r}: expected a percentage from '0%' to '100%'")


def _regressions(value: Any) -> None:
    _list_of_str(value)
    parse_regressions(value)


def _positive(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError("expected a positive number")


def _non_negative_int(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected an integer >= 0")


def _fail_or_warn(value: Any) -> None:
    if value not in ("fail", "warn"):
        raise ValueError("expected one of fail, warn")


def _timespan(value: Any) -> None:
    try:
        parse_timespan(value)
    except LoadError as exc:
        raise ValueError(str(exc)) from None


Validator = Callable[[Any], None]

PERFORMANCE_KEYS: dict[str, tuple[tuple[type, ...], Any, Validator | None, str]] = {
    "thresholds": (
        (list,),
        [],
        _thresholds,
        "thresholds judged for every load test, e.g. 'p95 < 300ms', 'fail_ratio < 1%'",
    ),
    "max_fail_ratio": (
        (str,),
        "1%",
        _fail_ratio,
        "failed-request ceiling every load must hold without any threshold written, e.g. "
        "'1%', '0%' ('100%' to judge failures by thresholds only)",
    ),
    "max_regression": (
        (list,),
        [],
        _regressions,
        "allowed change vs --staging-perf-baseline, e.g. 'p95 +15%', 'rps -10%'",
    ),
    "baseline_missing": (
        (str,),
        "fail",
        _fail_or_warn,
        "a load with no match in --staging-perf-baseline: fail (blocks) or warn",
    ),
    "users": ((int,), 10, _positive, "default number of simulated users of staging_load()"),
    "spawn_rate": ((int, float), 10, _positive, "default users started per second"),
    "run_time": (
        (str, int, float),
        "10s",
        _timespan,
        "default load duration: seconds or '30s', '2m'",
    ),
    "stop_timeout": ((int, float), 5, _positive, "seconds Locust lets tasks finish at the end"),
    "processes": (
        (int,),
        0,
        _non_negative_int,
        "locust --processes per load test, 0 for one process (--staging-load-processes)",
    ),
    "workers": (
        (int,),
        0,
        _non_negative_int,
        "master mode: external locust workers to expect, 0 for none (--staging-load-workers)",
    ),
    "lock_timeout": (
        (int, float),
        300,
        _positive,
        "under xdist: seconds a load waits for other tests to finish before it runs anyway",
    ),
}


def validate(section: Mapping[str, Any]) -> dict[str, Any]:
    """Validated ``[performance]`` settings with defaults filled in; ValueError names the key."""
    result = {key: spec[1] for key, spec in PERFORMANCE_KEYS.items()}
    for key, value in section.items():
        if key not in PERFORMANCE_KEYS:
            raise ValueError(
                f"performance.{key}: unknown key (known: {', '.join(PERFORMANCE_KEYS)})"
            )
        types, _default, check, description = PERFORMANCE_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"performance.{key}: {description}: wrong type {type(value).__name__}")
        if check is not None:
            try:
                check(value)
            except ValueError as exc:
                raise ValueError(f"performance.{key}: {exc}") from None
        result[key] = value
    return result


def _as_check(validator: Validator | None) -> Callable[[Any], str | None] | None:
    """Adapt a raising validator to policy.py's ``check(value) -> problem | None``."""
    if validator is None:
        return None

    def check(value: Any) -> str | None:
        try:
            validator(value)
        except ValueError as exc:
            return str(exc)
        return None

    return check


def policy_rows() -> list[
    tuple[str, tuple[type, ...], Any, str, Callable[[Any], str | None] | None]
]:
    """``(path, type, default, doc, check)`` rows for policy.py's ``Key`` table."""
    return [
        (f"performance.{key}", types, default, doc, _as_check(validator))
        for key, (types, default, validator, doc) in PERFORMANCE_KEYS.items()
    ]
