"""Rule levels from the policy, like ZAP's rules file, with accepted-risk entries that expire.

``[security.rules]`` maps a rule id to a level, or to a table::

    [security.rules]
    xcto-missing = "warn"
    coop-missing = "ignore"
    csp-missing = { level = "warn", owner = "alice", expires = 2026-12-31, reason = "JIRA-12" }

An entry whose ``expires`` date has passed counts as ``fail`` again, whatever level it names.
The level and accepted-risk logic is shared with the contract gate (``pytest_staging.rule_levels``);
this module binds it to the security rule catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_staging.gates.security.rules import RULES, is_known_rule
from pytest_staging.rule_levels import (
    ENTRY_KEYS,
    RuleSetting,
    apply_levels,
    count_levels,
    parse_table,
    table_problem,
)

__all__ = ["ENTRY_KEYS", "RuleSetting", "apply_levels", "count_levels", "parse_rules",
           "rules_problem"]


def _known() -> str:
    return f"{', '.join(sorted(RULES))}, or a bandit test id like B602"


def rules_problem(value: Any) -> str | None:
    """Validation for the policy's ``security.rules`` table: None if fine, else what is wrong."""
    return table_problem(value, is_known_rule, _known())


def parse_rules(value: Mapping[str, Any]) -> dict[str, RuleSetting]:
    """Turn a validated ``security.rules`` table into settings (raises ValueError if invalid)."""
    return parse_table(value, is_known_rule, _known())
