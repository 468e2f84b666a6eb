"""The parity gate's plain parts: the read-only client, JSON shapes, budgets, the rule table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from parity_servers import Environment

from pytest_staging.gates.parity.client import ParityRefused, ReadOnlyClient
from pytest_staging.gates.parity.settings import ParityConfigError, ParitySettings
from pytest_staging.gates.parity.shape import compare_shapes, shape_of
from pytest_staging.policy import PolicyError, parse_policy


@pytest.fixture
def env() -> Iterator[Environment]:
    server = Environment().start()
    yield server
    server.stop()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT"])
def test_the_client_refuses_every_unsafe_method(env: Environment, method: str) -> None:
    with ReadOnlyClient(env.url, budget=5, name="production") as client, \
            pytest.raises(ParityRefused, match=f"refused {method}"):
        client.request(method, env.url)
    assert env.seen == []  # refused before a byte left


def test_the_client_stops_at_its_budget_redirect_hops_included(env: Environment) -> None:
    env.redirects["/loop"] = "/loop"
    with ReadOnlyClient(env.url, budget=4, name="production") as client:
        with pytest.raises(requests.RequestException, match="budget of 4 spent"):
            client.get(env.url + "loop")
        assert client.sent == 4
    assert len(env.seen) == 4 and env.methods() == {"GET"}


def test_credentials_go_to_the_compare_origin_only(env: Environment) -> None:
    other = Environment().start()
    try:
        env.redirects["/away"] = other.url
        with ReadOnlyClient(env.url, budget=5, name="production",
                            headers={"X-Prod-Auth": "secret-value"}) as client:
            client.get(env.url + "away")
    finally:
        other.stop()
    assert env.seen[0].headers.get("X-Prod-Auth") == "secret-value"
    assert other.seen and all("X-Prod-Auth" not in s.headers for s in other.seen)


def test_shapes_compare_keys_and_types_never_values() -> None:
    production = shape_of({"items": [{"id": 1, "name": "a", "meta": {"x": 1}}], "n": 1})
    staging = shape_of({"items": [{"id": 2.5, "name": None, "new": True}], "n": "1"})
    removed, added, changed = compare_shapes(production, staging)
    assert removed == ["items[].meta"]  # reported once, not once more per child
    assert added == ["items[].new"]
    assert changed == [("n", "number", "string")]  # 1 vs 2.5: both numbers; null: the data


def test_an_empty_list_on_staging_hides_fields_it_does_not_remove_them() -> None:
    production = shape_of({"items": [{"id": 1}]})
    removed, added, changed = compare_shapes(production, shape_of({"items": []}))
    assert (removed, added, changed) == ([], [], [])
    removed, _, _ = compare_shapes(production, shape_of({"things": []}))
    assert removed == ["items"]


def test_budget_shares_never_exceed_the_maximum() -> None:
    for maximum in range(6, 40):
        settings = ParitySettings(url="https://prod.example/", max_requests=maximum + 3,
                                  paths=("/a",), fields=("db",), health_path="/health")
        shares = settings.budgets()
        assert sum(shares.values()) == maximum + 3
        assert all(shares[k] >= v for k, v in settings.needs(True).items())
    with pytest.raises(ParityConfigError, match="fewer than the 9 requests"):
        ParitySettings(url="https://prod.example/", max_requests=8, paths=("/a",),
                       fields=("db",), health_path="/health").budgets()


@pytest.mark.parametrize(("table", "message"), [
    ({"rules": {"hsts-missing": "warn"}}, "parity.rules: hsts-missing: unknown rule id"),
    ({"rules": {"api-field-added": "loud"}}, "expected one of ignore, info, warn, fail"),
    ({"paths": ["api"]}, "expected an array of paths starting with '/'"),
    ({"max_requests": 0}, "expected a value >= 1"),
    ({"url": "ftp://x"}, r"expected an http\(s\) URL"),
])
def test_bad_parity_policy_values_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy({"parity": table}, "policy.toml")


def test_security_rule_ids_are_parity_rules_with_a_prefix() -> None:
    policy = parse_policy({"parity": {"rules": {"security-hsts-missing": "warn"}}})
    assert policy["parity.rules"] == {"security-hsts-missing": "warn"}


def test_the_docs_example_policy_loads_and_the_guide_lists_every_rule() -> None:
    from pathlib import Path

    from pytest_staging.gates.parity.rules import RULES
    from pytest_staging.policy import load_policy

    root = Path(__file__).resolve().parents[1]
    policy = load_policy(root / "docs" / "examples" / "parity-policy.toml")
    assert policy["parity.paths"] == ["/api/products", "/api/products/1", "/api/me"]
    assert policy["parity.rules"]["transport-issuer-changed"] == "info"
    guide = (root / "docs" / "parity.md").read_text(encoding="utf-8")
    missing = [rule for rule in RULES if f"| `{rule}` |" not in guide]
    assert not missing, f"docs/parity.md does not list {missing}"
