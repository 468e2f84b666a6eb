"""The performance gate: Locust load runs (as a subprocess) judged by k6-style thresholds."""

from __future__ import annotations

from pytest_staging.gates.lazy import lazy_getattr

# Exported names and the module that holds each, loaded on first use.
_EXPORTS = {
    "BaselineError": "baseline",
    "LoadError": "runner",
    "LoadOptions": "runner",
    "LoadRun": "runner",
    "ProfileError": "profile",
    "Threshold": "thresholds",
    "ThresholdError": "thresholds",
    "compare": "baseline",
    "endpoint_metrics": "metrics",
    "evaluate": "thresholds",
    "evaluate_all": "thresholds",
    "load_baseline": "baseline",
    "parse_regressions": "baseline",
    "parse_threshold": "thresholds",
    "parse_thresholds": "thresholds",
    "render_locustfile": "profile",
    "run_load": "runner",
    "summarize": "metrics",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
