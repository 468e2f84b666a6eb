"""The ``[contract]`` policy keys and the settings the contract gate runs with. No pytest import.

:data:`CONTRACT_KEYS` is the gate's part of the one policy key table (``policy_keys.Key``
entries, read by ``pytest_staging.policy``), so the policy loader validates these keys like
every other one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_staging.durations import parse_rate
from pytest_staging.policy_keys import Key, at_least, positive, validate_section
from pytest_staging.rule_levels import RuleSetting, parse_table, table_problem

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


def _percent(value: Any) -> str | None:
    return None if 0 <= value <= 100 else "expected a percentage from 0 to 100"


def _is_check(rule_id: str) -> bool:
    return rule_id in CHECKS


def rules_problem(value: Any) -> str | None:
    return table_problem(value, _is_check, ", ".join(CHECKS))


CONTRACT_KEYS: tuple[Key, ...] = (
    Key("contract.schema", str, None,
        "OpenAPI document: a path on the target (/openapi.json), a URL or a file (relative to "
        "the policy, an absolute path in a directory that exists here, or file://; a missing "
        "file is a usage error); setting it adds the contract gate (--staging-openapi "
        "overrides) [none: no contract gate]",
        _schema),
    Key("contract.allow_unsafe", bool, False,
        "also send POST/PUT/PATCH/DELETE requests (never on a target that matches "
        "sensitive_url)"),
    Key("contract.max_examples", int, 20, "generated requests per operation at most", positive),
    Key("contract.max_requests", int, 1000, "generated requests per run at most", positive),
    Key("contract.max_seconds", (int, float), 120.0,
        "seconds the gate may spend generating requests per run (per xdist worker)", positive),
    Key("contract.rate", str, "20/s", "request rate limit for the whole run, like '20/s' or "
        "'600/m'", _rate),
    Key("contract.seed", int, None,
        "Hypothesis seed that reproduces a run (--staging-contract-seed overrides) [random, "
        "recorded in the verdict]", at_least(0)),
    Key("contract.min_coverage", (int, float), 0.0,
        "percent of documented operations that must receive at least one response", _percent),
    Key("contract.rules", dict, {},
        "check name -> ignore|info|warn|fail, or {level, owner, expires, reason}",
        rules_problem),
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
    """Settings from the policy's flat ``contract`` section (``Policy.section("contract")``);
    a key the section lacks takes its default from the key table."""
    values = validate_section(CONTRACT_KEYS, "contract", section)
    seed = values["seed"]
    return ContractSettings(
        schema=str(values["schema"] or "").strip(),
        allow_unsafe=bool(values["allow_unsafe"]),
        max_examples=int(values["max_examples"]),
        max_requests=int(values["max_requests"]),
        max_seconds=float(values["max_seconds"]),
        rate=parse_rate(values["rate"]),
        rate_text=str(values["rate"]),
        seed=int(seed) if seed is not None else None,
        min_coverage=float(values["min_coverage"]),
        rules=parse_table(values["rules"], _is_check, ", ".join(CHECKS)),
    )
