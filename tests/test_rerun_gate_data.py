"""Checks recorded by a discarded (rerun) attempt do not reach the verdict."""

from __future__ import annotations

import pytest
from servers import LoopbackServer

FLAKY_WITH_CHECK = """
from pathlib import Path

import pytest

from pytest_staging.record import record

MARK = Path(__file__).with_name("attempted")


@pytest.mark.performance
def test_fast_enough_on_the_second_try(request, staging):
    first = not MARK.exists()
    MARK.write_text("x")
    record(request.node, metrics={"latency": {"requests": 1, "p95": 900.0 if first else 5.0}},
           checks=[{"name": "latency: p95 <= 100ms", "passed": not first, "blocking": True,
                    "detail": "p95 = 900 ms" if first else "p95 = 5 ms"}])
    assert not first, "slow on the first attempt"
"""


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_rerun_attempt_checks_are_dropped(run_staging, pytester: pytest.Pytester,
                                          server: LoopbackServer, mode: list[str]) -> None:
    pytester.makepyfile(test_flaky=FLAKY_WITH_CHECK)
    run = run_staging("--staging-retries=1", "--staging-gate=performance", *mode, url=server.url)
    verdict = run.verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert run.ret == 0
    checks = verdict["gates"]["performance"]["checks"]
    assert [c["detail"] for c in checks] == ["p95 = 5 ms"]
    assert verdict["gates"]["performance"]["metrics"]["latency"]["p95"] == 5.0
    assert any("flaky" in w for w in verdict["warnings"])
