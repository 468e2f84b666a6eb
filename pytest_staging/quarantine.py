"""Flaky tests in quarantine: ``[flaky] quarantine`` entries with an owner and an expiry.

    [flaky]
    quarantine = [{test = "tests/test_cart.py::test_coupon", owner = "alice",
                   expires = 2026-12-31, reason = "JIRA-123: race in the coupon service"}]

A quarantined test still runs and is reported; until its entry expires, its failure does not
block (the gate is ``advisory``) and it never counts as passed evidence toward ``min_tests``.
From the day after ``expires`` it blocks again, like an expired accepted risk: the expiry rule
is ``rule_levels.RuleSetting``'s. The controller judges expiry on the day of the run and hands
``verdict.decide()`` the entries with ``expired`` set (:func:`quarantine_facts`); the verdict
carries them, so ``pytest-staging verify`` re-derives the same verdict later. An entry without
a node id like ``path::name`` matches no test; one naming a test without its parameters
(``test_x``) covers every parametrization (``test_x[1]``). No pytest import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_staging.rule_levels import RuleSetting, parse_date

ENTRY_KEYS = ("test", "owner", "expires", "reason")
REQUIRED = ("test", "owner", "expires")


def entry_problem(index: int, entry: Any) -> str | None:
    """What is wrong with one quarantine entry, or None."""
    where = f"entry {index + 1}"
    if not isinstance(entry, Mapping):
        return f"{where}: expected a table like {{test = \"path::name\", owner = \"alice\", " \
               f"expires = 2026-12-31, reason = \"...\"}}"
    unknown = [k for k in entry if k not in ENTRY_KEYS]
    if unknown:
        return f"{where}.{unknown[0]}: unknown key (known keys here: {', '.join(ENTRY_KEYS)})"
    missing = [k for k in REQUIRED if k not in entry]
    if missing:
        return f"{where}: {missing[0]} is required (a quarantine needs a test, an owner and " \
               "an expiry)"
    for key in ("test", "owner", "reason"):
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            return f"{where}.{key}: expected a non-empty string"
    if "::" not in entry["test"]:
        return f"{where}.test: expected a pytest node id like 'tests/test_x.py::test_y'"
    if parse_date(entry["expires"]) is None:
        return f"{where}.expires: expected a date like 2026-12-31"
    return None


def quarantine_problem(value: Any) -> str | None:
    """Validation of ``flaky.quarantine`` (a ``policy_keys`` check)."""
    seen = set()
    for index, entry in enumerate(value):
        problem = entry_problem(index, entry)
        if problem:
            return problem
        if entry["test"] in seen:
            return f"entry {index + 1}.test: {entry['test']} is quarantined twice"
        seen.add(entry["test"])
    return None


def quarantine_facts(entries: Sequence[Mapping[str, Any]],
                     today: dt.date | None = None) -> list[dict[str, Any]]:
    """The policy's entries as ``RunFacts.quarantine``: builtins only, expiry judged today."""
    today = today or dt.date.today()
    out = []
    for entry in entries:
        rule = RuleSetting(level="quarantine", owner=str(entry.get("owner") or ""),
                           expires=parse_date(entry.get("expires")),
                           reason=str(entry.get("reason") or ""))
        out.append({"test": str(entry.get("test") or ""), "owner": rule.owner,
                    "expires": rule.expires.isoformat() if rule.expires else None,
                    "reason": rule.reason,
                    # No date is no quarantine: it blocks (validated away, but fail closed).
                    "expired": rule.expires is None or rule.expired(today)})
    return out


def covering(entries: Sequence[Mapping[str, Any]], nodeid: str) -> Mapping[str, Any] | None:
    """The entry that quarantines ``nodeid`` (exact, else without its parameters), or None."""
    base = nodeid.split("[", 1)[0]
    exact = next((e for e in entries if e.get("test") == nodeid), None)
    return exact or next((e for e in entries if e.get("test") == base), None)


__all__ = ["ENTRY_KEYS", "covering", "entry_problem", "quarantine_facts", "quarantine_problem"]
