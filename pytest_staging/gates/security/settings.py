"""The ``[security]`` policy keys and the settings the security gate runs with.

:data:`SECURITY_KEYS` is the gate's part of the one policy key table (``policy_keys.Key``
entries, read by ``pytest_staging.policy``), so the policy loader validates these keys like
every other one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_staging.gates.security.bandit_scan import DEFAULT_EXCLUDE, LEVEL_NAMES
from pytest_staging.gates.security.grade import grade_problem
from pytest_staging.gates.security.levels import RuleSetting, parse_rules, rules_problem
from pytest_staging.gates.security.rules import FAMILIES
from pytest_staging.policy_keys import Key, at_least, one_of, paths, strings
from pytest_staging.policy_keys import validate_section as validate_keys

GATE = "security"


def _families(value: Any) -> str | None:
    bad = [v for v in value if v not in FAMILIES]
    if bad or not all(isinstance(v, str) for v in value):
        return f"expected a list drawn from {', '.join(FAMILIES)}"
    return None


def _grade_or_empty(value: Any) -> str | None:
    return None if value == "" else grade_problem(value)


def _http_url(value: Any) -> str | None:
    ok = value == "" or value.startswith("http://")
    return None if ok else "expected an http:// URL (or \"\" to derive it)"


SECURITY_KEYS: tuple[Key, ...] = (
    Key("security.builtin", list, list(FAMILIES),
        "passive check families run as test items: headers, cookies, transport, exposure, cors",
        _families),
    Key("security.builtin_blocking", bool, True,
        "failures of the built-in passive checks block promotion; false: they report as "
        "\"would have blocked\" (advisory) while your own security tests still block"),
    Key("security.min_grade", str, "",
        "lowest acceptable HTTP grade (A+ ... F); \"\" for no minimum", _grade_or_empty),
    Key("security.cert_expiry_days", int, 14,
        "a certificate expiring within this many days is a finding", at_least(0)),
    Key("security.sensitive_paths", list, [],
        "paths that must not answer 200 with content; [] for the built-in list", paths),
    Key("security.plain_http_url", str, "",
        "http:// URL that must redirect to the HTTPS target; \"\" to derive it (port 80)",
        _http_url),
    Key("security.timeout", (int, float), 10.0, "seconds allowed for each check request"),
    Key("security.rules", dict, {},
        "rule id -> ignore|info|warn|fail, or {level, owner, expires, reason}", rules_problem),
    Key("security.bandit.source", str, "",
        "source tree bandit scans (--staging-source overrides); \"\" for no scan"),
    Key("security.bandit.severity", str, "medium",
        "lowest bandit severity reported: low|medium|high", one_of(*LEVEL_NAMES)),
    Key("security.bandit.confidence", str, "medium",
        "lowest bandit confidence reported: low|medium|high", one_of(*LEVEL_NAMES)),
    Key("security.bandit.baseline", str, "",
        "bandit JSON report whose issues are accepted (relative paths are fine)"),
    Key("security.bandit.exclude", list, list(DEFAULT_EXCLUDE),
        "directory names bandit does not descend into", strings),
)


@dataclass(frozen=True)
class SecuritySettings:
    """Everything the security gate needs, resolved from the policy and the command line."""

    builtin: tuple[str, ...] = FAMILIES
    builtin_blocking: bool = True
    min_grade: str = ""
    cert_expiry_days: int = 14
    sensitive_paths: tuple[str, ...] = ()
    plain_http_url: str = ""
    timeout: float = 10.0
    rules: Mapping[str, RuleSetting] = field(default_factory=dict)
    bandit_source: str = ""
    bandit_severity: str = "medium"
    bandit_confidence: str = "medium"
    bandit_baseline: str = ""
    bandit_exclude: tuple[str, ...] = DEFAULT_EXCLUDE


def validate_section(section: Mapping[str, Any], source: str = "(inline)") -> dict[str, Any]:
    """Check a flat ``{"min_grade": ..., "bandit.source": ...}`` mapping against the key table.

    Returns the values with defaults filled in; raises PolicyError (a ValueError) naming
    ``<source>: security.<key>`` on an unknown key, a wrong type or a bad value.
    """
    return validate_keys(SECURITY_KEYS, GATE, section, source)


def from_section(section: Mapping[str, Any], source_override: str | None = None
                 ) -> SecuritySettings:
    """Settings from a validated flat ``security`` section (``Policy.section("security")``)."""
    values = validate_section(section)
    return SecuritySettings(
        builtin=tuple(values["builtin"]),
        builtin_blocking=bool(values["builtin_blocking"]),
        min_grade=str(values["min_grade"]),
        cert_expiry_days=int(values["cert_expiry_days"]),
        sensitive_paths=tuple(values["sensitive_paths"]),
        plain_http_url=str(values["plain_http_url"]),
        timeout=float(values["timeout"]),
        rules=parse_rules(values["rules"]),
        bandit_source=source_override or str(values["bandit.source"]),
        bandit_severity=str(values["bandit.severity"]),
        bandit_confidence=str(values["bandit.confidence"]),
        bandit_baseline=str(values["bandit.baseline"]),
        bandit_exclude=tuple(values["bandit.exclude"]),
    )
