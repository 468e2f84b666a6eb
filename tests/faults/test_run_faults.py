"""Fault matrix, the run's side: broken suites, bad configuration, signals, crashed workers and
killed runs. Each case is a whole pytest run (in a subprocess) against a real loopback server."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from harness import (
    REPORT_DIR,
    assert_go,
    assert_no_go,
    assert_valid,
    run_staging,
    signal_when,
    start_staging,
)
from servers import LoopbackServer

from pytest_staging.policy import PolicyError, parse_policy

SUITE = """
def test_health(staging):
    assert staging.get("/health").status_code == 200
"""

#: A test that announces it is running, then waits to be interrupted (bounded).
WAITING = """
import pathlib, time

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_waits(staging):
    pathlib.Path("running").touch()
    time.sleep(30)
"""


def test_collection_error(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE, test_broken="def test_x(:\n    pass\n")
    outcome = run_staging(pytester, server.url)
    assert_no_go(outcome, r"collection error: test_broken\.py: SyntaxError", exit_code=2)


def test_collection_error_is_not_called_ctrl_c(pytester: pytest.Pytester,
                                               server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE, test_broken="def test_x(:\n    pass\n")
    verdict = assert_no_go(run_staging(pytester, server.url), r"collection error", exit_code=2)
    assert not any("Ctrl-C" in r for r in verdict["reasons"]), verdict["reasons"]


def test_exitfirst_on_an_advisory_failure(pytester: pytest.Pytester,
                                          server: LoopbackServer) -> None:
    """``-x`` stops at an advisory failure: the blocking tests after it never ran, so no GO."""
    pytester.makepyfile(test_app=SUITE + """
import pytest

@pytest.mark.advisory
def test_advisory_fails():
    assert False, "not yet"

def test_blocking_never_runs():
    assert False, "this would have blocked"
""")
    outcome = run_staging(pytester, server.url, "-x", "-p", "no:randomly")
    verdict = assert_no_go(outcome, r"run interrupted: pytest stopped early: .*stopping after 1")
    assert not any("Ctrl-C" in r for r in verdict["reasons"]), verdict["reasons"]
    assert verdict["run"]["complete"] is False


def test_import_error_in_a_test_module(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE, test_imports="import no_such_module_here\n")
    outcome = run_staging(pytester, server.url)
    assert_no_go(outcome, r"collection error: test_imports\.py: .*no_such_module_here",
                 exit_code=2)
    # pytest's report, minus its "Traceback:" header and importlib's frames.
    assert "import no_such_module_here" in outcome.output
    assert "importlib" not in outcome.output


def test_fixture_error(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE + """
import pytest

@pytest.fixture
def seeded(staging):
    raise RuntimeError("could not seed the test tenant")

def test_orders(seeded):
    pass
""")
    outcome = run_staging(pytester, server.url)
    verdict = assert_no_go(outcome, r"test_orders errored: .*could not seed the test tenant",
                           exit_code=1)
    assert verdict["gates"]["integration"]["status"] == "error"


@pytest.mark.parametrize("args", [["-k", "nothing_matches"], ["--deselect", "test_app.py"]],
                         ids=["k-nothing", "deselect-all"])
def test_zero_selected_tests(pytester: pytest.Pytester, server: LoopbackServer,
                             args: list[str]) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, *args)
    # an empty gate judged nothing: 3, never pytest's 5 for "no tests"
    assert_no_go(outcome, r"integration: gate ran 0 test\(s\), needs at least 1", exit_code=3)


def test_no_test_files_at_all(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    outcome = run_staging(pytester, server.url)
    assert_no_go(outcome, r"gate ran 0 test", exit_code=3)


def test_selected_gate_with_no_tests(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE)
    # Without the built-in check items, which would otherwise fill the security gate.
    outcome = run_staging(pytester, server.url, "--staging-gate", "security",
                          "-p", "no:staging-security")
    verdict = assert_no_go(outcome, r"^security: gate ran 0 test\(s\), needs at least 1",
                           exit_code=3)
    assert verdict["gates"]["integration"]["status"] == "passed"
    assert verdict["gates"]["security"]["status"] == "empty"


def test_all_tests_skipped(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app="""
import pytest

@pytest.mark.skip(reason="feature flag off")
def test_health(staging):
    pass
