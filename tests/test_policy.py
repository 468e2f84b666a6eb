"""Policy loading and validation as plain functions: errors name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_staging.policy import PolicyError, all_keys, load_policy, parse_policy


def test_defaults() -> None:
    policy = parse_policy({})
    assert list(policy.gates) == ["integration", "security", "performance"]
    assert all(g.blocking and g.min_tests == 1 for g in policy.gates.values())
    assert policy.default_gate == "integration"
    assert policy["target.wait"] == 30.0
    assert policy["flaky.policy"] == "warn"


def test_declared_gate_and_advisory_default_min_tests() -> None:
    policy = parse_policy({"default_gate": "smoke",
                           "gates": {"smoke": {"blocking": False, "description": "quick"},
                                     "security": {"min_tests": 3}}})
    assert policy.gate_names() == ["integration", "security", "performance", "smoke"]
    assert policy.gates["smoke"].blocking is False
    assert policy.gates["smoke"].min_tests == 0
    assert policy.gates["security"].min_tests == 3
    assert policy.default_gate == "smoke"


@pytest.mark.parametrize(("data", "message"), [
    ({"target": {"wiat": 1}}, "p.toml: target.wiat: unknown key (known keys here: "),
    ({"tragets": {}}, "p.toml: tragets: unknown key"),
    ({"target": {"wait": "30s"}}, "p.toml: target.wait: expected integer or number, got str"),
    ({"target": {"wait": -1}}, "p.toml: target.wait: expected a value >= 0"),
    ({"target": {"wait": True}}, "p.toml: target.wait: expected integer or number, got bool"),
    ({"target": {"health": "health"}}, "p.toml: target.health: expected a path starting with '/'"),
    ({"target": {"sensitive_url": "("}}, "p.toml: target.sensitive_url: not a valid regular"),
    ({"flaky": {"policy": "ignore"}}, "p.toml: flaky.policy: expected one of warn, fail"),
    ({"gates": {"smoke": {"blockin": True}}}, "p.toml: gates.smoke.blockin: unknown key"),
    ({"gates": {"Smoke!": {}}}, "p.toml: gates.Smoke!: expected a gate name"),
    ({"gates": {"advisory": {}}}, "p.toml: gates.advisory: reserved name"),
    ({"default_gate": "smoke"}, "p.toml: default_gate: gate 'smoke' is not declared"),
])
def test_bad_policies_name_file_and_key(data: dict, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(data, "p.toml")
    assert str(info.value).startswith(message)


def test_load_from_file_pyproject_and_defaults(tmp_path: Path) -> None:
    file = tmp_path / "policy.toml"
    file.write_text("[target]\nwait = 5\n")
    assert load_policy(file)["target.wait"] == 5.0
    (tmp_path / "pyproject.toml").write_text("[tool.pytest-staging.target]\nwait = 7\n")
    assert load_policy(None, tmp_path)["target.wait"] == 7.0
    assert load_policy(tmp_path / "pyproject.toml")["target.wait"] == 7.0
    assert load_policy(None, tmp_path / "nowhere")["target.wait"] == 30.0


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[target\nwait = 1\n")
    with pytest.raises(PolicyError, match=r"bad\.toml: invalid TOML"):
        load_policy(bad)


def test_overrides_beat_the_file() -> None:
    policy = parse_policy({"target": {"wait": 5}}).with_overrides({"target.wait": 1.0,
                                                                   "target.timeout": None})
    assert policy["target.wait"] == 1.0
    assert policy["target.timeout"] == 10.0


def test_every_key_is_documented() -> None:
    for key in all_keys():
        assert key.doc and not key.doc.endswith("."), key.path
