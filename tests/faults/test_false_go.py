"""Issue 10: the classes of false GO, each a whole run that must end NO-GO (or, for a partial
run, a GO that says so). One case per class at least; the important ones serial and ``-n 2``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import (
    REPORT_DIR,
    assert_go,
    assert_no_go,
    run_staging,
    staging_args,
)
from servers import LoopbackServer, wait_until

MODES = {"serial": ["-p", "no:xdist"], "xdist": ["-n", "2"]}

SUITE = """
import pytest

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_fails(staging):
    assert staging.get("/health").status_code == 500, "a real failure"
"""

PASSING = """
def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_version(staging):
    assert staging.get("/version").status_code == 200
"""


@pytest.fixture(params=list(MODES), ids=list(MODES))
def mode(request: pytest.FixtureRequest) -> list[str]:
    return MODES[request.param]


def old_go(pytester: pytest.Pytester, directory: str = REPORT_DIR) -> Path:
    """An earlier run's GO, left where the deploy job looks."""
    path = pytester.path / directory / "verdict.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "pytest-staging/verdict@1", "verdict": "GO",
                                "reasons": [], "run": {"id": "old", "complete": True}}))
    return path


def no_go_on_disk(path: Path) -> dict:
    """The file the deploy job reads is absent or a NO-GO, never the old GO."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    assert data["verdict"] == "NO-GO", data
    assert data["run"]["id"] != "old"
    return data


# -- 1. tests counted as passed without running ---------------------------------------------
@pytest.mark.parametrize("flag", ["--setup-only", "--setup-plan"])
def test_setup_only_is_no_go(pytester: pytest.Pytester, server: LoopbackServer,
                             mode: list[str], flag: str) -> None:
    pytester.makepyfile(test_app=SUITE)
    verdict = assert_no_go(run_staging(pytester, server.url, flag, *mode),
                           r"setup-only|never reached a final outcome")
    outcomes = {t["nodeid"]: t["outcome"] for t in verdict["tests"]}
    assert outcomes["test_app.py::test_fails"] != "passed", outcomes
    assert "passed" not in outcomes.values(), outcomes


def test_a_test_cut_off_before_teardown_is_incomplete(pytester: pytest.Pytester,
                                                      server: LoopbackServer) -> None:
    """A conftest that swallows the teardown report: the call passed, but no teardown came."""
    pytester.makeconftest("""
import pytest
from _pytest.runner import call_and_report

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if item.name != "test_version":
        return None
    # a protocol that stops after the call: no teardown is ever reported
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    call_and_report(item, "setup")
    call_and_report(item, "call")
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
""")
    pytester.makepyfile(test_app=PASSING)
    verdict = assert_no_go(run_staging(pytester, server.url, "-p", "no:xdist"),
                           r"test_version")
    outcome = {t["nodeid"]: t["outcome"] for t in verdict["tests"]}["test_app.py::test_version"]
    assert outcome != "passed"


# -- 2. interrupts that slip through ----------------------------------------------------------
SLOW = """
import pathlib, time

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_slow(staging):
    pathlib.Path("running").touch()
    for _ in range(300):
        time.sleep(0.01)
"""


def _start(pytester: pytest.Pytester, url: str, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "pytest", *staging_args(pytester, url, *args)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    return subprocess.Popen(argv, cwd=pytester.path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


@pytest.mark.parametrize(("first", "second", "gap"), [
    (signal.SIGINT, signal.SIGINT, 0.01),
    (signal.SIGTERM, signal.SIGINT, 0.05),
    (signal.SIGINT, signal.SIGTERM, 0.1),
], ids=["int-int-10ms", "term-int-50ms", "int-term-100ms"])
def test_two_signals_close_together(pytester: pytest.Pytester, server: LoopbackServer,
                                    first: int, second: int, gap: float) -> None:
    pytester.makepyfile(test_app=SLOW)
    proc = _start(pytester, server.url, "-p", "no:xdist")
    try:
        assert wait_until(lambda: (pytester.path / "running").exists() or
                          proc.poll() is not None, 60)
        proc.send_signal(first)
        time.sleep(gap)
        if proc.poll() is None:
            proc.send_signal(second)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, output
    verdict = json.loads((pytester.path / REPORT_DIR / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO", verdict["reasons"]
    assert verdict["run"]["complete"] is False
    name = signal.Signals(first).name
    assert any(name in r for r in verdict["reasons"]), verdict["reasons"]
    assert {t["nodeid"]: t["outcome"] for t in verdict["tests"]}.get(
        "test_app.py::test_slow") != "passed"
    assert "Traceback" not in output


def test_signal_while_the_verdict_is_written(pytester: pytest.Pytester,
                                             server: LoopbackServer) -> None:
    """A SIGTERM that lands while the verdict is being written still ends in NO-GO."""
    pytester.makeconftest("""
