"""The judgement of whole runs and its exit codes (docs/exit-codes.md): ``passed`` exits 0,
``failed`` (evidence that the release is bad) 1, ``inconclusive`` (could not judge) 2, 3 or 4;
every report shows it, and ``pytest-staging verify`` gives the same answer from the signed
file (0, 1, or 3 when it could not judge), refusing a judgement its facts contradict."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from harness import (
    REPORT_DIR,
    Outcome,
    assert_go,
    assert_no_go,
    run_staging,
    signal_when,
    start_staging,
)
from servers import LoopbackServer, free_port, json_answer

from pytest_staging.cli import main
from pytest_staging.signing import signed

KEY = "judgement-signing-key-0042"

SUITE = """
def test_health(staging):
    assert staging.get("/health").status_code == 200
"""
FAILING = SUITE + """
def test_orders(staging):
    response = staging.get("/api/orders")
    assert response.status_code == 200, f"orders answered {response.status_code}"
"""
#: One blocking test fails, then the run is interrupted while the next one waits.
FAILING_THEN_WAITING = """
import pathlib, time

def test_a_orders(staging):
    pathlib.Path("a-done").write_text("")
    assert staging.get("/api/orders").status_code == 200, "orders are down"

def test_b_waits():
    deadline = time.monotonic() + 30
    while not pathlib.Path("a-done").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the failure's report reaches the controller first (xdist)
    pathlib.Path("running").write_text("")
    time.sleep(60)
"""
WAITING = """
import pathlib, time

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_waits():
    pathlib.Path("running").write_text("")
    time.sleep(60)
