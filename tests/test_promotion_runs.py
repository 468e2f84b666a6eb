"""Whole runs against a loopback server, then the promotion step on what they wrote:
signed verdicts, verify, verdict.html, flaky reruns and JUnit properties, serial and -n 2."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from servers import LoopbackServer

from pytest_staging.cli import main

KEY = "promotion-run-key-7f3a9c"
MODES = {"serial": ["-p", "no:xdist"], "xdist": ["-n", "2"]}
pytestmark = pytest.mark.parametrize("mode", list(MODES))

GOOD = '''
def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_version(staging):
    assert staging.get("/version").json()["version"] == "1.4.2"
'''

BAD = GOOD + '''
def test_checkout(staging):
    assert staging.get("/api/checkout").status_code == 200
'''

# Fails on its first attempt, passes on the second: the counter file survives the rerun.
FLAKY = GOOD + '''
import pathlib

def test_sometimes(staging):
    counter = pathlib.Path(__file__).with_name("attempts.txt")
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    assert staging.get("/health").status_code == 200
    assert n >= 1, "first attempt fails"
'''

MIXED = FLAKY + '''
import pytest

@pytest.mark.advisory
def test_advisory(staging):
    assert staging.get("/health").ok

@pytest.mark.parametrize("path", ["/", "/health", "/version"])
def test_paths(staging, path):
    assert staging.get(path).status_code == 200
'''


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer(version="1.4.2").start()
    yield srv
    srv.stop()


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STAGING_VERDICT_KEY", KEY)
    return KEY


@pytest.fixture
def unkeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGING_VERDICT_KEY", raising=False)


def run(pytester: pytest.Pytester, server: LoopbackServer, mode: str, source: str,
        *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_suite=source)
    # In this process: the plugin loads from its entry point all the same, ~0.6 s sooner.
    return pytester.runpytest_inprocess(
        "--staging-url", server.url, "--staging-gate", "integration", "-p", "no:cacheprovider",
        *MODES[mode], *args)


def verdict_of(pytester: pytest.Pytester) -> dict[str, Any]:
    return json.loads((pytester.path / "staging-report" / "verdict.json").read_text())


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """Outcome counts of the summary line, including pytest-rerunfailures' "rerun"."""
    return result.parseoutcomes()


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    # These runs select one gate (--staging-gate integration): partial by definition, and the
    # deploy job names the blocking gates it lets the run leave out.
    code = main(["verify", "--allow-partial", "--skip-gate", "security", "--skip-gate",
                 "performance", *args])
    out, err = capsys.readouterr()
    return code, (out + err).splitlines()


