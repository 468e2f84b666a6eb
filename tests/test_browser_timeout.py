"""``[browser] timeout``: a journey on a broken page fails within the policy's bound, not
after Playwright's 30 s per action."""

from __future__ import annotations

import time

import pytest
from browser_tests import browser_module
from servers import LoopbackServer

pytestmark = browser_module()

POLICY = ("[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"
          "[browser]\ntimeout = 1.5\n")

JOURNEY = """
def test_buy(page):
    page.goto("/shop")
    page.click("#buy")  # the button is missing: waits for the default timeout
"""


def test_missing_element_fails_within_the_policy_timeout(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer) -> None:
    server.routes["/shop"] = lambda req: (
        200, {"Content-Type": "text/html"}, b"<!doctype html><title>Shop</title><p>sold out</p>")
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_journey=JOURNEY)
    started = time.monotonic()
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    elapsed = time.monotonic() - started
    assert run.ret == 1, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    [test] = verdict["tests"]
    assert test["outcome"] == "failed"
    # Playwright names the timeout it applied: the policy's, in milliseconds.
    assert "Timeout 1500ms exceeded" in run.output, run.output[-3000:]
    assert elapsed < 25, elapsed  # never Playwright's own 30 s


def test_policy_rejects_a_zero_browser_timeout() -> None:
    from pytest_staging.policy import PolicyError, parse_policy

    assert parse_policy({"browser": {"timeout": 5}})["browser.timeout"] == 5.0
    with pytest.raises(PolicyError, match=r"browser.timeout: expected a value >= 0.001"):
        parse_policy({"browser": {"timeout": 0}})
