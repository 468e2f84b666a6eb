"""Issue 10, class 13: unbounded waits and reads, as whole runs.

A target that drips its answer one byte at a time holds neither readiness (bounded by
``--staging-wait``) nor a test's request (bounded by ``--staging-timeout`` as a total deadline);
a huge health body does not stall the run.
"""

from __future__ import annotations

import re
import time

import pytest
from drip_servers import DripServer
from harness import assert_go, assert_no_go, run_staging

SLACK = 1.5
#: A whole pytest process (and under -n 2 its workers) takes a few seconds to start here.
STARTUP = 30.0

SLOW_SUITE = """
def test_slow(staging):
    assert staging.get("/api/slow").status_code == 200

def test_health(staging):
    assert staging.get("/health").status_code == 200
"""


def test_dripping_health_check_is_bounded_by_wait(pytester: pytest.Pytester,
                                                  mode: list[str]) -> None:
    server = DripServer("body", pace=1.0)
    pytester.makepyfile(test_app=SLOW_SUITE)
    try:
        started = time.monotonic()
        outcome = run_staging(pytester, server.url, *mode, "--staging-wait", "3",
                              "--staging-timeout", "2", policy=None)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    verdict = assert_no_go(outcome, r"target not ready after \d+\.\d+s .*timed out")
    assert verdict["target"]["ready_after"] is None
    waited = float(re.search(r"not ready after (\d+\.\d+)s", verdict["reasons"][0])[1])
    assert waited < 3 + SLACK, waited  # was 65 s: one read per byte
    assert elapsed < 3 + SLACK + STARTUP, elapsed


def test_dripping_endpoint_fails_its_test_at_the_deadline(pytester: pytest.Pytester,
                                                          mode: list[str]) -> None:
    server = DripServer("headers", pace=1.0, healthy_health=True, drip_path="/api/slow")
    pytester.makepyfile(test_app=SLOW_SUITE)
    try:
        outcome = run_staging(pytester, server.url, *mode, "--staging-wait", "3",
                              "--staging-timeout", "2", policy=None)
    finally:
        server.stop()
    verdict = assert_no_go(outcome, r"test_slow failed: .*no complete answer within 2s")
    slow = next(t for t in verdict["tests"] if t["nodeid"].endswith("test_slow"))
    assert slow["duration"] < 2 + SLACK, slow  # was 62 s
    evidence = verdict["gates"]["integration"]["failures"][0]["evidence"]
    assert "total deadline" in evidence[-1]["error"]


def test_huge_health_body_does_not_stall_the_run(pytester: pytest.Pytester) -> None:
    server = DripServer("huge", size=300 * 1024 * 1024, drip_path="/health")
    pytester.makepyfile(test_app="def test_ok(staging_url):\n    assert staging_url\n")
    try:
        started = time.monotonic()
        outcome = run_staging(pytester, server.url, "-p", "no:xdist", "--staging-wait", "10")
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert_go(outcome)
    assert elapsed < 10 + STARTUP, elapsed
