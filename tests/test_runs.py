"""Whole pytest runs of the plugin against real loopback servers, serial and under xdist."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from servers import LoopbackServer, free_port, json_answer, text_answer

from pytest_staging.schema import validation_errors

THREE_GATES = """
import pytest

def test_health(staging):
    assert staging.get("/health").status_code == 200

@pytest.mark.security
def test_no_banner(staging):
    assert "Server" in staging.get("/").headers

@pytest.mark.performance
def test_fast(staging):
    assert staging.get("/").elapsed.total_seconds() < 5
"""


def valid(verdict: dict) -> dict:
    assert validation_errors(verdict) == []
    return verdict


def test_all_passing_is_go(pytester: pytest.Pytester, run_staging, server: LoopbackServer,
                           mode: list[str]) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    run = run_staging(*mode, url=server.url)
    assert run.ret == 0, run.output
    verdict = valid(run.verdict)
    assert verdict["verdict"] == "GO"
    assert {n: g["status"] for n, g in verdict["gates"].items()} == {
        "integration": "passed", "security": "passed", "performance": "passed"}
    assert len(verdict["tests"]) == 3
    assert verdict["run"]["workers"] == (2 if "-n" in mode else 0)
    assert "staging verdict" in run.stdout
    assert any(line.startswith("GO  target http://127.0.0.1:") for line in run.stdout.splitlines())
    assert (run.report_dir / "verdict.md").read_text().startswith("## ✅ GO")


def test_blocking_failure_is_no_go(pytester: pytest.Pytester, run_staging,
                                   server: LoopbackServer, mode: list[str]) -> None:
    server.routes["/api/orders"] = lambda req: json_answer({"error": "db down"}, 500)
    pytester.makepyfile(test_three=THREE_GATES + """
def test_orders(staging):
    response = staging.get("/api/orders")
    assert response.status_code == 200, response.text
""")
    run = run_staging(*mode, url=server.url)
    assert run.ret == 1  # failed: evidence that the release is bad
    verdict = valid(run.verdict)
    assert verdict["verdict"] == "NO-GO" and verdict["judgement"] == "failed"
    assert any(line.startswith("NO-GO (failed)  target http://127.0.0.1:")
               for line in run.stdout.splitlines())
    assert len(verdict["reasons"]) == 1
    assert verdict["reasons"][0].startswith("integration: test_three.py::test_orders failed:")
    failure = verdict["gates"]["integration"]["failures"][0]
    assert failure["evidence"][-1]["status"] == 500
    assert "db down" in failure["evidence"][-1]["body"]
    assert "staging: last HTTP exchanges" in run.stdout
    assert "Traceback" not in run.output


def test_advisory_failure_is_go_with_warning(pytester: pytest.Pytester, run_staging,
                                             server: LoopbackServer, mode: list[str]) -> None:
    pytester.makepyfile(test_three=THREE_GATES + """
@pytest.mark.advisory
def test_new_feature(staging):
    assert staging.get("/beta").status_code == 200
