"""The verdicts of ordinary runs (issue 2's checks): all passing, one blocking failure, an
advisory failure, serial and under ``-n 2``, and an inactive run that behaves like pytest."""

from __future__ import annotations

import json

import pytest
from harness import assert_go, assert_no_go, run_staging
from servers import LoopbackServer

PASSING = """
def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_version(staging):
    assert staging.get("/version").json()["version"] == "1.0.0"
"""

ONE_BLOCKING_FAILURE = PASSING + """
def test_orders(staging):
    response = staging.get("/api/orders")
    assert response.status_code == 200, f"orders answered {response.status_code}"
"""

ADVISORY_FAILURE = PASSING + """
import pytest

@pytest.mark.advisory
def test_new_search(staging):
    assert staging.get("/api/search").status_code == 200
"""

XDIST = [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="n2")]


@pytest.mark.parametrize("extra", XDIST)
def test_all_passing_is_go(pytester: pytest.Pytester, server: LoopbackServer,
                           extra: list[str]) -> None:
    pytester.makepyfile(test_app=PASSING)
    verdict = assert_go(run_staging(pytester, server.url, *extra))
    assert verdict["gates"]["integration"]["counts"]["passed"] == 2
    assert verdict["run"]["workers"] == (2 if extra else 0)


@pytest.mark.parametrize("extra", XDIST)
def test_one_blocking_failure_is_no_go_naming_the_test(
        pytester: pytest.Pytester, server: LoopbackServer, extra: list[str]) -> None:
    pytester.makepyfile(test_app=ONE_BLOCKING_FAILURE)
    outcome = run_staging(pytester, server.url, *extra)
    verdict = assert_no_go(outcome, r"test_app\.py::test_orders failed: .*orders answered 404",
                           exit_code=1)
    assert len(verdict["reasons"]) == 1
    failure = verdict["gates"]["integration"]["failures"][0]
    assert failure["evidence"][-1]["status"] == 404


@pytest.mark.parametrize("extra", XDIST)
def test_advisory_failure_is_go_with_a_warning(pytester: pytest.Pytester, server: LoopbackServer,
                                               extra: list[str]) -> None:
    pytester.makepyfile(test_app=ADVISORY_FAILURE)
    verdict = assert_go(run_staging(pytester, server.url, *extra))
    assert any("would have blocked" in w and "test_new_search" in w for w in verdict["warnings"])


SUITE_FOR_PARITY = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2

@pytest.mark.skip(reason="no")
def test_skip():
    pass

@pytest.mark.xfail
def test_xfail():
    assert False

def test_fixture_needs_url(staging_url):
    pass
"""


@pytest.mark.parametrize("args", [[], ["-k", "nothing_matches"], ["-k", "test_pass"]],
                         ids=["suite", "nothing-selected", "all-pass"])
def test_inactive_run_is_plain_pytest(pytester: pytest.Pytester, args: list[str]) -> None:
    """No URL: the same outcomes and exit code as ``-p no:staging``, and no file written."""
    pytester.makepyfile(test_plain=SUITE_FOR_PARITY)
    base = ["-p", "no:cacheprovider", "-p", "no:randomly", *args]
    active_off = pytester.runpytest_subprocess(*base, "-p", "no:staging")
    inactive = pytester.runpytest_subprocess(*base)
    assert inactive.ret == active_off.ret
    assert inactive.parseoutcomes().keys() == active_off.parseoutcomes().keys()
    for key in ("passed", "failed", "skipped", "xfailed", "deselected"):
        assert inactive.parseoutcomes().get(key) == active_off.parseoutcomes().get(key), key
    assert not (pytester.path / "staging-report").exists()
    if not args:
        # A staging fixture in an inactive run: one clear line, not a traceback.
        inactive.stdout.fnmatch_lines(["*no staging URL: pass --staging-url or set STAGING_URL*"])
        assert "Traceback" not in inactive.stdout.str()


def test_verdict_json_is_compact_json(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """The file a deploy job reads parses as JSON and carries the run facts."""
    pytester.makepyfile(test_app=PASSING)
    outcome = run_staging(pytester, server.url)
    data = json.loads(outcome.verdict_path.read_text())
    assert data["run"]["complete"] is True
    assert data["target"]["url"] == server.url


@pytest.mark.parametrize("extra", XDIST)
def test_suite_with_conftest_in_a_subdirectory(pytester: pytest.Pytester,
                                               server: LoopbackServer, extra: list[str]) -> None:
    """Real suites have nested conftest.py files: pytest then builds per-path hook subsets,
    which needs every registered plugin object to be hashable."""
    pytester.makeconftest("")
    sub = pytester.mkpydir("api")
    (sub / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef orders_path():\n    return '/health'\n")
    (sub / "test_orders.py").write_text(
        "def test_orders(staging, orders_path):\n"
        "    assert staging.get(orders_path).status_code == 200\n")
    pytester.makepyfile(test_app=PASSING)
    verdict = assert_go(run_staging(pytester, server.url, *extra))
    assert verdict["gates"]["integration"]["counts"]["passed"] == 3
