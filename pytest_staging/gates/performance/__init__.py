"""The performance gate: Locust load runs (as a subprocess) judged by k6-style thresholds."""

from __future__ import annotations

import importlib
from typing import Any

# Exported names and the module that holds each. Loaded on first use (PEP 562), so importing
# the plugin does not import requests, bandit or the rest for a run that never needs them.
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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