def test_signed_go_run_passes_verify_and_edits_fail_it(
        pytester: pytest.Pytester, server: LoopbackServer, capsys, keyed, mode: str) -> None:
    result = run(pytester, server, mode, GOOD, "--staging-expect-version", "1.4.2")
    assert result.ret == 0, result.stdout.str()
    report = pytester.path / "staging-report"
    verdict = verdict_of(pytester)
    assert verdict["verdict"] == "GO" and len(verdict["signature"]) == 64
    assert verdict["run"]["workers"] == (2 if mode == "xdist" else 0)

    code, lines = verify(capsys, str(report))
    assert code == 0 and len(lines) == 1, lines
    assert lines[0].startswith(f"GO: {report / 'verdict.json'} verified (HMAC signature ok "
                               "(STAGING_VERDICT_KEY);")
    assert verify(capsys, str(report), "--expect-version", "1.4.2", "--max-age", "1h")[0] == 0
    code, lines = verify(capsys, str(report), "--expect-version", "1.4.3")
    assert code == 3 and lines == ["pytest-staging verify: version: expected 1.4.3, the run "
                                   "observed 1.4.2 at its start"]

    # the key never shows: not in the terminal, not in any report file
    assert KEY not in result.stdout.str() + result.stderr.str()
    for file in report.iterdir():
        assert KEY not in file.read_text(encoding="utf-8"), file

    # verdict.html sits beside verdict.json and shows the banner
    page = (report / "verdict.html").read_text(encoding="utf-8")
    assert 'class="banner go"' in page and "HMAC-SHA256 signed" in page

    # every one-byte edit of "reasons" or "verdict" is refused
    raw = (report / "verdict.json").read_bytes()
    tampered = pytester.path / "tampered.json"
    for region in (b'"reasons": []', b'"verdict": "GO"'):
        at = raw.index(region)
        for i in range(at, at + len(region)):
            edited = bytearray(raw)
            edited[i] = ord("x") if raw[i] != ord("x") else ord("y")
            tampered.write_bytes(bytes(edited))
            code, lines = verify(capsys, str(tampered))
            assert code == 3 and len(lines) == 1, (i, lines)
    # an edit that keeps the file valid is caught by the signature
    tampered.write_bytes(raw.replace(b'"exit_status": 0', b'"exit_status": 1'))
    code, lines = verify(capsys, str(tampered))
    assert code == 3 and lines[0].startswith("pytest-staging verify: signature: ")

    # truncated: one line, no traceback
    tampered.write_bytes(raw[: len(raw) // 2])
    code, lines = verify(capsys, str(tampered))
    assert code == 3 and len(lines) == 1 and "malformed or truncated" in lines[0]

    # old: finished is recorded to the second, so wait past 1s of age
    time.sleep(2.1)
    code, lines = verify(capsys, str(report), "--max-age", "1s")
    assert code == 3 and lines[0].startswith("pytest-staging verify: age: finished ")


def test_nogo_run_fails_verify(pytester: pytest.Pytester, server: LoopbackServer, capsys,
                               keyed, mode: str) -> None:
    result = run(pytester, server, mode, BAD)
    assert result.ret == 1 and verdict_of(pytester)["judgement"] == "failed"
    report = pytester.path / "staging-report"
    code, lines = verify(capsys, str(report))
    assert code == 1
    assert lines[0].startswith("pytest-staging verify: verdict: NO-GO (failed): integration: "
                               "test_suite.py::test_checkout failed")
    page = (report / "verdict.html").read_text(encoding="utf-8")
    assert 'class="banner nogo"' in page and "test_suite.py::test_checkout" in page
    assert "/api/checkout" in page  # the HTTP evidence of the failure


def test_unsigned_run_is_refused_once_a_key_is_set(
        pytester: pytest.Pytester, server: LoopbackServer, capsys, monkeypatch,
        mode: str) -> None:
    monkeypatch.delenv("STAGING_VERDICT_KEY", raising=False)
    assert run(pytester, server, mode, GOOD).ret == 0
    report = pytester.path / "staging-report"
    assert "signature" not in verdict_of(pytester)
    # nothing to check it with: refused, unless accepted knowingly
    code, lines = verify(capsys, str(report))
    assert code == 3 and lines[0].startswith("pytest-staging verify: authentication: no "
                                             "signature was checked")
    code, lines = verify(capsys, str(report), "--allow-unsigned")
    assert code == 0 and "NOT AUTHENTICATED" in lines[0]
    monkeypatch.setenv("STAGING_VERDICT_KEY", KEY)
    code, lines = verify(capsys, str(report), "--allow-unsigned")
    assert code == 3 and "not signed" in lines[0]


def test_key_env_option(pytester: pytest.Pytester, server: LoopbackServer, capsys,
                        monkeypatch, mode: str) -> None:
    monkeypatch.delenv("STAGING_VERDICT_KEY", raising=False)
    monkeypatch.setenv("RELEASE_SIGNING_KEY", KEY)
    result = run(pytester, server, mode, GOOD, "--staging-key-env", "RELEASE_SIGNING_KEY")
    assert result.ret == 0
    report = str(pytester.path / "staging-report")
    assert verify(capsys, report, "--key-env", "RELEASE_SIGNING_KEY")[0] == 0
    monkeypatch.setenv("STAGING_VERDICT_KEY", "a-different-key-entirely")
    code, lines = verify(capsys, report)
    assert code == 3 and "signature" in lines[0]


def test_key_env_naming_an_unset_variable_is_a_usage_error(
        pytester: pytest.Pytester, server: LoopbackServer, monkeypatch, mode: str) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    result = run(pytester, server, mode, GOOD, "--staging-key-env", "NO_SUCH_KEY_VAR")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--staging-key-env NO_SUCH_KEY_VAR: the variable is not set*"])
    verdict = verdict_of(pytester)
    assert verdict["verdict"] == "NO-GO" and "usage error" in verdict["reasons"][0]


@pytest.mark.parametrize(("flaky_policy", "expected"), [("warn", "GO"), ("fail", "NO-GO")])
def test_flaky_test_under_policy(pytester: pytest.Pytester, server: LoopbackServer, capsys,
                                 keyed, mode: str, flaky_policy: str, expected: str) -> None:
    pytester.makefile(".toml", policy=f'[flaky]\nretries = 1\npolicy = "{flaky_policy}"\n')
    result = run(pytester, server, mode, FLAKY, "--staging-policy", "policy.toml")
    assert outcomes(result) == {"passed": 3, "rerun": 1}
    verdict = verdict_of(pytester)
    assert verdict["verdict"] == expected
    # A pass only on retry is both a failure and a pass: under "fail" it blocks, but it is not
    # evidence either way (inconclusive, exit 3), for the run and for verify alike.
    assert verdict["judgement"] == ("passed" if expected == "GO" else "inconclusive")
    assert result.ret == (0 if expected == "GO" else 3)
    flaky = [t["nodeid"] for t in verdict["tests"] if t["flaky"]]
    assert flaky == ["test_suite.py::test_sometimes"]
    assert verdict["gates"]["integration"]["counts"]["flaky"] == 1
    line = "integration: flaky (passed only on retry): test_suite.py::test_sometimes"
    assert line in (verdict["warnings"] if expected == "GO" else verdict["reasons"])
    assert verify(capsys, str(pytester.path / "staging-report"))[0] == result.ret
    page = (pytester.path / "staging-report" / "verdict.html").read_text(encoding="utf-8")
    assert 'id="flaky"' in page and "test_suite.py::test_sometimes" in page


def test_retries_option_overrides_policy(pytester: pytest.Pytester, server: LoopbackServer,
                                         unkeyed, mode: str) -> None:
    result = run(pytester, server, mode, FLAKY, "--staging-retries", "1")
    assert outcomes(result) == {"passed": 3, "rerun": 1}
    assert result.ret == 0
    without = run(pytester, server, mode, FLAKY.replace("n >= 1", "n >= 5"))
    without.assert_outcomes(passed=2, failed=1)
    assert verdict_of(pytester)["verdict"] == "NO-GO"


def test_retries_need_rerunfailures(pytester: pytest.Pytester, server: LoopbackServer,
                                    unkeyed, mode: str) -> None:
    result = run(pytester, server, mode, GOOD, "--staging-retries", "1", "-p",
                 "no:rerunfailures")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*flaky.retries = 1 needs pytest-rerunfailures*"])


def test_junit_properties_on_every_case(pytester: pytest.Pytester, server: LoopbackServer,
                                        keyed, mode: str) -> None:
    result = run(pytester, server, mode, MIXED, "--staging-retries", "1",
                 "--junitxml", "junit.xml")
    assert result.ret == 0, result.stdout.str()
    verdict = verdict_of(pytester)
    root = ET.parse(pytester.path / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    names = [c.get("name") for c in cases]
    assert len(cases) == len(verdict["tests"]) == 7, names
    assert len(set(names)) == len(names)  # the rerun attempt is folded into one case
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")}
             for c in cases}
    for name, p in props.items():
        assert p["staging_gate"] == "integration", name
        assert p["staging_blocking"] == ("false" if name == "test_advisory" else "true"), name
    assert props["test_sometimes"]["staging_flaky"] == "true"
    assert props["test_sometimes"]["staging_reruns"] == "1"
    # one staging_reruns, whether pytest wrote a case per attempt (>= 8, folded) or one (< 8)
    assert [p.get("name") for c in cases for p in c.iter("property")].count(
        "staging_reruns") == 1
    suite = root.find("testsuite")
    assert suite is not None
    suite_props = [(p.get("name"), p.get("value"))
                   for p in suite.findall("properties/property")]
    assert ("staging_verdict", "GO") in suite_props
    assert ("staging_run_id", verdict["run"]["id"]) in suite_props
    assert ("staging_signature", verdict["signature"]) in suite_props
    assert ("staging_gate_integration", "passed") in suite_props
    assert not list(pytester.path.glob(".junit.xml.*"))  # the atomic write left no temp file