"""


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> str:
    """The run signs its verdict and verify checks it (as in every deploy recipe)."""
    monkeypatch.setenv("STAGING_VERDICT_KEY", KEY)
    return KEY


def verify(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, list[str]]:
    """``pytest-staging verify`` of a run of one gate (the harness selects ``integration``:
    a partial run, allowed here, with the other blocking gates named away)."""
    capsys.readouterr()
    code = main(["verify", str(path), "--max-age", "1h", "--allow-partial",
                 "--skip-gate", "security", "--skip-gate", "performance", *args])
    out, err = capsys.readouterr()
    return code, (out + err).splitlines()


def reports_show(outcome: Outcome, judgement: str) -> None:
    """The terminal line, verdict.md, verdict.html and JUnit all say the judgement."""
    label = "GO" if judgement == "passed" else f"NO-GO ({judgement})"
    assert any(line.startswith(f"{label}  target http://") for line in
               outcome.output.splitlines()), outcome.output
    markdown = (outcome.report_dir / "verdict.md").read_text(encoding="utf-8")
    html = (outcome.report_dir / "verdict.html").read_text(encoding="utf-8")
    if judgement == "passed":
        assert "**Judgement" not in markdown and 'id="judgement"' not in html
    else:
        assert markdown.startswith(f"## ⛔ NO-GO ({judgement}): staging verdict")
        assert f"**Judgement: {judgement}**" in markdown
        assert f'<div id="judgement">judgement <b>{judgement}</b>' in html
    suite = ET.parse(outcome.report_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert ("staging_judgement", judgement) in [(p.get("name"), p.get("value"))
                                                for p in suite.iter("property")]
    cases = [c for c in suite.findall("testcase") if c.get("name") == "staging-verdict"]
    if judgement == "passed":
        assert cases == []
    else:
        # JUnit's own words: a failure found a fault, an error kept the test from judging.
        tag = "failure" if judgement == "failed" else "error"
        assert cases[0].find(tag) is not None and len(list(cases[0].iter(tag))) == 1


def junit_args() -> list[str]:
    return ["--junitxml", f"{REPORT_DIR}/junit.xml"]


# -- whole runs ------------------------------------------------------------------------------
def test_go_is_passed_exit_0_and_verifies(pytester: pytest.Pytester, server: LoopbackServer,
                                          mode: list[str], keyed: str, capsys) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, *mode, *junit_args())
    verdict = assert_go(outcome)
    assert verdict["judgement"] == "passed"
    reports_show(outcome, "passed")
    code, lines = verify(capsys, outcome.report_dir)
    assert code == 0 and lines[0].startswith("GO: "), lines


def test_failing_test_is_failed_exit_1(pytester: pytest.Pytester, server: LoopbackServer,
                                       mode: list[str], keyed: str, capsys) -> None:
    server.routes["/api/orders"] = lambda req: json_answer({"error": "db down"}, 500)
    pytester.makepyfile(test_app=FAILING)
    outcome = run_staging(pytester, server.url, *mode, *junit_args())
    assert_no_go(outcome, r"test_app\.py::test_orders failed: .*orders answered 500",
                 exit_code=1)
    reports_show(outcome, "failed")
    code, lines = verify(capsys, outcome.report_dir)
    assert code == 1, lines
    assert lines == ["pytest-staging verify: verdict: NO-GO (failed): integration: "
                     "test_app.py::test_orders failed: AssertionError: orders answered 500"]


def test_unreachable_target_is_inconclusive_exit_3(pytester: pytest.Pytester, mode: list[str],
                                                   keyed: str, capsys) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, f"http://127.0.0.1:{free_port()}/", *mode, *junit_args())
    assert_no_go(outcome, r"target not ready .*connection refused", exit_code=3)
    reports_show(outcome, "inconclusive")
    code, lines = verify(capsys, outcome.report_dir)
    assert code == 3, lines
    assert lines[0].startswith("pytest-staging verify: verdict: NO-GO (inconclusive): target "
                               "not ready")


def test_usage_error_is_inconclusive_exit_4(pytester: pytest.Pytester, server: LoopbackServer,
                                            mode: list[str], keyed: str, capsys) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, *mode, "--staging-gate", "no-such-gate")
    verdict = assert_no_go(outcome, r"usage error: .*no-such-gate", exit_code=4)
    assert verdict["reasons"][0].startswith("usage error: ")
    # A placeholder: unsigned, judged nothing; verify could not judge from it (no gate of it
    # to name away with --skip-gate: the plain deploy-job command).
    capsys.readouterr()
    code = main(["verify", str(outcome.report_dir), "--max-age", "1h", "--allow-partial"])
    lines = capsys.readouterr().err.splitlines()
    assert code == 3, lines


def test_signal_is_inconclusive_exit_2(pytester: pytest.Pytester, server: LoopbackServer,
                                       mode: list[str], keyed: str, capsys) -> None:
    pytester.makepyfile(test_app=WAITING)
    proc = start_staging(pytester, server.url, *mode, *junit_args())
    outcome = signal_when(proc, pytester.path / "running", signal.SIGTERM, pytester)
    verdict = assert_no_go(outcome, r"^run interrupted by SIGTERM", exit_code=2)
    assert verdict["run"]["complete"] is False
    reports_show(outcome, "inconclusive")
    code, lines = verify(capsys, outcome.report_dir)
    assert code == 3 and "NO-GO (inconclusive): run interrupted by SIGTERM" in lines[0], lines


def test_failure_beside_a_signal_is_failed(pytester: pytest.Pytester, server: LoopbackServer,
                                           mode: list[str], keyed: str, capsys) -> None:
    """Evidence of failure wins over an interruption: failed, exit 1 (not pytest's 2)."""
    server.routes["/api/orders"] = lambda req: json_answer({"error": "db down"}, 500)
    pytester.makepyfile(test_app=FAILING_THEN_WAITING)
    proc = start_staging(pytester, server.url, *mode, *junit_args())
    outcome = signal_when(proc, pytester.path / "running", signal.SIGTERM, pytester)
    verdict = assert_no_go(outcome, r"test_app\.py::test_a_orders failed: .*orders are down",
                           exit_code=1)
    assert any(r.startswith("run interrupted by SIGTERM") for r in verdict["reasons"])
    reports_show(outcome, "failed")
    code, lines = verify(capsys, outcome.report_dir)
    assert code == 1 and "NO-GO (failed)" in lines[0], lines


def test_a_check_that_could_not_judge(pytester: pytest.Pytester, server: LoopbackServer,
                                      mode: list[str]) -> None:
    """A gate marks a check it could not measure (a lost load worker) ``inconclusive``: its
    failed test blocks without being evidence; beside a real failure, failed wins."""
    pytester.makepyfile(test_app="""
from pytest_staging.record import record

def test_load(request):
    record(request.node, checks=[{"name": "load", "passed": False, "blocking": True,
                                  "detail": "a Locust worker was lost", "inconclusive": True}])
    raise AssertionError("load: a Locust worker was lost")
""")
    outcome = run_staging(pytester, server.url, *mode)
    verdict = assert_no_go(outcome, r"^integration: load: a Locust worker was lost$",
                           exit_code=3)
    assert verdict["reasons"] == ["integration: load: a Locust worker was lost"]
    server.routes["/api/orders"] = lambda req: json_answer({}, 500)
    pytester.makepyfile(test_more=FAILING)
    outcome = run_staging(pytester, server.url, *mode)
    assert_no_go(outcome, r"test_more\.py::test_orders failed", exit_code=1)


# -- verify: the judgement is re-derived -----------------------------------------------------
def _resign(path: Path, edit: Any) -> Path:
    verdict = json.loads(path.read_text(encoding="utf-8"))
    verdict.pop("signature", None)
    edit(verdict)
    out = path.with_name("edited.json")
    out.write_text(json.dumps(signed(verdict, KEY), indent=2), encoding="utf-8")
    return out


def test_verify_refuses_a_judgement_its_facts_contradict(
        pytester: pytest.Pytester, server: LoopbackServer, keyed: str, capsys) -> None:
    """Even re-signed with the key: a failed run relabelled inconclusive (a pause instead of a
    rollback), and an unready target relabelled failed, are refused (exit 3)."""
    server.routes["/api/orders"] = lambda req: json_answer({}, 500)
    pytester.makepyfile(test_app=FAILING)
    failed = run_staging(pytester, server.url, "-p", "no:xdist")
    assert failed.ret == 1
    kept = pytester.path / "failed-verdict.json"  # the next run writes the same report dir
    kept.write_bytes(failed.verdict_path.read_bytes())
    # The judgement is signed content: edited without the key, the signature refuses it.
    edited = json.loads(kept.read_text(encoding="utf-8"))
    edited["judgement"] = "inconclusive"
    unsigned_edit = pytester.path / "unsigned-edit.json"
    unsigned_edit.write_text(json.dumps(edited), encoding="utf-8")
    code, lines = verify(capsys, unsigned_edit)
    assert code == 3 and lines[0].startswith("pytest-staging verify: signature: "), lines
    path = _resign(failed.verdict_path, lambda v: v.update(judgement="inconclusive"))
    code, lines = verify(capsys, path)
    assert code == 3 and lines == ["pytest-staging verify: judgement: the file says "
                                   "inconclusive but its own facts give failed"], lines

    down = run_staging(pytester, f"http://127.0.0.1:{free_port()}/", "-p", "no:xdist")
    assert down.ret == 3
    path = _resign(down.verdict_path, lambda v: v.update(judgement="failed"))
    code, lines = verify(capsys, path)
    assert code == 3 and lines == ["pytest-staging verify: judgement: the file says failed "
                                   "but its own facts give inconclusive"], lines
    # Unedited, each verifies to its own judgement.
    assert verify(capsys, kept)[0] == 1
    assert verify(capsys, down.verdict_path)[0] == 3


def test_an_older_verdict_without_judgement_still_verifies(
        pytester: pytest.Pytester, server: LoopbackServer, keyed: str, capsys) -> None:
    pytester.makepyfile(test_app=SUITE)
    go = run_staging(pytester, server.url, "-p", "no:xdist")
    assert go.ret == 0
    path = _resign(go.verdict_path, lambda v: v.pop("judgement"))
    code, lines = verify(capsys, path, "--explain")
    assert code == 0, lines
    assert any(line.startswith("  ok   judgement: no judgement recorded (an older verdict); "
                               "its facts give passed") for line in lines), lines
    # An older NO-GO is judged from its facts: a failed test is still exit 1.
    server.routes["/api/orders"] = lambda req: json_answer({}, 500)
    pytester.makepyfile(test_app=FAILING)
    nogo = run_staging(pytester, server.url, "-p", "no:xdist")
    path = _resign(nogo.verdict_path, lambda v: v.pop("judgement"))
    code, lines = verify(capsys, path)
    assert code == 1 and "verdict: NO-GO (failed): " in lines[0], lines


def test_verify_exit_codes_for_what_it_refuses(pytester: pytest.Pytester,
                                               server: LoopbackServer, keyed: str,
                                               capsys) -> None:
    """A failed verdict verify cannot trust or bind is no evidence about this release: 3.
    Usage errors are 2, the empty --expect-version too (it was 1)."""
    server.routes["/api/orders"] = lambda req: json_answer({}, 500)
    pytester.makepyfile(test_app=FAILING)
    assert server.version == "1.0.0"
    failed = run_staging(pytester, server.url, "-p", "no:xdist",
                         "--staging-expect-version", "1.0.0")
    assert failed.ret == 1
    report = failed.report_dir
    assert verify(capsys, report, "--expect-version", "1.0.0")[0] == 1
    code, lines = verify(capsys, report, "--expect-version", "2.0.0")
    assert code == 3 and lines[0].startswith("pytest-staging verify: version: expected 2.0.0")
    code, lines = verify(capsys, report, "--expect-version", "")
    assert code == 2 and lines[0].startswith("pytest-staging verify: usage: --expect-version")
    tampered = report / "verdict.json"
    tampered.write_text(tampered.read_text().replace("orders", "ordors"), encoding="utf-8")
    code, lines = verify(capsys, report)
    assert code == 3 and lines[0].startswith("pytest-staging verify: signature: "), lines
    assert main(["verify", str(report), "--no-such-option"]) == 2
