"""The security gate: passive HTTP checks with a grade, rule levels, bandit over the source.

Everything here is plain functions over plain data (no pytest import); the pytest glue lives in
``pytest_staging.gates.security.items``.
"""

from pytest_staging.gates.security.bandit_scan import BanditError, BanditResult, run_bandit
from pytest_staging.gates.security.grade import GRADES, letter, score
from pytest_staging.gates.security.http_checks import (
    SecurityCheckError,
    check_cookies,
    check_cors,
    check_exposure,
    check_headers,
    response_findings,
)
from pytest_staging.gates.security.levels import apply_levels, parse_rules
from pytest_staging.gates.security.rules import FAMILIES, RULES
from pytest_staging.gates.security.runner import gate_summary, judge, run_family, scan
from pytest_staging.gates.security.settings import SecuritySettings, from_section
from pytest_staging.gates.security.transport import check_transport

__all__ = [
    "FAMILIES",
    "GRADES",
    "RULES",
    "BanditError",
    "BanditResult",
    "SecurityCheckError",
    "SecuritySettings",
    "apply_levels",
    "check_cookies",
    "check_cors",
    "check_exposure",
    "check_headers",
    "check_transport",
    "from_section",
    "gate_summary",
    "judge",
    "letter",
    "parse_rules",
    "response_findings",
    "run_bandit",
    "run_family",
    "scan",
    "score",
]
