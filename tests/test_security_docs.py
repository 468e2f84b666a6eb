"""docs/security-gate.md stays true: its policy example is the tested file, every rule is listed."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_staging.gates.security.rules import RULES
from pytest_staging.gates.security.settings import SECURITY_KEYS

ROOT = Path(__file__).parent.parent
DOC = (ROOT / "docs" / "security-gate.md").read_text()


def test_policy_example_is_the_tested_file() -> None:
    block = re.search(r"```toml\n(.*?)```", DOC, re.S)
    assert block is not None
    assert block.group(1) == (ROOT / "docs" / "examples" / "security-policy.toml").read_text()


def test_every_rule_and_key_is_documented() -> None:
    for rule in RULES.values():
        row = next((line for line in DOC.splitlines() if line.startswith(f"| `{rule.id}` |")),
                   None)
        assert row is not None, rule.id
        assert f"| {rule.severity} |" in row and f"| {rule.penalty} |" in row
    for key in SECURITY_KEYS:
        path = key.path.removeprefix("security.")
        assert f"| `{path}` |" in DOC, path