import pathlib, time

def pytest_staging_verdict(config, verdict):
    pathlib.Path("writing").touch()
    time.sleep(3)
""")
    pytester.makepyfile(test_app=PASSING)
    proc = _start(pytester, server.url, "-p", "no:xdist")
    try:
        assert wait_until(lambda: (pytester.path / "writing").exists() or
                          proc.poll() is not None, 60)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    verdict = json.loads((pytester.path / REPORT_DIR / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO", (verdict["reasons"], output)
    assert any("SIGTERM" in r for r in verdict["reasons"])
    assert proc.returncode != 0


# -- 3. exit status changed after the verdict -------------------------------------------------
@pytest.mark.parametrize("conftest", [
    """
def pytest_sessionfinish(session, exitstatus):
    if exitstatus != 0:
        session.exitstatus = 0
""",
    """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    session.exitstatus = 0
""",
    """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session):
    yield
    session.exitstatus = 0
""",
], ids=["idiom", "trylast", "wrapper"])
def test_conftest_cannot_turn_no_go_into_exit_0(pytester: pytest.Pytester,
                                                server: LoopbackServer, conftest: str,
                                                mode: list[str]) -> None:
    pytester.makeconftest(conftest)
    pytester.makepyfile(test_app=SUITE)
    assert_no_go(run_staging(pytester, server.url, *mode), r"test_fails failed")


def test_advisory_failure_still_exits_0_on_go(pytester: pytest.Pytester,
                                              server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=PASSING + """
import pytest

@pytest.mark.advisory
def test_not_ready_yet():
    assert False
""")
    assert_go(run_staging(pytester, server.url, "-p", "no:xdist"))


# -- 4. duplicate reports for one test --------------------------------------------------------
FLIPS = """
import os, pathlib

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_flips(staging):
    marker = pathlib.Path("ran-once")
    first = not marker.exists()
    marker.touch()
    assert not first, "failed the first time"
"""


def test_keep_duplicates_any_failure_counts(pytester: pytest.Pytester,
                                            server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=FLIPS)
    outcome = run_staging(pytester, server.url, "-p", "no:xdist", "--keep-duplicates",
                          "test_app.py", "test_app.py")
    verdict = assert_no_go(outcome, r"test_flips failed")
    assert {t["nodeid"]: t["outcome"] for t in verdict["tests"]}[
        "test_app.py::test_flips"] == "failed"


def test_dist_each_any_worker_failure_counts(pytester: pytest.Pytester,
                                             server: LoopbackServer) -> None:
    pytester.makepyfile(test_app="""
import os

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_on_one_worker_only(staging):
    assert os.environ.get("PYTEST_XDIST_WORKER") != "gw1", "fails on gw1"
""")
    outcome = run_staging(pytester, server.url, "-n", "2", "--dist", "each")
    verdict = assert_no_go(outcome, r"test_on_one_worker_only failed")
    assert verdict["run"]["workers"] == 2


# -- 5. gates satisfied by tests that cannot block --------------------------------------------
def test_advisory_only_gate_does_not_satisfy_min_tests(pytester: pytest.Pytester,
                                                       server: LoopbackServer) -> None:
    pytester.makepyfile(test_app="""
import pytest

@pytest.mark.advisory
def test_only_advisory(staging):
    assert staging.get("/health").status_code == 500
""")
    verdict = assert_no_go(run_staging(pytester, server.url, "-p", "no:xdist"),
                           r"integration: gate ran 0 test\(s\).*advisory test")
    assert verdict["gates"]["integration"]["ran"] == 0


def test_max_skipped(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=PASSING + """
import pytest

@pytest.mark.skip(reason="flag off")
def test_a(): pass