""")
    run = run_staging(*mode, url=server.url)
    assert run.ret == 0, run.output
    verdict = valid(run.verdict)
    assert verdict["verdict"] == "GO"
    assert verdict["warnings"][0].startswith(
        "integration: would have blocked: test_three.py::test_new_feature failed")
    assert verdict["gates"]["integration"]["status"] == "advisory"


def test_unreachable_target_is_no_go_quickly(pytester: pytest.Pytester, run_staging,
                                             mode: list[str]) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    pytester.makefile(".toml", policy="[target]\nwait = 1\n")
    started = time.monotonic()
    run = run_staging(*mode, "--staging-policy=policy.toml",
                      url=f"http://127.0.0.1:{free_port()}/")
    assert run.ret == 3  # could not judge: no test reached the target
    assert time.monotonic() - started < 60
    verdict = valid(run.verdict)
    assert verdict["judgement"] == "inconclusive"
    assert verdict["reasons"] == [verdict["reasons"][0]]
    assert "connection refused" in verdict["reasons"][0]
    assert "Traceback" not in run.output


def test_target_that_warms_up_becomes_go(pytester: pytest.Pytester, run_staging,
                                         server: LoopbackServer) -> None:
    first_poll: list[float] = []

    def health(req: object) -> tuple[int, dict[str, str], bytes]:
        first_poll.append(time.monotonic())
        if time.monotonic() - first_poll[0] > 1.5:
            return json_answer({"status": "ok"})
        return text_answer("warming up", 503)

    server.routes["/health"] = health
    pytester.makepyfile(test_three=THREE_GATES)
    pytester.makefile(".toml", policy='[target]\nwait = 20\nhealth = "/health"\n'
                                      "interval = 0.2\n")
    run = run_staging("--staging-policy=policy.toml", url=server.url)
    assert run.ret == 0, run.output
    assert run.verdict["target"]["ready_after"] >= 1.4
    assert len(first_poll) >= 3


def test_gate_selection(pytester: pytest.Pytester, run_staging, server: LoopbackServer) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    run = run_staging("--staging-gate=integration", "--staging-gate", "security",
                      url=server.url)
    assert run.ret == 0, run.output
    verdict = valid(run.verdict)
    assert list(verdict["gates"]) == ["integration", "security"]
    assert verdict["run"]["gates_selected"] == ["integration", "security"]
    assert "1 deselected" in run.stdout


def test_unknown_gate_is_a_usage_error(pytester: pytest.Pytester, run_staging,
                                       server: LoopbackServer) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    run = run_staging("--staging-gate=smoek", url=server.url)
    assert run.ret == 4
    assert "--staging-gate smoek: unknown gate" in run.output
    assert run.verdict["verdict"] == "NO-GO"
    assert "Traceback" not in run.output


def test_empty_gate_and_k_matching_nothing(pytester: pytest.Pytester, run_staging,
                                           server: LoopbackServer, mode: list[str]) -> None:
    pytester.makepyfile(test_one="def test_health(staging):\n    assert staging.get('/')\n")
    run = run_staging(*mode, url=server.url)
    assert run.ret == 3 and run.verdict["judgement"] == "inconclusive"  # empty gates: no evidence
    assert run.verdict["reasons"] == [
        "security: gate ran 0 test(s), needs at least 1 (add tests, select gates with "
        "--staging-gate, or set [gates.security] min_tests)",
        "performance: gate ran 0 test(s), needs at least 1 (add tests, select gates with "
        "--staging-gate, or set [gates.performance] min_tests)"]
    run = run_staging(*mode, "-k", "nothing_matches", url=server.url)
    assert run.ret == 3  # never pytest's 5 ("no tests"), which pipelines often let pass
    assert run.verdict["verdict"] == "NO-GO"
    assert all("gate ran 0 test(s)" in r for r in run.verdict["reasons"])


def test_policy_gate_with_strict_markers(pytester: pytest.Pytester, run_staging,
                                         server: LoopbackServer) -> None:
    pytester.makefile(".toml", pyproject="""
[tool.pytest-staging]
default_gate = "smoke"

[tool.pytest-staging.gates.smoke]
description = "quick checks"

[tool.pytest-staging.gates.security]
min_tests = 0

[tool.pytest-staging.gates.performance]
blocking = false
""")
    pytester.makepyfile(test_gates="""
import pytest

def test_unmarked(staging):
    assert staging.get("/").ok

@pytest.mark.integration
def test_integration(staging):
    assert staging.get("/").ok
""")
    run = run_staging("--strict-markers", url=server.url)
    assert run.ret == 0, run.output
    verdict = valid(run.verdict)
    assert {t["nodeid"].split("::")[1]: t["gate"] for t in verdict["tests"]} == {
        "test_unmarked": "smoke", "test_integration": "integration"}
    assert verdict["gates"]["performance"]["status"] == "empty"
    assert verdict["gates"]["performance"]["blocking"] is False


def test_unknown_policy_key_is_no_go(pytester: pytest.Pytester, run_staging,
                                     server: LoopbackServer) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    pytester.makefile(".toml", policy="[target]\nwiat = 1\n")
    run = run_staging("--staging-policy=policy.toml", url=server.url)
    assert run.ret == 4
    assert "policy.toml: target.wiat: unknown key" in run.output
    verdict = valid(run.verdict)
    assert verdict["verdict"] == "NO-GO"
    assert "target.wiat: unknown key" in verdict["reasons"][0]
    assert "Traceback" not in run.output


def test_destructive_tests_skip_on_sensitive_target(pytester: pytest.Pytester, run_staging,
                                                    server: LoopbackServer,
                                                    mode: list[str]) -> None:
    pytester.makefile(".toml", policy='[target]\nsensitive_url = "127\\\\.0\\\\.0\\\\.1"\n'
                                      "[gates.security]\nmin_tests = 0\n"
                                      "[gates.performance]\nmin_tests = 0\n")
    pytester.makepyfile(test_d="""