""")
    outcome = run_staging(pytester, server.url)
    assert_no_go(outcome, r"integration: gate ran 0 test", exit_code=3)


def test_report_dir_is_a_file(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE)
    pytester.path.joinpath("blocked").write_text("not a directory")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--staging-url", server.url,
        "--staging-report-dir", "blocked/report")
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret == 4, output
    assert "Traceback" not in output
    assert "cannot write the verdict to blocked/report" in output
    assert len([ln for ln in output.splitlines() if "cannot write the verdict" in ln]) == 1


def test_report_dir_lost_during_the_run(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """The report dir becomes unwritable mid-run: the terminal says NO-GO and why, exit 3
    (the verdict on disk could not be written: could not judge)."""
    pytester.makepyfile(test_app=SUITE + f"""
import shutil, pathlib

def test_lose_the_report_dir():
    shutil.rmtree("{REPORT_DIR}")
    pathlib.Path("{REPORT_DIR}").write_text("now a file")
""")
    outcome = run_staging(pytester, server.url)
    assert outcome.ret == 3, outcome.output
    assert "Traceback" not in outcome.output
    assert "NO-GO (inconclusive)" in outcome.output
    assert f"cannot write the verdict to {REPORT_DIR}" in outcome.output


@pytest.mark.parametrize(
    ("policy", "cause"),
    [
        ("[target]\nwait = 1\nwiat = 3\n", r"staging\.toml: target\.wiat: unknown key"),
        ("[target]\nwait = 'soon'\n", r"staging\.toml: target\.wait: expected"),
        ("[target\nwait = 1\n", r"staging\.toml: invalid TOML"),
        ("[gates.smoke]\nblocking = 'yes'\n", r"gates\.smoke\.blocking: expected boolean"),
        ("default_gate = 'nope'\n", r"default_gate: gate 'nope' is not declared"),
    ],
    ids=["unknown-key", "wrong-type", "bad-toml", "bad-gate-type", "undeclared-default-gate"],
)
def test_invalid_policy(pytester: pytest.Pytester, server: LoopbackServer, policy: str,
                        cause: str) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, policy=policy)
    assert_no_go(outcome, r"^usage error: .*" + cause, exit_code=4)
    assert cause.replace("\\", "").split(":")[0].split(" ")[0].strip("^") in outcome.output


def test_policy_file_missing(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "--staging-policy", "nowhere.toml", policy=None)
    assert_no_go(outcome, r"usage error: nowhere\.toml: policy file not found", exit_code=4)


def test_header_with_unset_variable(pytester: pytest.Pytester, server: LoopbackServer,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGING_TOKEN_NOT_SET", raising=False)
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "--staging-header",
                          "Authorization: Bearer $STAGING_TOKEN_NOT_SET")
    assert_no_go(outcome, r"\$STAGING_TOKEN_NOT_SET is not set", exit_code=4)


def test_bad_url(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, "staging.example.com")
    assert_no_go(outcome, r"staging URL must be an http\(s\) URL", exit_code=4)


def test_worker_that_dies(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE + """
import os

def test_crash():
    os._exit(3)

def test_after_1(staging):
    assert staging.get("/health").ok

def test_after_2(staging):
    assert staging.get("/health").ok
""")
    outcome = run_staging(pytester, server.url, "-n", "2")
    verdict = assert_no_go(outcome, r"(xdist worker lost|worker .*crashed)")
    assert any("test_crash" in r for r in verdict["reasons"]), verdict["reasons"]


def test_pytest_exit_in_a_test(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """``pytest.exit(returncode=0)`` half-way is not a completed gate."""
    pytester.makepyfile(test_app=SUITE + """
import pytest

def test_bail_out():
    pytest.exit("giving up early", returncode=0)

def test_never_runs(staging):
    pass
""")
    outcome = run_staging(pytester, server.url, "-p", "no:randomly")
    assert_no_go(outcome, r"run interrupted: .*giving up early")


@pytest.mark.parametrize("returncode", ["", ", returncode=0"], ids=["default", "returncode-0"])
def test_pytest_exit_in_an_xdist_worker(pytester: pytest.Pytester, server: LoopbackServer,
                                        returncode: str) -> None:
    """The reason used to be xdist's own assertion ("internal error: assert not
    'test_app.py::test_bail'") or "KeyboardInterrupt (Ctrl-C)": it names the worker's
    pytest.exit() and its message, and the run is inconclusive, interrupted (exit 2)."""
    pytester.makepyfile(test_app=SUITE + f"""
import pytest

def test_bail_out():
    pytest.exit("database gone"{returncode})

def test_more_1(staging):
    assert staging.get("/health").ok

def test_more_2(staging):
    assert staging.get("/health").ok
