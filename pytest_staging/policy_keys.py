"""One format for every policy key: :class:`Key`, the shared value checks, one validator.

The core (``policy.py``) and every gate (``gates/*/settings.py``) declare their keys as
``Key(...)`` entries built from the checks here; ``policy.parse_policy`` validates a whole file
and :func:`validate_section` a gate's flat section, both through :func:`check_value`, so a key
is judged the same way wherever it is read. Imports nothing of the plugin (no cycle: gates
import this module, ``policy.py`` imports the gates' tables) and nothing heavy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: A value check: the problem (``"expected ..."``) or None when the value is fine.
Check = Callable[[Any], "str | None"]
GATE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class PolicyError(ValueError):
    """A policy that cannot be used: the message names the file and the key."""


@dataclass(frozen=True)
class Key:
    """One policy key: dotted path (``*`` matches any gate name), type, default and help."""

    path: str
    type: type | tuple[type, ...]
    default: Any
    doc: str
    check: Check | None = None
    #: How an error shows a bad value (a URL with credentials: masked), else ``repr``.
    shown: Callable[[Any], str] | None = None

    def show(self, value: Any) -> str:
        return self.shown(value) if self.shown is not None and isinstance(value, str) \
            else repr(value)

    @property
    def type_name(self) -> str:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        names = {str: "string", int: "integer", float: "number", bool: "boolean",
                 list: "array", dict: "table"}
        return " or ".join(names.get(t, t.__name__) for t in types)

    def accepts_type(self, value: Any) -> bool:
        """Whether ``value`` has the key's type (TOML booleans are not integers here)."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if isinstance(value, bool) and bool not in types:
            return False
        return isinstance(value, types)


def check_value(key: Key, path: str, value: Any, source: str) -> None:
    """The one validator of a value: raises PolicyError naming the file and the key."""
    if not key.accepts_type(value):
        raise PolicyError(f"{source}: {path}: expected {key.type_name}, got "
                          f"{type(value).__name__} {key.show(value)}")
    problem = key.check(value) if key.check else None
    if problem:
        raise PolicyError(f"{source}: {path}: {problem}, got {key.show(value)}")


def validate_section(keys: Iterable[Key], prefix: str, section: Mapping[str, Any],
                     source: str = "(inline)") -> dict[str, Any]:
    """A gate's flat section (``{"min_grade": ..., "bandit.source": ...}``, as
    ``Policy.section(prefix)`` returns it) checked against ``keys``, defaults filled in."""
    table = {key.path.removeprefix(prefix + "."): key for key in keys}
    values = {name: key.default for name, key in table.items()}
    for name, value in section.items():
        key = table.get(name)
        if key is None:
            raise PolicyError(f"{source}: {prefix}.{name}: unknown key "
                              f"(known keys here: {', '.join(table)})")
        if value is None and key.default is None:
            continue  # a key without a default, unset (TOML itself has no null)
        check_value(key, f"{prefix}.{name}", value, source)
        values[name] = value
    return values


# -- shared checks ----------------------------------------------------------------------------
def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"expected one of {', '.join(choices)}"
    return check


def at_least(low: float) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= low else f"expected a value >= {low:g}"
    return check


def positive(value: Any) -> str | None:
    return None if value > 0 else "expected a positive number"


def path_like(value: Any) -> str | None:
    return None if value.startswith("/") else "expected a path starting with '/'"


def path_or_empty(value: Any) -> str | None:
    return None if value == "" else path_like(value)


def paths(value: Any) -> str | None:
    if not all(isinstance(v, str) and v.startswith("/") for v in value):
        return "expected an array of paths starting with '/'"
    return None


def strings(value: Any) -> str | None:
    if all(isinstance(item, str) for item in value):
        return None
    return "expected an array of strings"


def non_empty_strings(value: Any) -> str | None:
    if all(isinstance(item, str) and item for item in value):
        return None
    return "expected an array of non-empty strings"


def regex(value: Any) -> str | None:
    try:
        re.compile(value)
    except re.error as exc:
        return f"not a valid regular expression ({exc})"
    return None


def gate_name(value: Any) -> str | None:
    return None if GATE_NAME.match(value) else "expected a gate name like 'smoke'"


def all_of(*checks: Check) -> Check:
    """The first problem any of ``checks`` finds."""
    def check(value: Any) -> str | None:
        return next((p for p in (c(value) for c in checks) if p), None)
    return check


def from_raising(parse: Callable[[Any], Any],
                 errors: type[Exception] | tuple[type[Exception], ...] = ValueError) -> Check:
    """A check from a parser that raises ``errors`` with the problem (a threshold, a
    timespan): one parser decides what is valid, at load time and at run time."""
    def check(value: Any) -> str | None:
        try:
            parse(value)
        except errors as exc:
            return str(exc)
        return None
    return check


__all__ = ["Check", "Key", "PolicyError", "all_of", "at_least", "check_value", "from_raising",
           "gate_name", "non_empty_strings", "one_of", "path_like", "path_or_empty", "paths",
           "positive", "regex", "strings", "validate_section"]
