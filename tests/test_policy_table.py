"""One policy key table, one format, one validator (issue 16.2).

The core and every gate declare ``policy_keys.Key`` entries; the policy loader and a gate's own
section validator judge a value through the same ``check_value``, so they cannot disagree.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from pytest_staging import policy_keys
from pytest_staging.gates.contract.settings import CONTRACT_KEYS
from pytest_staging.gates.parity.settings import PARITY_KEYS
from pytest_staging.gates.performance.settings import PERFORMANCE_KEYS
from pytest_staging.gates.performance.settings import validate as validate_performance
from pytest_staging.gates.security.settings import SECURITY_KEYS
from pytest_staging.gates.security.settings import validate_section as validate_security
from pytest_staging.history.settings import HISTORY_KEYS
from pytest_staging.policy import CORE_KEYS, PolicyError, all_keys, parse_policy

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_staging"
GATE_TABLES = {"security": SECURITY_KEYS, "performance": PERFORMANCE_KEYS,
               "parity": PARITY_KEYS, "contract": CONTRACT_KEYS,
               # not a gate: the history store's section, declared the same way
               "history": HISTORY_KEYS}


def test_every_key_is_one_key_object_in_one_table() -> None:
    keys = all_keys()
    assert all(type(k) is policy_keys.Key for k in keys)
    paths = [k.path for k in keys]
    assert len(paths) == len(set(paths)), "a key declared twice"
    assert keys == CORE_KEYS + sum(GATE_TABLES.values(), ())
    for gate, table in GATE_TABLES.items():
        assert table and all(k.path.startswith(gate + ".") for k in table), gate


def test_gate_settings_modules_share_the_checks() -> None:
    # The little checks (at_least, one_of, strings, paths, ...) live in policy_keys only.
    shared = {"_" + name for name in policy_keys.__all__} | {
        "_non_negative", "_non_negative_int", "_list_of_str", "_path_like", "_level",
        "_fail_or_warn", "_as_check", "_type_ok"}
    for module in [PACKAGE / "policy.py", *PACKAGE.glob("gates/*/settings.py")]:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not defined & shared, f"{module.name}: {sorted(defined & shared)}"
        assigned = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name)}
        assert not {a for a in assigned if a.endswith("_KEY_SPECS")}, module


def _nested(path: str, value: Any) -> dict[str, Any]:
    table: dict[str, Any] = {}
    node = table
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return table


@pytest.mark.parametrize(("validate", "gate", "name", "value"), [
    (validate_security, "security", "cert_expiry_days", -1),
    (validate_security, "security", "cert_expiry_days", "14"),
    (validate_security, "security", "bandit.severity", "severe"),
    (validate_security, "security", "bandit.exclude", [1]),
    (validate_performance, "performance", "processes", -1),
    (validate_performance, "performance", "users", True),
    (validate_performance, "performance", "max_regression", [3]),
    (validate_performance, "performance", "baseline_missing", "maybe"),
])
def test_gate_validator_and_policy_loader_say_the_same(validate: Any, gate: str, name: str,
                                                       value: Any) -> None:
    with pytest.raises(PolicyError) as loader:
        parse_policy(_nested(f"{gate}.{name}", value), "p.toml")
    with pytest.raises(PolicyError) as section:
        validate({name: value}, "p.toml") if validate is validate_security else \
            validate({name: value})
    expected = str(loader.value)
    if validate is validate_performance:  # no file name at that level: the policy adds it
        expected = expected.removeprefix("p.toml")
        assert str(section.value) == "(inline)" + expected
    else:
        assert str(section.value) == expected


def test_processes_zero_is_a_valid_policy_value() -> None:
    # 0 means "one process": the key's check must accept it (and the option must beat it).
    policy = parse_policy({"performance": {"processes": 0, "workers": 0}}, "p.toml")
    assert policy["performance.processes"] == 0 and policy.is_set("performance.processes")
    with pytest.raises(PolicyError, match=r"p.toml: performance.workers: expected a value >= 0"):
        parse_policy({"performance": {"workers": -2}}, "p.toml")