""")
    outcome = run_staging(pytester, server.url, "-n", "2", subprocess=True)
    verdict = assert_no_go(outcome, r"^run interrupted: pytest\.exit\(\) in worker gw\d+: "
                                    r"database gone$", exit_code=2)
    assert not any("internal error" in r or "Ctrl-C" in r for r in verdict["reasons"]), \
        verdict["reasons"]


@pytest.mark.parametrize("returncode", ["", ", returncode=0", ", returncode=7"],
                         ids=["default", "returncode-0", "returncode-7"])
def test_pytest_exit_in_one_process_is_interrupted_whatever_its_returncode(
        pytester: pytest.Pytester, server: LoopbackServer, returncode: str) -> None:
    """docs/exit-codes.md: pytest.exit() is an interruption, exit 2; a returncode given to it
    (0 or any other) used to make the run exit 3, and 0 must never come of it."""
    pytester.makepyfile(test_app=SUITE + f"""
import pytest

def test_bail_out():
    pytest.exit("database gone"{returncode})
""")
    outcome = run_staging(pytester, server.url, "-p", "no:xdist", subprocess=True)
    assert_no_go(outcome, r"^run interrupted: pytest\.exit\(\): database gone$", exit_code=2)


WORKER_CONFTESTS = {
    "configure": "import os\n\ndef pytest_configure(config):\n"
                 "    if os.environ.get('PYTEST_XDIST_WORKER'):\n"
                 "        raise RuntimeError('worker cannot start')\n",
    "import": "import os\n\nif os.environ.get('PYTEST_XDIST_WORKER'):\n"
              "    import no_such_module_in_workers\n",
}


@pytest.mark.parametrize(("broken", "cause"), [
    ("configure", r"^internal error: xdist worker: RuntimeError: worker cannot start$"),
    ("import", r"^xdist worker lost: gw0, gw1, gw2, gw3: could not start: .*"
               r"No module named 'no_such_module_in_workers'"),
], ids=list(WORKER_CONFTESTS))
def test_xdist_workers_that_cannot_start(pytester: pytest.Pytester, server: LoopbackServer,
                                         broken: str, cause: str) -> None:
    """A conftest the workers cannot configure or import: NO-GO, one line per cause (the
    worker's own exception, not "internal error: <WorkerController gw0>", and not one line
    per restarted worker). xdist itself prints the workers' tracebacks ("node down")."""
    pytester.makeconftest(WORKER_CONFTESTS[broken])
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "-n", "2", "--max-worker-restart", "2",
                          subprocess=True)
    assert outcome.ret == 3, outcome.output
    verdict = outcome.verdict()
    assert_valid(verdict)
    assert verdict["verdict"] == "NO-GO" and verdict["judgement"] == "inconclusive"
    assert any(re.search(cause, r) for r in verdict["reasons"]), verdict["reasons"]
    for reason in verdict["reasons"]:
        assert "\n" not in reason and "Traceback" not in reason, reason
    assert not any("WorkerController" in r for r in verdict["reasons"]), verdict["reasons"]
    # The verdict's summary: one line per reason (pytest and xdist print the workers' own
    # INTERNALERROR / "node down" tracebacks, on stderr).
    summary = outcome.output.split("staging verdict", 1)[-1].split("verdict: report", 1)[0]
    assert "Traceback" not in summary and "WorkerController" not in summary, summary


def test_failing_verdict_hook_does_not_hide_the_verdict(pytester: pytest.Pytester,
                                                        server: LoopbackServer) -> None:
    """A conftest's notifier that raises: the written verdict stands, the output stays clean."""
    pytester.makeconftest("""
def pytest_staging_verdict(config, verdict):
    raise RuntimeError("chat webhook down")
""")
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url)
    assert "Traceback" not in outcome.output
    verdict = outcome.verdict()
    assert_valid(verdict)
    assert verdict["verdict"] == "GO"
    assert "! after the verdict: pytest_staging_verdict hook: RuntimeError: chat webhook down" \
        in outcome.output


def test_non_builtin_gate_data_under_xdist(pytester: pytest.Pytester,
                                           server: LoopbackServer) -> None:
    """Gate data that is not builtins (a Path) used to crash the xdist worker with an
    INTERNALERROR; record() now refuses it, and the test that tried fails by name."""
    pytester.makepyfile(test_app=SUITE + """
from pathlib import Path
from pytest_staging.record import record

def test_records_a_path(request):
    record(request.node, metrics={"where": {"file": Path("/tmp")}})
""")
    outcome = run_staging(pytester, server.url, "-n", "2")
    assert_no_go(outcome, r"test_records_a_path failed: TypeError: record\(\)", exit_code=1)


