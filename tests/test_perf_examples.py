"""The performance guide's examples (docs/examples/performance) run against the demo shop."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_staging.policy import load_policy
from sample_suite.app import RunningApp, start_app

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "performance"


@pytest.fixture
def demo() -> Iterator[RunningApp]:
    app = start_app()
    yield app
    app.stop()


def test_example_policy_is_valid() -> None:
    policy = load_policy(EXAMPLES / "policy.toml")
    assert policy["performance.thresholds"] == ["p95 < 800ms", "fail_ratio < 1%"]
    assert policy["performance.max_regression"] == ["p95 +15%", "rps -10%"]


def test_examples_go(pytester: pytest.Pytester, demo: RunningApp) -> None:
    shutil.copy(EXAMPLES / "load_examples.py", pytester.path / "test_load.py")
    for name in ("locustfile.py", "policy.toml"):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    report = pytester.path / "report"
    result = pytester.runpytest_subprocess(
        f"--staging-url={demo.url}", "--staging-policy=policy.toml",
        f"--staging-report-dir={report}", "-p", "no:xdist", "-p", "no:cacheprovider",
        timeout=120,
    )  # fmt: skip
    verdict = json.loads((report / "verdict.json").read_text())
    assert verdict["verdict"] == "GO", (verdict["reasons"], result.stdout.str())
    assert result.ret == 0
    gate = verdict["gates"]["performance"]
    assert set(gate["metrics"]) == {
        "test_load.py::test_browse_under_load", "test_load.py::test_inline_profile",
        "test_load.py::test_profile_entries_with_names_and_headers"}  # fmt: skip
    exprs = {c["expr"] for c in gate["checks"]}
    assert {"p95 < 800ms", "p95 < 500ms", "rps > 20", "search: p95 < 1s"} <= exprs
