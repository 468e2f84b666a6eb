"""The ``[security]`` policy keys and the settings the security gate runs with.

:data:`SECURITY_KEY_SPECS` is the declarative key table (dotted path under ``security``, types,
default, help, check) that ``pytest_staging.policy`` turns into its ``Key`` entries, so the
policy loader validates these keys like every other one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_staging.gates.security.bandit_scan import DEFAULT_EXCLUDE, LEVEL_NAMES
from pytest_staging.gates.security.grade import grade_problem
from pytest_staging.gates.security.levels import RuleSetting, parse_rules, rules_problem
from pytest_staging.gates.security.rules import FAMILIES

Check = Callable[[Any], "str | None"]


def _families(value: Any) -> str | None:
    bad = [v for v in value if v not in FAMILIES]
    if bad or not all(isinstance(v, str) for v in value):
        return f"expected a list drawn from {', '.join(FAMILIES)}"
    return None


def _strings(value: Any) -> str | None:
    return None if all(isinstance(v, str) for v in value) else "expected an array of strings"


def _paths(value: Any) -> str | None:
    if not all(isinstance(v, str) and v.startswith("/") for v in value):
        return "expected an array of paths starting with '/'"
    return None


def _grade_or_empty(value: Any) -> str | None:
    return None if value == "" else grade_problem(value)


def _level(value: Any) -> str | None:
    return None if value in LEVEL_NAMES else f"expected one of {', '.join(LEVEL_NAMES)}"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "expected a value >= 0"


def _http_url(value: Any) -> str | None:
    ok = value == "" or value.startswith("http://")
    return None if ok else "expected an http:// URL (or \"\" to derive it)"


#: (path under "security", type(s), default, help, check)
SECURITY_KEY_SPECS: tuple[tuple[str, Any, Any, str, Check | None], ...] = (
    ("builtin", list, list(FAMILIES),
     "passive check families run as test items: headers, cookies, transport, exposure, cors",
     _families),
    ("min_grade", str, "",
     "lowest acceptable HTTP grade (A+ ... F); \"\" for no minimum", _grade_or_empty),
    ("cert_expiry_days", int, 14,
     "a certificate expiring within this many days is a finding", _non_negative),
    ("sensitive_paths", list, [],
     "paths that must not answer 200 with content; [] for the built-in list", _paths),
    ("plain_http_url", str, "",
     "http:// URL that must redirect to the HTTPS target; \"\" to derive it (port 80)", _http_url),
    ("timeout", (int, float), 10.0, "seconds allowed for each check request", None),
    ("rules", dict, {},
     "rule id -> ignore|info|warn|fail, or {level, owner, expires, reason}", rules_problem),
    ("bandit.source", str, "",
     "source tree bandit scans (--staging-source overrides); \"\" for no scan", None),
    ("bandit.severity", str, "medium", "lowest bandit severity reported: low|medium|high",
     _level),
    ("bandit.confidence", str, "medium", "lowest bandit confidence reported: low|medium|high",
     _level),
    ("bandit.baseline", str, "",
     "bandit JSON report whose issues are accepted (relative paths are fine)", None),
    ("bandit.exclude", list, list(DEFAULT_EXCLUDE),
     "directory names bandit does not descend into", _strings),
)


@dataclass(frozen=True)
class SecuritySettings:
    """Everything the security gate needs, resolved from the policy and the command line."""

    builtin: tuple[str, ...] = FAMILIES
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

    Returns the values with defaults filled in; raises ValueError("<source>: security.<key>:
    ...") on an unknown key, a wrong type or a bad value.
    """
    specs = {path: (types, default, check) for path, types, default, _, check
             in SECURITY_KEY_SPECS}
    values = {path: default for path, (_, default, _) in specs.items()}
    for path, value in section.items():
        if path not in specs:
            raise ValueError(f"{source}: security.{path}: unknown key "
                             f"(known keys here: {', '.join(specs)})")
        types, _, check = specs[path]
        types = types if isinstance(types, tuple) else (types,)
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ValueError(f"{source}: security.{path}: wrong type {type(value).__name__}")
        problem = check(value) if check else None
        if problem:
            raise ValueError(f"{source}: security.{path}: {problem}, got {value!r}")
        values[path] = value
    return values


def from_section(section: Mapping[str, Any], source_override: str | None = None
                 ) -> SecuritySettings:
    """Settings from a validated flat ``security`` section (``Policy.section("security")``)."""
    values = validate_section(section)
    return SecuritySettings(
        builtin=tuple(values["builtin"]),
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
