"""docs/policy-reference.md documents exactly the keys pytest_staging.policy accepts."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pytest_staging.policy import Key, PolicyError, all_keys, parse_policy

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOCUMENTED_KEY = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_policy_reference",
                                                  DOCS / "gen_policy_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_keys() -> set[str]:
    text = (DOCS / "policy-reference.md").read_text(encoding="utf-8")
    return {k.replace("<name>", "*") for k in DOCUMENTED_KEY.findall(text)
            if not k.startswith("--")}  # the options table at the end


def test_no_key_is_undocumented() -> None:
    missing = {k.path for k in all_keys()} - documented_keys()
    assert not missing, (f"keys missing from docs/policy-reference.md: {sorted(missing)}; "
                         "run python docs/gen_policy_reference.py")


def test_no_documented_key_is_unknown_to_the_policy() -> None:
    extra = documented_keys() - {k.path for k in all_keys()}
    assert not extra, f"docs/policy-reference.md documents keys the policy rejects: {extra}"


def test_page_is_what_the_generator_writes() -> None:
    result = subprocess.run([sys.executable, str(DOCS / "gen_policy_reference.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("key", [k for k in all_keys() if k.default is not None],
                         ids=lambda k: k.path)
def test_documented_default_is_accepted_by_the_policy(key: Key) -> None:
    # Every documented default, written into a policy file, must load as that same value.
    path = key.path.replace("*", "integration")
    table: dict[str, Any] = {}
    node = table
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = key.default
    try:
        policy = parse_policy(table, "docs")
    except PolicyError as exc:
        pytest.fail(f"the documented default of {path} is rejected: {exc}")
    assert policy[path] == key.default


def test_generator_renders_wildcards_and_escapes() -> None:
    page = generator().render()
    assert "`gates.<name>.blocking`" in page
    # The default sensitive_url holds a "|": escaped, or it would split the table row.
    assert "(?:prod(?:uction)?\\|prd)" in page
