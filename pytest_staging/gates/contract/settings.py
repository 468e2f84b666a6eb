"""The ``[contract]`` policy keys and the settings the contract gate runs with. No pytest import.

:data:`CONTRACT_KEY_SPECS` is the declarative key table that ``pytest_staging.policy`` turns into
its ``Key`` entries, so the policy loader validates these keys like every other one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_staging.durations import parse_rate
from pytest_staging.rule_levels import RuleSetting, parse_table, table_problem

Check = Callable[[Any], "str | None"]

#: Schemathesis' response checks this gate runs, by their Schemathesis names (the rule ids).
CHECKS: tuple[str, ...] = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
def _rate(value: Any) -> str | None:
    try:
        parse_rate(value)
    except ValueError as exc:
        return str(exc).split(", got")[0]
    return None


def _schema(value: Any) -> str | None:
    # An explicit empty schema is a usage error, never "contract gate off".
    return None if value.strip() else "expected a path on the target, a URL or a file"


def _positive(value: Any) -> str | None:
    return None if value > 0 else "expected a value > 0"


def _percent(value: Any) -> str | None:
    return None if 0 <= value <= 100 else "expected a percentage from 0 to 100"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "expected a value >= 0"


def _is_check(rule_id: str) -> bool:
    return rule_id in CHECKS


def rules_problem(value: Any) -> str | None:
    return table_problem(value, _is_check, ", ".join(CHECKS))


#: (path under "contract", type(s), default, help, check)
CONTRACT_KEY_SPECS: tuple[tuple[str, Any, Any, str, Check | None], ...] = (
    ("schema", str, None,
     "OpenAPI document: a path on the target (/openapi.json), a URL or a file; setting it adds "
     "the contract gate (--staging-openapi overrides) [none: no contract gate]", _schema),
    ("allow_unsafe", bool, False,
     "also send POST/PUT/PATCH/DELETE requests (never on a target that matches sensitive_url)",
     None),
    ("max_examples", int, 20, "generated requests per operation at most", _positive),
    ("max_requests", int, 1000, "generated requests per run at most", _positive),
    ("max_seconds", (int, float), 120.0,
     "seconds the gate may spend generating requests per run (per xdist worker)", _positive),
    ("rate", str, "20/s", "request rate limit for the whole run, like '20/s' or '600/m'", _rate),
    ("seed", int, None,
     "Hypothesis seed that reproduces a run (--staging-contract-seed overrides) [random, "
     "recorded in the verdict]", _non_negative),
    ("min_coverage", (int, float), 0.0,
     "percent of documented operations that must receive at least one response", _percent),
    ("rules", dict, {},
     "check name -> ignore|info|warn|fail, or {level, owner, expires, reason}", rules_problem),
)


@dataclass(frozen=True)
class ContractSettings:
    """Everything the contract gate needs, resolved from the policy."""

    schema: str = ""
    allow_unsafe: bool = False
    max_examples: int = 20
    max_requests: int = 1000
    max_seconds: float = 120.0
    rate: float = 20.0
    rate_text: str = "20/s"
    seed: int | None = None
    min_coverage: float = 0.0
    rules: Mapping[str, RuleSetting] = field(default_factory=dict)

    def level_of(self, check: str, today: dt.date | None = None) -> str:
        """The level of ``check``: ``fail`` unless the policy says otherwise, and ``fail``
        again once an accepted risk has expired."""
        setting = self.rules.get(check)
        if setting is None or setting.expired(today or dt.date.today()):
            return "fail"
        return setting.level


def from_section(section: Mapping[str, Any]) -> ContractSettings:
    """Settings from the policy's flat ``contract`` section (``Policy.section("contract")``)."""
    seed = section.get("seed")
    return ContractSettings(
        schema=str(section.get("schema") or "").strip(),
        allow_unsafe=bool(section.get("allow_unsafe", False)),
        max_examples=int(section.get("max_examples", 20)),
        max_requests=int(section.get("max_requests", 1000)),
        max_seconds=float(section.get("max_seconds", 120.0)),
        rate=parse_rate(section.get("rate", "20/s")),
        rate_text=str(section.get("rate", "20/s")),
        seed=int(seed) if seed is not None else None,
        min_coverage=float(section.get("min_coverage", 0.0)),
        rules=parse_table(section.get("rules", {}), _is_check, ", ".join(CHECKS)),
    )