@pytest.mark.xfail(reason="known")
def test_b(): assert False
""")
    policy = "[target]\nwait = 1\ntimeout = 2\n[gates.integration]\nmax_skipped = 1\n"
    verdict = assert_no_go(run_staging(pytester, server.url, "-p", "no:xdist", policy=policy),
                           r"integration: 2 blocking test\(s\) skipped or xfailed.*max_skipped")
    assert verdict["gates"]["integration"]["counts"]["xfailed"] == 1
    # without the limit: GO, and the skips are reported
    verdict = assert_go(run_staging(pytester, server.url, "-p", "no:xdist"))
    assert any("2 blocking test(s) skipped" in w for w in verdict["warnings"])


# -- 7. partial runs that look whole ----------------------------------------------------------
@pytest.mark.parametrize("args", [["-k", "health"], ["--deselect", "test_app.py::test_version"],
                                  ["test_app.py::test_health"]],
                         ids=["k", "deselect", "nodeid"])
def test_partial_run_says_so(pytester: pytest.Pytester, server: LoopbackServer,
                             mode: list[str], args: list[str]) -> None:
    pytester.makepyfile(test_app=PASSING)
    verdict = assert_go(run_staging(pytester, server.url, *mode, *args))
    assert verdict["selection"]["partial"] is True
    assert verdict["run"]["partial"] is True
    assert verdict["selection"]["filters"], verdict["selection"]
    if args[0] != "test_app.py::test_health":
        assert verdict["selection"]["deselected"] == 1
        assert verdict["selection"]["deselected_examples"] == ["test_app.py::test_version"]
    assert any(w.startswith("partial run") for w in verdict["warnings"])


def test_whole_run_is_not_partial(pytester: pytest.Pytester, server: LoopbackServer,
                                  mode: list[str]) -> None:
    pytester.makepyfile(test_app=PASSING)
    policy = ("[target]\nwait = 1\ntimeout = 2\n[gates.security]\nmin_tests = 0\n"
              "[gates.performance]\nmin_tests = 0\n")
    verdict = assert_go(run_staging(pytester, server.url, *mode, "-p", "no:staging-security",
                                    gate=None, policy=policy))
    assert verdict["selection"]["partial"] is False, verdict["selection"]
    assert verdict["selection"]["gates_selected"] == ["integration", "security", "performance"]
    assert not any(w.startswith("partial run") for w in verdict["warnings"])


# -- 9. misconfiguration that switches a check off --------------------------------------------
@pytest.mark.parametrize(("args", "env"), [
    (["--staging-expect-version", ""], {}),
    (["--staging-expect-version="], {}),
    ([], {"STAGING_EXPECT_VERSION": ""}),
    (["--staging-policy", ""], {}),
], ids=["expect-version", "expect-version-eq", "env-expect-version", "policy"])
def test_empty_safety_value_is_a_usage_error(pytester: pytest.Pytester, server: LoopbackServer,
                                             monkeypatch: pytest.MonkeyPatch,
                                             args: list[str], env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_app=PASSING)
    stale = old_go(pytester)
    outcome = run_staging(pytester, server.url, *args)
    assert_no_go(outcome, r"empty value", exit_code=4)
    no_go_on_disk(stale)


@pytest.mark.parametrize("how", ["option", "env"])
def test_empty_url_is_a_usage_error_not_an_inactive_run(pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        how: str) -> None:
    pytester.makepyfile(test_app=PASSING)
    stale = old_go(pytester)
    if how == "env":
        monkeypatch.setenv("STAGING_URL", "")
        outcome = run_staging(pytester, None)
    else:
        outcome = run_staging(pytester, "")
    assert outcome.ret == 4, outcome.output
    assert "empty" in outcome.output
    no_go_on_disk(stale)


# -- 10. stale GO left behind -----------------------------------------------------------------
@pytest.mark.parametrize("args", [["--staging-wait=-1"], ["--no-such-flag"],
                                  ["--staging-timeout", "soon"], ["-n", "two"]],
                         ids=["bad-wait", "unknown-flag", "bad-timeout", "bad-xdist-value"])
def test_argparse_errors_leave_no_go(pytester: pytest.Pytester, server: LoopbackServer,
                                     args: list[str]) -> None:
    pytester.makepyfile(test_app=PASSING)
    stale = old_go(pytester)
    outcome = run_staging(pytester, server.url, *args)
    assert outcome.ret == 4, outcome.output
    assert no_go_on_disk(stale), "the old GO must be replaced"


def test_ini_url_and_broken_conftest(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makeini(f"[pytest]\nstaging_url = {server.url}\nstaging_report_dir = {REPORT_DIR}\n")
    pytester.makeconftest("import no_such_module_anywhere\n")
    pytester.makepyfile(test_app=PASSING)
    stale = old_go(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    assert no_go_on_disk(stale)


def test_non_utf8_policy(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=PASSING)
    stale = old_go(pytester)
    pytester.path.joinpath("latin.toml").write_bytes(b"[target]\nhealth = '/caf\xe9'\n")
    outcome = run_staging(pytester, server.url, "--staging-policy", "latin.toml", policy=None)
    assert_no_go(outcome, r"not UTF-8", exit_code=4)
    assert "INTERNALERROR" not in outcome.output
    no_go_on_disk(stale)


@pytest.mark.parametrize(("flag", "reason"), [
    ("--co", r"^--collect-only: tests were listed, not run$"),
    ("--collect-only", r"^--collect-only: tests were listed, not run$"),
    ("--markers", r"^--markers: no test ran$"),
    ("--fixtures", r"^run interrupted: --fixtures: no test ran$"),
])
def test_a_mode_that_runs_no_test_is_no_go_and_not_green(
        pytester: pytest.Pytester, server: LoopbackServer, flag: str, reason: str) -> None:
    """``pytest --collect-only`` on an active run used to exit 0 beside its NO-GO
    placeholder: a CI step that ran it by mistake was green. It judged nothing: exit 3."""
    pytester.makepyfile(test_app=PASSING)
    stale = old_go(pytester)
    outcome = run_staging(pytester, server.url, flag)
    assert_no_go(outcome, reason, exit_code=3)
    data = no_go_on_disk(stale)
    assert data["run"]["exit_status"] == 3 or "interrupted" in data["reasons"][0]
    if flag != "--fixtures":  # --fixtures ends with the verdict's own summary
        assert f"pytest-staging: NO-GO, could not judge (exit 3): {data['reasons'][0]}" \
            in outcome.output


def test_collect_only_under_xdist_is_no_go(pytester: pytest.Pytester,
                                          server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=PASSING)
    outcome = run_staging(pytester, server.url, "--co", "-n", "2")
    assert_no_go(outcome, r"^--collect-only: tests were listed, not run$", exit_code=3)


def test_help_and_an_inactive_collect_only_keep_exit_0(pytester: pytest.Pytester,
                                                       server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=PASSING)
    assert run_staging(pytester, server.url, "--help").ret == 0
    assert run_staging(pytester, server.url, "--staging-show-settings").ret == 0
    inactive = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--co")
    assert inactive.ret == 0, inactive.outlines
    assert run_staging(pytester, None, "--co").ret == 0


def test_two_runs_sharing_a_report_dir(pytester: pytest.Pytester,
                                       server: LoopbackServer) -> None:
    """Another run writes the same report dir while this one runs: neither may claim a GO."""
    pytester.makepyfile(test_app=PASSING + f"""
