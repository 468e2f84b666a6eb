"""The performance gate: Locust load runs (as a subprocess) judged by k6-style thresholds."""

from pytest_staging.gates.performance.baseline import (
    BaselineError,
    compare,
    load_baseline,
    parse_regressions,
)
from pytest_staging.gates.performance.metrics import endpoint_metrics, summarize
from pytest_staging.gates.performance.profile import ProfileError, render_locustfile
from pytest_staging.gates.performance.runner import LoadError, LoadOptions, LoadRun, run_load
from pytest_staging.gates.performance.thresholds import (
    Threshold,
    ThresholdError,
    evaluate,
    evaluate_all,
    parse_threshold,
    parse_thresholds,
)

__all__ = [
    "BaselineError",
    "LoadError",
    "LoadOptions",
    "LoadRun",
    "ProfileError",
    "Threshold",
    "ThresholdError",
    "compare",
    "endpoint_metrics",
    "evaluate",
    "evaluate_all",
    "load_baseline",
    "parse_regressions",
    "parse_threshold",
    "parse_thresholds",
    "render_locustfile",
    "run_load",
    "summarize",
]
