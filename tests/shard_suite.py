"""The suite the shard tests split: 12 integration, 3 security and 3 performance tests, and a
policy whose gate minimums no single shard of it meets (only the merged run does)."""

SUITE = '''
import os

import pytest


@pytest.mark.parametrize("n", range(12))
def test_catalogue(staging, n):
    assert staging.get("/health").status_code == 200
    assert os.environ.get("SHARD_TEST_BREAK") != f"catalogue-{n}", "the catalogue is broken"


@pytest.mark.security
@pytest.mark.parametrize("n", range(3))
def test_headers(staging, n):
    assert staging.get("/").headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.performance
@pytest.mark.parametrize("n", range(3))
def test_fast(staging, n):
    assert staging.get("/health").elapsed.total_seconds() < 5
'''
#: Each shard holds about a third of each gate: alone, none would meet these minimums.
POLICY = '''
[tool.pytest-staging.gates.integration]
min_tests = 10
[tool.pytest-staging.gates.security]
min_tests = 6
[tool.pytest-staging.gates.performance]
min_tests = 3
[tool.pytest-staging.security.rules]
# the loopback target's Server header, an accepted risk with a TOML date
version-banner = { level = "info", owner = "qa", expires = 2099-12-31, reason = "test" }
'''
