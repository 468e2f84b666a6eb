"""Rule levels with accepted-risk entries that expire: shared by the gates that judge findings
by rule id (security, contract). No pytest import.

A gate's ``rules`` table maps a rule id to a level, or to a table::

    rules = { xcto-missing = "warn", csp-missing = { level = "warn", owner = "alice",
              expires = 2026-12-31, reason = "JIRA-12" } }

An entry whose ``expires`` date has passed counts as ``fail`` again, whatever level it names.
Each gate passes its own ``is_known`` predicate and ``known`` hint for the error messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LEVELS: tuple[str, ...] = ("ignore", "info", "warn", "fail")
ENTRY_KEYS = ("level", "owner", "expires", "reason")


@dataclass(frozen=True)
class RuleSetting:
    """The policy's word on one rule id."""

    level: str
    owner: str = ""
    expires: dt.date | None = None
    reason: str = ""

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today


def parse_date(value: Any) -> dt.date | None:
    """A TOML date, datetime or ``YYYY-MM-DD`` string as a date; None if it is none."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def entry_problem(rule_id: str, value: Any, is_known: Callable[[str], bool],
                  known: str) -> str | None:
    """What is wrong with one ``rules`` entry, or None."""
    if not is_known(rule_id):
        return f"{rule_id}: unknown rule id (known: {known})"
    if isinstance(value, str):
        if value not in LEVELS:
            return f"{rule_id}: expected one of {', '.join(LEVELS)}, got {value!r}"
        return None
    if not isinstance(value, Mapping):
        return f"{rule_id}: expected a level string or a table, got {type(value).__name__}"
    unknown = [k for k in value if k not in ENTRY_KEYS]
    if unknown:
        return f"{rule_id}.{unknown[0]}: unknown key (known keys here: {', '.join(ENTRY_KEYS)})"
    if value.get("level") not in LEVELS:
        return f"{rule_id}.level: expected one of {', '.join(LEVELS)}, got {value.get('level')!r}"
    for key in ("owner", "reason"):
        if key in value and not isinstance(value[key], str):
            return f"{rule_id}.{key}: expected string, got {value[key]!r}"
    if "expires" in value and parse_date(value["expires"]) is None:
        return f"{rule_id}.expires: expected a date like 2026-12-31, got {value['expires']!r}"
    return None


def table_problem(value: Any, is_known: Callable[[str], bool], known: str) -> str | None:
    """Validation for a ``rules`` table: None if fine, else what is wrong."""
    if not isinstance(value, Mapping):
        return f"expected a table, got {type(value).__name__}"
    for rule_id, entry in value.items():
        problem = entry_problem(str(rule_id), entry, is_known, known)
        if problem:
            return problem
    return None


def parse_table(value: Mapping[str, Any], is_known: Callable[[str], bool],
                known: str) -> dict[str, RuleSetting]:
    """Turn a ``rules`` table into settings (raises ValueError if invalid)."""
    problem = table_problem(value, is_known, known)
    if problem:
        raise ValueError(problem)
    out: dict[str, RuleSetting] = {}
    for rule_id, entry in value.items():
        if isinstance(entry, str):
            out[rule_id] = RuleSetting(level=entry)
        else:
            out[rule_id] = RuleSetting(
                level=entry["level"], owner=entry.get("owner", ""),
                expires=parse_date(entry.get("expires")), reason=entry.get("reason", ""))
    return out


def apply_levels(findings: Iterable[Mapping[str, Any]], rules: Mapping[str, RuleSetting],
                 today: dt.date | None = None) -> list[dict[str, Any]]:
    """Copies of ``findings`` with ``level`` set from the policy (expired entries: ``fail``)."""
    today = today or dt.date.today()
    out = []
    for item in findings:
        result = dict(item)
        setting = rules.get(str(result.get("rule", "")))
        if setting is not None:
            accepted: dict[str, Any] = {"owner": setting.owner, "reason": setting.reason,
                                        "expires": setting.expires.isoformat()
                                        if setting.expires else None}
            if setting.expired(today):
                result["level"] = "fail"
                accepted["expired"] = True
                who = f" (owner {setting.owner})" if setting.owner else ""
                result["evidence"] = (f"{result.get('evidence', '')} [accepted risk expired on "
                                      f"{setting.expires}{who}]").strip()
            else:
                result["level"] = setting.level
                accepted["expired"] = False
            if setting.owner or setting.expires or setting.reason:
                result["accepted_risk"] = accepted
        out.append(result)
    return out


def count_levels(findings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many findings sit at each level, every level present."""
    counts = dict.fromkeys(("fail", "warn", "info", "ignore"), 0)
    for item in findings:
        level = str(item.get("level", "fail"))
        counts[level if level in counts else "fail"] += 1
    return counts