import pytest

def test_read(staging):
    assert staging.get("/").ok

@pytest.mark.destructive
def test_delete_everything(staging):
    assert staging.delete("/api/everything").status_code == 404
""")
    run = run_staging(*mode, "--staging-policy=policy.toml", url=server.url)
    assert run.ret == 0, run.output
    verdict = valid(run.verdict)
    assert verdict["destructive_skipped"] == ["test_d.py::test_delete_everything"]
    assert verdict["target"]["sensitive"] is True
    assert not [r for r in server.requests if r.method == "DELETE"]
    run = run_staging(*mode, "--staging-policy=policy.toml", "--staging-allow-destructive",
                      url=server.url)
    assert run.ret == 0, run.output
    assert run.verdict["destructive_skipped"] == []
    assert "destructive tests allowed by --staging-allow-destructive" in run.verdict["warnings"]
    assert [r for r in server.requests if r.method == "DELETE"]


def test_expected_version(pytester: pytest.Pytester, run_staging,
                          server: LoopbackServer) -> None:
    server.version = "2.4.1"
    pytester.makepyfile(test_three=THREE_GATES)
    run = run_staging("--staging-expect-version=2.4.1", url=server.url)
    assert run.ret == 0, run.output
    assert run.verdict["target"]["observed_version"] == {"start": "2.4.1", "end": "2.4.1"}
    run = run_staging("--staging-expect-version=2.5.0", url=server.url)
    # the tests ran against another version: nothing was judged about 2.5.0
    assert run.ret == 3 and run.verdict["judgement"] == "inconclusive"
    assert run.verdict["reasons"][0] == "version mismatch at start: expected 2.5.0, observed 2.4.1"


def test_version_header_and_redeploy_during_run(pytester: pytest.Pytester, run_staging,
                                                server: LoopbackServer) -> None:
    versions = iter(["1.0", "1.1"])
    server.routes["/build"] = lambda req: text_answer("", 200, **{"X-Build": next(versions)})
    pytester.makefile(".toml", policy='[target]\nversion = "/build"\nversion_header = "X-Build"\n')
    pytester.makepyfile(test_three=THREE_GATES)
    run = run_staging("--staging-policy=policy.toml", url=server.url)
    assert run.ret == 3 and run.verdict["judgement"] == "inconclusive"  # evidence of two builds
    assert run.verdict["reasons"] == ["version changed during the run: 1.0 -> 1.1 (a redeploy?)"]


def test_placeholder_is_written_before_tests_run(pytester: pytest.Pytester, run_staging,
                                                 server: LoopbackServer) -> None:
    report_dir = pytester.path / "staging-report"
    report_dir.mkdir()
    (report_dir / "verdict.json").write_text(json.dumps({"verdict": "GO"}))
    (report_dir / "verdict.html").write_text("<h1>GO</h1>")
    pytester.makepyfile(test_three=THREE_GATES + f"""
import json, pathlib

def test_sees_placeholder():
    verdict = json.loads(pathlib.Path({str(report_dir / "verdict.json")!r}).read_text())
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"] == ["run in progress (no verdict yet)"]
    assert not pathlib.Path({str(report_dir / "verdict.html")!r}).exists()
""")
    run = run_staging(url=server.url)
    assert run.ret == 0, run.output


def test_collection_error_is_no_go(pytester: pytest.Pytester, run_staging,
                                   server: LoopbackServer, mode: list[str]) -> None:
    pytester.makepyfile(test_three=THREE_GATES, test_broken="import not_a_module_at_all\n")
    run = run_staging(*mode, url=server.url)
    # Inconclusive: pytest's own 2 when it stopped at the error (serial), else 3.
    assert run.ret in (2, 3)
    verdict = valid(run.verdict)
    assert verdict["verdict"] == "NO-GO" and verdict["judgement"] == "inconclusive"
    assert any(r.startswith("collection error: test_broken.py") for r in verdict["reasons"])


def test_keyboard_interrupt_is_no_go(pytester: pytest.Pytester, run_staging,
                                     server: LoopbackServer) -> None:
    pytester.makepyfile(test_three=THREE_GATES + """
def test_interrupt():
    raise KeyboardInterrupt
