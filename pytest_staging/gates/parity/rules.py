"""The catalogue of parity rules: what a difference between staging and production means.

Rule ids are stable (policies key on them in ``[parity.rules]``, SARIF consumers too). A
security finding the security gate knows (``hsts-missing``...) that staging has and
production has not is the parity rule ``security-<that id>`` (``security-hsts-missing``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_staging.gates.security.rules import RULES as SECURITY_RULES

KINDS: tuple[str, ...] = ("security", "transport", "api", "version")
SECURITY_PREFIX = "security-"


@dataclass(frozen=True)
class ParityRule:
    id: str
    kind: str
    level: str
    severity: str
    title: str
    fix: str


_RULES: tuple[ParityRule, ...] = (
    ParityRule("security-header-removed", "security", "fail", "high",
               "Production sends a security header that staging does not: the promotion "
               "would remove it", "Send the header from the release being promoted"),
    ParityRule("security-header-added", "security", "info", "info",
               "Staging sends a security header production does not", ""),
    ParityRule("security-header-changed", "security", "info", "info",
               "A security header has a different value on staging", ""),
    ParityRule("security-improved", "security", "info", "info",
               "Staging fixes a security finding production has", ""),
    ParityRule("transport-https-missing", "transport", "fail", "high",
               "Production is served over HTTPS, staging over plain HTTP",
               "Serve staging over HTTPS like production, so the release is tested as deployed"),
    ParityRule("transport-protocol-changed", "transport", "warn", "low",
               "The negotiated TLS protocol version differs", ""),
    ParityRule("transport-legacy-protocol", "transport", "fail", "high",
               "Staging accepts TLS older than 1.2, production does not",
               "Disable TLS 1.0 and 1.1 in the release's server configuration"),
    ParityRule("transport-issuer-changed", "transport", "warn", "low",
               "The certificate issuer differs", ""),
    ParityRule("transport-key-type-changed", "transport", "warn", "low",
               "The certificate key type differs", ""),
    ParityRule("transport-https-redirect-missing", "transport", "fail", "medium",
               "Production redirects plain HTTP to HTTPS, staging does not",
               "Answer every http:// request with a 301/308 redirect to https://"),
    ParityRule("api-endpoint-removed", "api", "fail", "high",
               "An endpoint production serves is gone on staging (breaking change)",
               "Keep the endpoint, or version the API and announce the removal"),
    ParityRule("api-endpoint-added", "api", "info", "info",
               "An endpoint answers on staging that production does not serve", ""),
    ParityRule("api-status-changed", "api", "fail", "medium",
               "An endpoint answers with a different status code", ""),
    ParityRule("api-content-type-changed", "api", "fail", "medium",
               "An endpoint answers with a different content type", ""),
    ParityRule("api-field-removed", "api", "fail", "high",
               "A JSON field production returns is missing on staging (breaking change)",
               "Keep the field, or version the API and announce the removal"),
    ParityRule("api-field-added", "api", "info", "info",
               "A JSON field is new on staging", ""),
    ParityRule("api-type-changed", "api", "fail", "high",
               "A JSON field has a different type on staging (breaking change)", ""),
    ParityRule("api-operation-removed", "api", "fail", "high",
               "An operation of production's OpenAPI document is missing from staging's", ""),
    ParityRule("api-operation-added", "api", "info", "info",
               "An operation is new in staging's OpenAPI document", ""),
    ParityRule("version-identical", "version", "info", "info",
               "Staging reports the same version as production (nothing new to promote?)", ""),
    ParityRule("version-missing", "version", "warn", "low",
               "A target reports no version", ""),
    ParityRule("config-field-differs", "version", "warn", "low",
               "A declared dependency/config field differs between staging and production", ""),
    ParityRule("config-field-missing", "version", "fail", "medium",
               "A declared dependency/config field production reports is missing on staging",
               ""),
)

RULES: dict[str, ParityRule] = {rule.id: rule for rule in _RULES}


def is_known_rule(rule_id: str) -> bool:
    """A parity rule id, or ``security-<id>`` for a passive HTTP rule of the security gate."""
    if rule_id in RULES:
        return True
    return (rule_id.startswith(SECURITY_PREFIX)
            and rule_id[len(SECURITY_PREFIX):] in SECURITY_RULES)


def known_hint() -> str:
    return f"{', '.join(sorted(RULES))}, or security-<security rule id> like security-hsts-missing"


def finding(rule_id: str, where: str, production: Any, staging: Any, evidence: str,
            **extra: Any) -> dict[str, Any]:
    """A parity finding with both observed values (level still the default: see levels)."""
    if rule_id in RULES:
        rule = RULES[rule_id]
        kind, level, severity, title, fix = (rule.kind, rule.level, rule.severity, rule.title,
                                             rule.fix)
    else:
        base = SECURITY_RULES[rule_id[len(SECURITY_PREFIX):]]
        kind, severity, fix = "security", base.severity, base.fix
        # Production is clean and staging is not: the promotion would weaken production.
        level = "fail"
        title = f"The promotion would bring to production: {base.title}"
    out: dict[str, Any] = {
        "rule": rule_id, "family": "parity", "kind": kind, "severity": severity,
        "level": level, "title": title, "url": where,
        "production": _shown(production), "staging": _shown(staging),
        "evidence": evidence, "fix": fix,
    }
    out.update(extra)
    return out


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    text = str(value)
    return text if len(text) <= 300 else text[:297] + "..."
