"""The security gate: passive HTTP checks with a grade, rule levels, bandit over the source.

Everything here is plain functions over plain data (no pytest import); the pytest glue lives in
``pytest_staging.gates.security.items``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exported names and the module that holds each. Loaded on first use (PEP 562), so importing
# the plugin does not import requests, bandit or the rest for a run that never needs them.
_EXPORTS = {
    "BanditError": "bandit_scan",
    "BanditResult": "bandit_scan",
    "FAMILIES": "rules",
    "GRADES": "grade",
    "RULES": "rules",
    "SecurityCheckError": "http_checks",
    "SecuritySettings": "settings",
    "apply_levels": "levels",
    "check_cookies": "http_checks",
    "check_cors": "http_checks",
    "check_exposure": "http_checks",
    "check_headers": "http_checks",
    "check_transport": "transport",
    "from_section": "settings",
    "gate_summary": "runner",
    "judge": "runner",
    "letter": "grade",
    "parse_rules": "levels",
    "response_findings": "http_checks",
    "run_bandit": "bandit_scan",
    "run_family": "runner",
    "scan": "runner",
    "score": "grade",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