""")
    # A real Ctrl-C reaches the process: pytester's in-process run would re-raise it here.
    run = run_staging(url=server.url, subprocess=True)
    assert run.ret == 2
    assert run.verdict["verdict"] == "NO-GO" and run.verdict["judgement"] == "inconclusive"
    assert ("run interrupted: KeyboardInterrupt (Ctrl-C, or raised by code)"
            in run.verdict["reasons"])


def test_record_checks_reach_the_verdict(pytester: pytest.Pytester, run_staging,
                                         server: LoopbackServer, mode: list[str]) -> None:
    pytester.makepyfile(test_three=THREE_GATES + """
from pytest_staging.record import record

@pytest.mark.performance
def test_budget(request, staging):
    record(request.node, metrics={"budget": {"p95_ms": 412.0}},
           checks=[{"name": "p95 < 300ms", "passed": False, "blocking": True,
                    "detail": "observed 412ms"}])
""")
    run = run_staging(*mode, url=server.url)
    assert run.ret == 1
    verdict = valid(run.verdict)
    assert verdict["reasons"] == ["performance: p95 < 300ms: observed 412ms"]
    assert verdict["judgement"] == "failed"
    assert verdict["gates"]["performance"]["metrics"] == {"budget": {"p95_ms": 412.0}}


WHOAMI = """
def test_whoami(staging):
    response = staging.get("/whoami")
    print("got", response.text, response.request.headers)
    assert response.status_code == 200, response.text
"""


@pytest.mark.parametrize("where", ["header", "userinfo"])
def test_secrets_never_printed_or_written(pytester: pytest.Pytester, run_staging,
                                          server: LoopbackServer,
                                          monkeypatch: pytest.MonkeyPatch,
                                          mode: list[str], where: str) -> None:
    token = "tok-9f8e7d6c5b4a"
    monkeypatch.setenv("TOKEN", token)
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    server.routes["/whoami"] = lambda req: json_answer(
        {"auth": req.headers.get("Authorization")}, 403)
    pytester.makepyfile(test_three=THREE_GATES + WHOAMI)
    if where == "header":
        args = ["--staging-header", "Authorization: Bearer $TOKEN"]
        url = server.url + "?access_token=k3y-0123"
        secrets = [token, "k3y-0123"]
    else:
        args = []
        url = server.url.replace("http://", f"http://deploy:{token}@")
        secrets = [token, base64.b64encode(f"deploy:{token}".encode()).decode()]
    run = run_staging(*mode, *args, "-rA", url=url)
    assert run.ret == 1
    sent = server.requests[-1]
    # The secret reached the target in the form each way of giving it implies.
    expected = f"Bearer {token}" if where == "header" else f"Basic {secrets[1]}"
    assert sent.headers["Authorization"] == expected
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.suffix in (".json", ".md")]
    assert {p.name for p in written} >= {"verdict.json", "verdict.md", "step-summary.md"}
    for secret in secrets:
        assert secret not in run.output
        for path in written:
            assert secret not in path.read_text(), path
    failure = run.verdict["gates"]["integration"]["failures"][0]
    assert "***" in failure["message"]
    assert "FAILED test_three.py::test_whoami - AssertionError:" in run.stdout


INTERRUPTED = """
import os
import signal

import pytest


def test_first(staging):
    pass


def test_slow(staging):
    {stop}


def test_never(staging):
    pass
"""


@pytest.mark.parametrize("stop", [
    "os.kill(os.getpid(), signal.SIGTERM)", "raise KeyboardInterrupt",
    "pytest.exit('maintenance window')"], ids=["sigterm", "ctrl-c", "pytest-exit"])
def test_a_test_interrupted_mid_call_says_so(pytester: pytest.Pytester, run_staging,
                                             server: LoopbackServer, stop: str) -> None:
    """Issue 24.7: a test stopped inside its call was interrupted during its call, not "set
    up, never called" (which --setup-only still says)."""
    pytester.makepyfile(test_int=INTERRUPTED.replace("{stop}", stop))
    run = run_staging("-p", "no:xdist", url=server.url, subprocess=True)
    assert run.ret != 0
    verdict = run.verdict
    [reason] = [r for r in verdict["reasons"] if "never reached a final outcome" in r]
    assert "test_int.py::test_slow (interrupted during its call)" in reason, reason
    assert "never called" not in reason
    records = {t["nodeid"]: t for t in verdict["tests"]}
    assert records["test_int.py::test_first"]["outcome"] == "passed"
    assert records["test_int.py::test_slow"]["outcome"] == "incomplete"
    run = run_staging("-p", "no:xdist", "--setup-only", url=server.url)
    assert any("test_int.py::test_first (set up, never called)" in r
               for r in run.verdict["reasons"]), run.verdict["reasons"]