def test_conftest_that_does_not_import(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """An earlier GO must not survive a run that broke before its session started."""
    report = pytester.path / REPORT_DIR
    report.mkdir()
    (report / "verdict.json").write_text(json.dumps({"verdict": "GO"}))
    pytester.makeconftest("import no_such_helper_module\n")
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url)
    assert outcome.ret == 4
    assert_no_go(outcome, r"no_such_helper_module", exit_code=4)


# -- signals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("signum", "cause"),
    [(signal.SIGINT, r"^run interrupted by SIGINT$"),
     (signal.SIGTERM, r"^run interrupted by SIGTERM$")],
    ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run(pytester: pytest.Pytester, server: LoopbackServer, signum: int,
                        cause: str) -> None:
    pytester.makepyfile(test_app=WAITING)
    proc = start_staging(pytester, server.url, "-p", "no:randomly")
    outcome = signal_when(proc, pytester.path / "running", signum, pytester)
    verdict = assert_no_go(outcome, cause, exit_code=2)
    assert verdict["run"]["complete"] is False


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "cause"),
    [(signal.SIGINT, r"^run interrupted by SIGINT"),
     (signal.SIGTERM, r"^run interrupted by SIGTERM")],
    ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_under_xdist(pytester: pytest.Pytester, server: LoopbackServer,
                                    signum: int, cause: str) -> None:
    pytester.makepyfile(test_app=WAITING)
    proc = start_staging(pytester, server.url, "-n", "2")
    outcome = signal_when(proc, pytester.path / "running", signum, pytester)
    assert_no_go(outcome, cause, exit_code=2)


#: A test that announces it is running, then finishes a moment later.
PAUSING = """
import pathlib, time

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_pauses(staging):
    pathlib.Path("running").touch()
    time.sleep(1.5)
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGHUP"])
def test_a_signal_the_run_was_started_to_ignore_interrupts_nothing(
        pytester: pytest.Pytester, server: LoopbackServer, name: str) -> None:
    """nohup ignores SIGHUP, a script's `cmd &` SIGINT: the run never sees them, so they are
    no interruption at any moment. (The plugin used to catch them from pytest_configure on:
    lost before, NO-GO after, so whether a run was GO depended on when the signal came;
    the real-run hunter found the GO half, tests/real_hunt.)"""
    pytester.makepyfile(test_app=PAUSING)
    proc = start_staging(pytester, server.url, "-p", "no:xdist", ignored=(name,))
    outcome = signal_when(proc, pytester.path / "running", getattr(signal, name), pytester)
    verdict = assert_go(outcome)
    assert verdict["run"]["signals"] == []


def test_an_ignored_signal_leaves_the_others_caught(pytester: pytest.Pytester,
                                                    server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=WAITING)
    proc = start_staging(pytester, server.url, "-p", "no:xdist", ignored=("SIGHUP",))
    outcome = signal_when(proc, pytester.path / "running", signal.SIGTERM, pytester)
    assert_no_go(outcome, r"^run interrupted by SIGTERM$", exit_code=2)


def test_sigkill_leaves_no_go_behind(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    report = pytester.path / REPORT_DIR
    report.mkdir()
    earlier_go = {"schema": "pytest-staging/verdict@1", "verdict": "GO", "reasons": []}
    (report / "verdict.json").write_text(json.dumps(earlier_go))
    (report / "verdict.html").write_text("<h1>GO</h1>")
    pytester.makepyfile(test_app=WAITING)
    proc = start_staging(pytester, server.url)
    outcome = signal_when(proc, pytester.path / "running", signal.SIGKILL, pytester)
    assert outcome.ret == -signal.SIGKILL
    verdict = outcome.verdict()
    assert_valid(verdict)
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"] == ["run in progress (no verdict yet)"]
    assert not (report / "verdict.html").exists(), "a stale GO report must not survive"
    assert "GO" not in (report / "verdict.md").read_text().replace("NO-GO", "")


#: Sends the process a signal once the verdict is written: in a trylast pytest_unconfigure
#: (pytest's own teardown), or at interpreter shutdown (atexit: after pytest_cmdline_main
#: returned, where a CI timeout's SIGTERM lands while a test's thread is joined).
LATE_SIGNAL = {
    "unconfigure": """
import os, signal, pytest

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        os.kill(os.getpid(), signal.{name})
""",
    "atexit": """
