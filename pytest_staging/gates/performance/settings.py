"""Policy keys of the ``[performance]`` section: the gate's part of the one policy key table.

:data:`PERFORMANCE_KEYS` holds ``policy_keys.Key`` entries read by ``pytest_staging.policy``;
``validate`` applies them to a parsed TOML section and returns the effective settings; errors
name the key (policy.py prefixes the file name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_staging.gates.performance.baseline import parse_regressions
from pytest_staging.gates.performance.runner import LoadError, parse_timespan
from pytest_staging.gates.performance.thresholds import parse_thresholds
from pytest_staging.policy_keys import (
    Key,
    all_of,
    at_least,
    from_raising,
    one_of,
    positive,
    strings,
    validate_section,
)

GATE = "performance"


def _thresholds(value: Any) -> str | None:
    if not all(isinstance(v, (str, dict)) for v in value):
        return ("expected a list of strings or tables like "
                "{expr = 'fail_ratio < 5%', abort = true}")
    return from_raising(parse_thresholds)(value)


def _fail_ratio(value: Any) -> str | None:
    try:
        (ceiling,) = parse_thresholds([f"fail_ratio <= {value}"])
    except ValueError as exc:
        return str(exc)
    if not 0 <= ceiling.limit <= 1:
        return f"{value!r}: expected a percentage from '0%' to '100%'"
    return None


PERFORMANCE_KEYS: tuple[Key, ...] = (
    Key("performance.thresholds", (list,), [],
        "thresholds judged for every load test, e.g. 'p95 < 300ms', 'fail_ratio < 1%'",
        _thresholds),
    Key("performance.max_fail_ratio", (str,), "1%",
        "failed-request ceiling every load must hold without any threshold written, e.g. "
        "'1%', '0%' ('100%' to judge failures by thresholds only)", _fail_ratio),
    Key("performance.max_regression", (list,), [],
        "allowed change vs --staging-perf-baseline, e.g. 'p95 +15%', 'rps -10%'",
        all_of(strings, from_raising(parse_regressions))),
    Key("performance.baseline_missing", (str,), "fail",
        "a load with no match in --staging-perf-baseline: fail (blocks) or warn",
        one_of("fail", "warn")),
    Key("performance.users", (int,), 10, "default number of simulated users of staging_load()",
        positive),
    Key("performance.spawn_rate", (int, float), 10, "default users started per second",
        positive),
    Key("performance.run_time", (str, int, float), "10s",
        "default load duration: seconds or '30s', '2m'", from_raising(parse_timespan, LoadError)),
    Key("performance.stop_timeout", (int, float), 5,
        "seconds Locust lets tasks finish at the end", positive),
    Key("performance.processes", (int,), 0,
        "locust --processes per load test, 0 for one process (--staging-load-processes)",
        at_least(0)),
    Key("performance.workers", (int,), 0,
        "master mode: external locust workers to expect, 0 for none (--staging-load-workers)",
        at_least(0)),
    Key("performance.expect_workers_max_wait", (int, float), 60,
        "master mode: seconds the Locust master waits for every worker to connect before "
        "the load is a NO-GO (locust --expect-workers-max-wait)", positive),
    Key("performance.lock_timeout", (int, float), 300,
        "under xdist: seconds a load waits for other tests to finish before it runs anyway",
        positive),
    Key("performance.traceparent", (bool,), False,
        "every request of a load to the staging origin carries W3C trace context: a new span "
        "of the load test's trace (thousands of spans in one trace: mind your tracing "
        "backend's limits and sampling)"),
)


def validate(section: Mapping[str, Any]) -> dict[str, Any]:
    """Validated ``[performance]`` settings with defaults filled in; ValueError names the key."""
    return validate_section(PERFORMANCE_KEYS, GATE, section)
