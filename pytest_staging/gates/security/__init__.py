"""The security gate: passive HTTP checks with a grade, rule levels, bandit over the source.

Everything here is plain functions over plain data (no pytest import); the pytest glue lives in
``pytest_staging.gates.security.items``.
"""

from __future__ import annotations

from pytest_staging.gates.lazy import lazy_getattr

# Exported names and the module that holds each, loaded on first use.
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


__getattr__ = lazy_getattr(__name__, _EXPORTS)