import atexit, os, signal

def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        atexit.register(os.kill, os.getpid(), signal.{name})
""",
}


@pytest.mark.parametrize(("when", "name", "args"), [
    ("unconfigure", "SIGTERM", ("-p", "no:xdist")),
    ("atexit", "SIGTERM", ("-p", "no:xdist")),
    ("atexit", "SIGINT", ("-p", "no:xdist")),
    ("atexit", "SIGTERM", ("-n", "2")),
])
def test_a_late_signal_never_leaves_a_go_beside_its_exit_status(
        pytester: pytest.Pytester, server: LoopbackServer, when: str, name: str,
        args: tuple[str, ...]) -> None:
    """A signal after the verdict was written, before the process exits. It used to leave
    verdict.json GO beside exit 143 (SIGTERM's default, once the plugin had put the old
    handlers back) or a KeyboardInterrupt traceback: now the GO is withdrawn, the verdict
    says why and the exit status follows it."""
    pytester.makeconftest(LATE_SIGNAL[when].format(name=name))
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, *args, subprocess=True)
    verdict = assert_no_go(outcome, rf"^run interrupted by {name}", exit_code=2)
    assert verdict["run"]["exit_status"] == 2
    assert f"pytest-staging: {name} after the verdict" in outcome.output or when != "atexit"


def test_a_late_signal_leaves_a_no_go_and_its_exit_status(pytester: pytest.Pytester,
                                                          server: LoopbackServer) -> None:
    """After a NO-GO (a failed test: exit 1) the verdict stands, and so does its 1."""
    pytester.makeconftest(LATE_SIGNAL["atexit"].format(name="SIGTERM"))
    pytester.makepyfile(test_app=SUITE + "\ndef test_fails():\n    assert False\n")
    outcome = run_staging(pytester, server.url, "-p", "no:xdist", subprocess=True)
    assert_no_go(outcome, r"test_fails failed", exit_code=1)


@pytest.mark.parametrize(("raised", "cause", "code"), [
    ("SystemExit(0)", r"^internal error: SystemExit: 0 raised by a plugin or conftest", 3),
    ("SystemExit('bye')", r"^internal error: SystemExit: bye raised by a plugin", 3),
    ("KeyboardInterrupt()", r"^run interrupted: KeyboardInterrupt raised by a plugin", 2),
    ("RuntimeError('boom')", r"^internal error: RuntimeError: boom raised by a plugin", 3),
    ("pytest.UsageError('late')", r"^internal error: UsageError: late raised by a plugin", 4),
], ids=["SystemExit-0", "SystemExit-msg", "KeyboardInterrupt", "RuntimeError", "UsageError"])
@pytest.mark.parametrize("hook", ["pytest_sessionfinish(session)", "pytest_unconfigure(config)"],
                         ids=["sessionfinish", "unconfigure"])
def test_an_exception_escaping_pytest_at_the_end(pytester: pytest.Pytester,
                                                 server: LoopbackServer, raised: str,
                                                 cause: str, code: int, hook: str) -> None:
    """An exception a conftest raises where pytest does not catch it went through the
    plugin's pytest_cmdline_main: a bare traceback, and SystemExit(0) exited 0 beside a
    NO-GO verdict. Now: NO-GO, one line, and the exit status of the verdict."""
    pytester.makeconftest(f"""
import pytest

@pytest.hookimpl(trylast=True)
def {hook}:
    raise {raised}
