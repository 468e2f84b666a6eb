"""The sample suite with a production to compare with: the parity defects pass every other
gate and only the parity gate catches them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_runs import run_sample

from pytest_staging.schema import validation_errors
from sample_suite.app import RunningApp
from sample_suite.parity import start_pair

pytestmark = pytest.mark.slow


@pytest.fixture
def production() -> Iterator[RunningApp]:
    production, spare = start_pair()
    spare.stop()
    yield production
    production.stop()


def test_parity_defects_are_caught_by_parity_only(tmp_path: Path,
                                                  production: RunningApp) -> None:
    run = run_sample(tmp_path, "-p", "no:xdist", "--defect", "drops-hsts",
                     "--defect", "removes-field", "--staging-compare-url", production.url)
    assert run.exit_code == 1, run.output[-3000:]
    assert validation_errors(run.verdict) == []
    assert run.verdict["verdict"] == "NO-GO"
    gates = run.verdict["gates"]
    for name in ("integration", "security", "performance"):
        assert gates[name]["status"] == "passed", (name, gates[name]["status"], run.reasons)
    # A removed field also breaks the published OpenAPI document: the contract gate sees that
    # drift too (its own concern); no other gate does.
    assert all(r.startswith(("parity: ", "contract: ")) for r in run.verdict["reasons"]), \
        run.reasons
    assert any(r.startswith("parity: ") for r in run.verdict["reasons"])
    assert "the promotion would remove Strict-Transport-Security from production" in run.reasons
    assert "field items[].description removed" in run.reasons
    assert "field description removed" in run.reasons  # GET /api/products/1


# The clean staging matching production, with two workers: tests/test_sample_suite.py
# test_clean_run_is_go_with_two_workers (one whole sample run for both claims).