import json, pathlib

def test_other_run_starts_meanwhile():
    path = pathlib.Path("{REPORT_DIR}") / "verdict.json"
    data = json.loads(path.read_text())
    data["run"]["id"] = "someone-else"
    path.write_text(json.dumps(data))
""")
    assert_no_go(run_staging(pytester, server.url, "-p", "no:xdist"),
                 r"another run \(someone-else\) wrote to")


def test_placeholder_that_cannot_be_written_removes_the_old_go(tmp_path: Path) -> None:
    from pytest_staging.redact import Redactor
    from pytest_staging.stale import write_placeholder

    (tmp_path / "verdict.json").write_text('{"verdict": "GO"}')
    (tmp_path / "verdict.md").mkdir()  # the second write fails, as on a full disk
    with pytest.raises(OSError):
        write_placeholder(tmp_path, "reason", Redactor())
    assert not (tmp_path / "verdict.json").exists()


def test_tests_dropped_silently_by_a_conftest_make_a_partial_run(
        pytester: pytest.Pytester, server: LoopbackServer, mode: list[str]) -> None:
    pytester.makeconftest("""
def pytest_collection_modifyitems(items):
    items[:] = [i for i in items if "version" not in i.name]
""")
    pytester.makepyfile(test_app=PASSING)
    verdict = assert_go(run_staging(pytester, server.url, *mode))
    assert verdict["selection"]["partial"] is True
    assert any("dropped by a plugin or conftest" in f for f in verdict["selection"]["filters"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_signal_during_readiness(pytester: pytest.Pytester, signum: int) -> None:
    """The target never answers; a signal while the plugin waits for it is named."""
    from servers import SilentServer

    silent = SilentServer()
    try:
        pytester.makepyfile(test_app=PASSING)
        pytester.makefile(".toml", slow="[target]\nwait = 30\ninterval = 0.1\ntimeout = 2\n")
        proc = _start(pytester, silent.url, "--staging-policy", "slow.toml")
        try:
            # the placeholder of the run is on disk once its controller started
            path = pytester.path / REPORT_DIR / "verdict.json"
            assert wait_until(lambda: path.exists() and "in progress" in path.read_text(), 60)
            time.sleep(0.5)
            proc.send_signal(signum)
            output, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    finally:
        silent.stop()
    assert proc.returncode != 0
    verdict = json.loads((pytester.path / REPORT_DIR / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO"
    name = signal.Signals(signum).name
    assert any(f"run interrupted by {name}" in r for r in verdict["reasons"]), verdict["reasons"]
    assert "Traceback" not in output
