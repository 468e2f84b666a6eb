"""Whole runs against a loopback server, then ``pytest-staging verify`` on what they wrote, as
a deploy job does: the run and verify judge gates by one rule (an empty ``min_tests = 0``
gate, a run with no blocking test), ``--allow-partial`` keeps the policy's blocking gates,
``--expect-target`` binds the verdict to the URL it tested. Serial and ``-n 2``."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import LoopbackServer

from pytest_staging.cli import main

KEY = "verify-runs-key-3e3e"
SECRET = "pw-never-shown-7d"

INTEGRATION = '''
def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_version(staging):
    assert staging.get("/version").json()["version"] == "1.0.0"
'''
ADVISORY_ONLY = '''
import pytest

@pytest.mark.advisory
def test_health(staging):
    assert staging.get("/health").status_code == 200

@pytest.mark.smoke
def test_smoke(staging):
    assert staging.get("/").status_code == 200
'''
# The gates these runs are not about may be empty: the policy's own word.
EMPTY_ALLOWED = '''
[gates.security]
min_tests = 0
[gates.performance]
min_tests = 0
'''
ALL_EMPTY_ALLOWED = EMPTY_ALLOWED + '''
[gates.integration]
min_tests = 0
[gates.smoke]
blocking = false
'''


@pytest.fixture(autouse=True)
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run signs with the key, the deploy job holds it (the README's HMAC path)."""
    monkeypatch.setenv("STAGING_VERDICT_KEY", KEY)
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE"):
        monkeypatch.delenv(name, raising=False)


def verify(capsys: pytest.CaptureFixture[str], report: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", str(report), *args])
    out, err = capsys.readouterr()
    lines = (out + err).splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return code, lines[0]


def test_empty_min_tests_0_gates_go_in_the_run_and_in_verify(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """The README's deploy job after a green run whose policy lets two gates be empty."""
    pytester.makepyfile(test_suite=INTEGRATION)
    pytester.makefile(".toml", policy=EMPTY_ALLOWED)
    run = run_staging("--staging-policy", "policy.toml", *mode, url=server.url)
    assert run.ret == 0, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "GO" and verdict["selection"]["partial"] is False
    assert verdict["gates"]["security"]["status"] == "empty"
    assert verdict["gates"]["performance"]["status"] == "empty"
    code, line = verify(capsys, run.report_dir)
    assert code == 0, line
    assert ("gates passed: integration, security (empty, min_tests = 0), performance (empty, "
            "min_tests = 0) (blocking gates of the policy)") in line
    # the deploy side may still demand evidence of a gate, and is then refused
    code, line = verify(capsys, run.report_dir, "--require-gate", "security")
    assert code == 3 and line == ("pytest-staging verify: gates: required gate security is "
                                  "empty with 0 test(s) run (--require-gate)")


def test_no_blocking_test_run_is_no_go_and_refused(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Every blocking gate may be empty and is; the tests that ran are advisory."""
    pytester.makepyfile(test_suite=ADVISORY_ONLY)
    pytester.makefile(".toml", policy=ALL_EMPTY_ALLOWED)
    run = run_staging("--staging-policy", "policy.toml", *mode, url=server.url)
    assert run.ret != 0, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"] == [
        "no blocking test ran: the 2 test(s) that ran are advisory (they report, never block); "
        "make a gate blocking or add a blocking test"]
    code, line = verify(capsys, run.report_dir, "--allow-partial")
    assert code == 3 and line.startswith("pytest-staging verify: verdict: NO-GO (inconclusive): "
                                         "no blocking test ran")


def test_allow_partial_with_only_an_advisory_gate_selected_is_refused(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """--staging-gate smoke (an advisory gate): consent to a partial run is not consent to a
    run that tested nothing blocking, whatever gates are named away."""
    pytester.makepyfile(test_suite=ADVISORY_ONLY + INTEGRATION.replace("test_", "test_i_"))
    pytester.makefile(".toml", policy=EMPTY_ALLOWED + "[gates.smoke]\nblocking = false\n")
    run = run_staging("--staging-policy", "policy.toml", "--staging-gate", "smoke", *mode,
                      url=server.url)
    assert run.ret != 0, run.output
    verdict = run.verdict
    assert verdict["selection"]["partial"] is True
    assert verdict["reasons"][0].startswith("no blocking test ran: the 1 test(s) that ran")
    for skip in ((), ("--skip-gate", "integration", "--skip-gate", "security",
                      "--skip-gate", "performance")):
        code, line = verify(capsys, run.report_dir, "--allow-partial", *skip)
        assert code == 3 and line.startswith("pytest-staging verify: verdict: NO-GO "
                                             "(inconclusive): no blocking test ran")

    # a partial run of the integration gate: GO, and verify wants the others named away
    run = run_staging("--staging-policy", "policy.toml", "--staging-gate", "integration",
                      *mode, url=server.url)
    assert run.ret == 0, run.output
    code, line = verify(capsys, run.report_dir, "--allow-partial")
    assert code == 3 and line == ("pytest-staging verify: gates: required gate security did "
                                  "not run (blocking gates of the policy)")
    code, line = verify(capsys, run.report_dir, "--allow-partial", "--skip-gate", "security",
                        "--skip-gate", "performance")
    assert code == 0, line
    assert "not required: security, performance (--skip-gate)" in line


def test_expect_target_binds_the_verdict_to_the_url_it_tested(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    pytester.makepyfile(test_suite=INTEGRATION)
    pytester.makefile(".toml", policy=EMPTY_ALLOWED)
    port = server.port
    # the run is given credentials and a query token; the verdict records neither
    url = f"http://deploy:{SECRET}@127.0.0.1:{port}/?token={SECRET}"
    run = run_staging("--staging-policy", "policy.toml", *mode, url=url)
    assert run.ret == 0, run.output
    assert run.verdict["target"]["url"] == f"http://127.0.0.1:{port}/"
    for same in (f"http://127.0.0.1:{port}/", f"HTTP://127.0.0.1:{port}",
                 f"http://127.0.0.1:{port}/./", f"http://someone:{SECRET}@127.0.0.1:{port}/",
                 f"http://127.0.0.1:{port}?api_key={SECRET}"):
        code, line = verify(capsys, run.report_dir, "--expect-target", same)
        assert code == 0, (same, line)
        assert f"target http://127.0.0.1:{port}/" in line and SECRET not in line
    for other, tested in ((f"http://127.0.0.1:{port + 1}/", f"http://127.0.0.1:{port + 1}/"),
                          (f"https://127.0.0.1:{port}/", f"https://127.0.0.1:{port}/"),
                          (f"http://127.0.0.2:{port}/", f"http://127.0.0.2:{port}/"),
                          (f"http://{SECRET}@127.0.0.1:{port}/v2", f"http://127.0.0.1:{port}/v2/"),
                          (f"http://localhost:{port}/", f"http://localhost:{port}/")):
        code, line = verify(capsys, run.report_dir, "--expect-target", other)
        assert code == 3, (other, line)
        assert line == (f"pytest-staging verify: target: expected target {tested}, the verdict "
                        f"tested http://127.0.0.1:{port}/")
    for file in run.report_dir.iterdir():
        assert SECRET not in file.read_text(encoding="utf-8"), file