def test_url_from_env_and_ini(pytester: pytest.Pytester, run_staging, server: LoopbackServer,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_url="""
def test_url(staging_url):
    print("URL=" + staging_url)
""")
    pytester.makeini(f"[pytest]\nstaging_url = http://127.0.0.1:{free_port()}/ini/\n"
                     "staging_policy = policy.toml\n")
    pytester.makefile(".toml", policy="[gates.security]\nmin_tests = 0\n"
                                      "[gates.performance]\nmin_tests = 0\n[target]\nwait = 0\n")
    run = run_staging("-s")
    assert "/ini/" in run.verdict["target"]["url"]
    monkeypatch.setenv("STAGING_URL", server.url + "env")
    run = run_staging("-s")
    assert f"URL={server.url}env/" in run.stdout
    run = run_staging("-s", url=server.url + "cli")
    assert f"URL={server.url}cli/" in run.stdout
    assert run.ret == 0, run.output


SUITE = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2

@pytest.mark.skip
def test_skip():
    pass
"""


def test_inactive_run_is_plain_pytest(pytester: pytest.Pytester, run_staging) -> None:
    pytester.makepyfile(test_plain=SUITE)
    with_plugin = run_staging()
    without = pytester.runpytest_subprocess("-p", "no:staging", "-p", "no:cacheprovider")
    assert with_plugin.ret == without.ret == 1
    summary = [ln for ln in with_plugin.stdout.splitlines() if " in " in ln][-1]
    assert "1 failed, 1 passed, 1 skipped" in summary
    assert "1 failed, 1 passed, 1 skipped" in without.stdout.str()
    assert "staging verdict" not in with_plugin.stdout
    assert not (pytester.path / "staging-report").exists()
    pytester.makepyfile(test_plain="def test_none():\n    pass\n", test_x="")
    assert run_staging("-k", "nomatch").ret == 5
    assert pytester.runpytest_subprocess("-p", "no:staging", "-k", "nomatch").ret == 5


def test_fixture_without_url_errors_in_one_line(pytester: pytest.Pytester, run_staging) -> None:
    pytester.makepyfile(test_one="def test_it(staging):\n    pass\n")
    run = run_staging()
    # Every selected test needs the target: one usage line, exit 4 (tests/test_first_hour.py).
    assert run.ret == 4
    assert run.output.count("no staging URL: pass --staging-url or set STAGING_URL") == 1
    assert "Traceback" not in run.output


def test_help_groups_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    text = result.stdout.str()
    assert "staging: release gate for a live staging environment:" in text
    for option in ("--staging-url=URL", "--staging-policy=FILE", "--staging-gate=NAME",
                   "--staging-header", "--staging-expect-version=V"):
        assert option in text


def test_report_dir_that_cannot_be_written(pytester: pytest.Pytester, run_staging,
                                           server: LoopbackServer) -> None:
    blocker = pytester.path / "blocker"
    blocker.write_text("a file where the report dir should be")
    pytester.makepyfile(test_three=THREE_GATES)
    result = pytester.runpytest_subprocess(f"--staging-url={server.url}",
                                           f"--staging-report-dir={blocker / 'reports'}")
    assert result.ret == 4
    assert "cannot write the verdict to" in result.stderr.str()


def test_ca_bundle_missing_is_usage_error(pytester: pytest.Pytester, run_staging,
                                          server: LoopbackServer) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    run = run_staging("--staging-ca-bundle=/nonexistent/ca.pem", url=server.url)
    assert run.ret == 4
    assert "--staging-ca-bundle /nonexistent/ca.pem: file not found" in run.output


def test_reports_dir_default_location(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    result = pytester.runpytest_subprocess(f"--staging-url={server.url}", "-p", "no:cacheprovider",
                                           "-p", "no:staging-security")
    assert result.ret == 0
    assert json.loads(Path(pytester.path / "staging-report" / "verdict.json").read_text())[
        "verdict"] == "GO"


def test_tls_options(pytester: pytest.Pytester, run_staging, tls_server: LoopbackServer,
                     tls_ca, tmp_path: Path) -> None:
    pytester.makepyfile(test_three=THREE_GATES)
    pytester.makefile(".toml", policy="[target]\nwait = 1\n")
    untrusted = run_staging("--staging-policy=policy.toml", url=tls_server.url)
    assert untrusted.ret == 3 and untrusted.verdict["judgement"] == "inconclusive"
    assert "TLS certificate is not trusted (a private CA? use --staging-ca-bundle FILE)" in (
        untrusted.verdict["reasons"][0])
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    trusted = run_staging("--staging-policy=policy.toml", f"--staging-ca-bundle={bundle}",
                          url=tls_server.url)
    assert trusted.ret == 0, trusted.output
    assert trusted.verdict["warnings"] == []
    insecure = run_staging("--staging-policy=policy.toml", "--staging-insecure",
                           url=tls_server.url)
    assert insecure.ret == 0, insecure.output
    assert "TLS certificate verification disabled by --staging-insecure" in (
        insecure.verdict["warnings"])
    assert insecure.verdict["run"]["insecure"] is True


def test_record_refuses_non_builtin_data(pytester: pytest.Pytester, run_staging,
                                         server: LoopbackServer) -> None:
    pytester.makepyfile(test_three=THREE_GATES + """