""")
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "-p", "no:xdist", subprocess=True)
    verdict = assert_no_go(outcome, cause, exit_code=code)
    assert f"pytest-staging: NO-GO: {verdict['reasons'][0]} (exit {code})" in outcome.output


@pytest.mark.parametrize(("raised", "code"), [("SystemExit('bye')", 3),
                                               ("KeyboardInterrupt()", 2)],
                         ids=["SystemExit", "KeyboardInterrupt"])
def test_a_conftest_configure_that_raises_before_the_plugin_starts(
        pytester: pytest.Pytester, server: LoopbackServer, raised: str, code: int) -> None:
    """A conftest's pytest_configure runs before the plugin's: pytest handles what it raises
    and the controller never starts. The placeholder said "run did not get past start-up"
    with exit status 4 beside pytest's 3 or 2; it says what pytest said, with its status.
    (For an exception pytest prints its own INTERNALERROR traceback, as without the plugin.)"""
    pytester.makeconftest(f"def pytest_configure(config):\n    raise {raised}\n")
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "-p", "no:xdist", subprocess=True)
    assert outcome.ret == code, outcome.output
    verdict = outcome.verdict()
    assert_valid(verdict)
    assert verdict["verdict"] == "NO-GO" and verdict["judgement"] == "inconclusive"
    assert verdict["run"]["exit_status"] == code
    assert re.search(r"^(run interrupted|internal error) before pytest-staging started",
                     verdict["reasons"][0]), verdict["reasons"]
    if code == 2:
        assert "Traceback" not in outcome.output, outcome.output


def test_a_conftest_configure_that_raises_after_the_plugin_started(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """After the plugin's pytest_configure: the controller names pytest's internal error
    (it said "no test session ran", with exit status 1 beside pytest's 3)."""
    pytester.makeconftest("import pytest\n\n@pytest.hookimpl(trylast=True)\n"
                          "def pytest_configure(config):\n    raise SystemExit('bye')\n")
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "-p", "no:xdist", subprocess=True)
    assert outcome.ret == 3, outcome.output
    verdict = outcome.verdict()
    assert verdict["reasons"] == ["internal error: SystemExit: bye"], verdict["reasons"]
    assert verdict["run"]["exit_status"] == 3 and verdict["judgement"] == "inconclusive"


FINALIZER_INTERRUPT = """
import gc

class Resource:
    def __del__(self):
        raise KeyboardInterrupt

def test_drops_a_resource():
    resource = Resource()
    del resource
    gc.collect()
"""


#: A cycle only pytest's last gc.collect() (at unconfigure, after the verdict) frees.
FINALIZER_AT_THE_END = """
import gc

class Resource:
    def __del__(self):
        raise KeyboardInterrupt

def test_leaves_a_cycle():
    gc.disable()
    resource = Resource()
    resource.cycle = resource
"""


@pytest.mark.parametrize(("args", "suite"), [
    (("-p", "no:xdist"), FINALIZER_INTERRUPT), (("-n", "2"), FINALIZER_INTERRUPT),
    (("-p", "no:xdist"), FINALIZER_AT_THE_END)], ids=["serial", "xdist", "after-the-verdict"])
def test_keyboard_interrupt_python_ignored_in_a_finalizer(
        pytester: pytest.Pytester, server: LoopbackServer, args: tuple[str, ...],
        suite: str) -> None:
    """A KeyboardInterrupt in a ``__del__`` is "ignored" by Python: the run went on to a GO,
    with the traceback in pytest's warnings summary. It is an interruption all the same, even
    when pytest's last garbage collection finds it after the verdict was written."""
    pytester.makepyfile(test_app=SUITE + suite)
    outcome = run_staging(pytester, server.url, *args, subprocess=True)
    assert_no_go(outcome, r"^run interrupted: KeyboardInterrupt in a finalizer, which Python "
                          r"ignored \(Exception ignored in: <function Resource\.__del__",
                 exit_code=2)


# -- gates built on other branches -------------------------------------------------------------

def _policy_accepts(data: dict[str, object]) -> bool:
    try:
        parse_policy(data)
    except PolicyError:
        return False
    return True


def test_bandit_on_a_path_that_does_not_exist(pytester: pytest.Pytester,
                                              server: LoopbackServer) -> None:
    # The gate is merged: a policy without the key would be a defect, not a reason to skip.
    assert _policy_accepts({"security": {"bandit": {"source": "src"}}})
    policy = "[target]\nwait = 1\n[security.bandit]\nsource = 'does-not-exist'\n"
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, gate="security", policy=policy)
    assert_no_go(outcome, r"(?i)bandit.*does-not-exist|does-not-exist.*bandit")


def test_locust_subprocess_that_hangs(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    # A locustfile that never finishes importing: only the runner's hard timeout ends it.
    Path(pytester.path / "hang_locustfile.py").write_text(
        "import time\ntime.sleep(3600)\nfrom locust import HttpUser\n")
    policy = "[target]\nwait = 1\n[performance]\nrun_time = '1s'\nstop_timeout = 1\n"
    pytester.makepyfile(test_app="""
import pytest

@pytest.mark.performance
def test_load(staging_load):
    staging_load(locustfile="hang_locustfile.py")
""")
    outcome = run_staging(pytester, server.url, gate="performance", policy=policy, timeout=120,
                          subprocess=True)
    # The failed load check explains the failed test: "<gate>: <test>: load run: ... killed".
    assert_no_go(outcome, r"(?i)test_load(:| (failed|errored):) .*(timed out|timeout|killed)")