import datetime
from pytest_staging.record import record

def test_bad_record(request):
    record(request.node, metrics={"at": datetime.datetime.now()})
""")
    run = run_staging("-n", "2", url=server.url)
    assert run.ret == 1
    assert run.verdict["reasons"] == [
        "integration: test_three.py::test_bad_record failed: TypeError: record(): only str, "
        "int, float, bool, None, lists and dicts may be recorded, got datetime"]


def test_bug_in_plugin_machinery_is_no_go(pytester: pytest.Pytester, run_staging,
                                          server: LoopbackServer, mode: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_staging.client import StagingSession

    # The conftest below patches the class in this process too (an in-process serial run):
    # put it back afterwards, or every later run in this process loses its evidence.
    monkeypatch.setattr(StagingSession, "evidence", StagingSession.evidence)
    server.routes["/broken"] = lambda req: text_answer("no", 500)
    # Patched for the run's tests only: a class attribute set at import would outlive an
    # in-process run and break every later run in this process.
    pytester.makeconftest("""
import pytest
from pytest_staging.client import StagingSession

def explode(self, redactor):
    raise RuntimeError("evidence machinery broke")

@pytest.fixture(autouse=True)
def broken_evidence(monkeypatch):
    monkeypatch.setattr(StagingSession, "evidence", explode)
""")
    pytester.makepyfile(test_three=THREE_GATES + """
@pytest.mark.advisory
def test_advisory_broken(staging):
    assert staging.get("/broken").ok
""")
    run = run_staging(*mode, url=server.url)
    # our own machinery broke; the only failing test is advisory: nothing judged the release
    assert run.ret == 3
    assert run.verdict["verdict"] == "NO-GO" and run.verdict["judgement"] == "inconclusive"
    assert run.verdict["reasons"] == [
        "pytest-staging failed: report of test_three.py::test_advisory_broken: RuntimeError: "
        "evidence machinery broke"]
    assert "INTERNALERROR" not in run.output


@pytest.mark.parametrize("option", ["--staging-wait=-1", "--staging-timeout=0",
                                    "--staging-wait=soon"])
def test_bad_seconds_are_usage_errors(pytester: pytest.Pytester, option: str) -> None:
    pytester.makepyfile(test_one="def test_it():\n    pass\n")
    result = pytester.runpytest_subprocess("--staging-url=http://127.0.0.1:9/", option)
    assert result.ret == 4
    assert "expected seconds >=" in result.stderr.str()


def test_usage_error_replaces_the_verdict_in_the_ini_report_dir(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    report_dir = pytester.path / "reports-from-ini"
    report_dir.mkdir()
    (report_dir / "verdict.json").write_text(json.dumps({"verdict": "GO"}))
    pytester.makeini("[pytest]\nstaging_report_dir = reports-from-ini\n"
                     "staging_policy = policy.toml\n")
    pytester.makefile(".toml", policy="[target]\nwiat = 1\n")
    pytester.makepyfile(test_one="def test_it():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--staging-url={server.url}")
    assert result.ret == 4
    verdict = json.loads((report_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO"
    assert "target.wiat: unknown key" in verdict["reasons"][0]
