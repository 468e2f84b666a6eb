"""The security gate in whole pytest runs (pytester), serial and under xdist."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import trustme
from security_servers import python_http_server, secure_app, serve

from pytest_staging.schema import validation_errors

pytest_plugins = ["pytester"]

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json")
                          .read_text())
THIRD_PARTY_FAILS = {"csp-missing", "clickjacking-unprotected", "directory-listing",
                     "sensitive-path-exposed"}
THIRD_PARTY_WARNS = {"xcto-missing", "referrer-policy-missing", "coop-missing", "corp-missing",
                     "version-banner"}
MODES = [pytest.param(["-p", "no:xdist"], id="serial"), pytest.param(["-n", "2"], id="xdist")]

BAD_CODE = '''\
import subprocess


def run(cmd):
    return subprocess.run(cmd, shell=True)
'''


@pytest.fixture
def third_party(tmp_path: Path) -> Iterator[str]:
    """Python's http.server (not written here) serving a site with a leaked .git/config."""
    root = tmp_path / "site"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n\tbare = false\n")
    (root / "index.txt").write_text("hello\n")
    with python_http_server(root) as url:
        yield url


@pytest.fixture
def demo() -> Iterator[str]:
    with serve(secure_app) as url:
        yield url


def run(pytester: pytest.Pytester, url: str, *args: str) -> tuple[Any, dict[str, Any]]:
    report = pytester.path / "report"
    if "--staging-gate" not in args:
        args = ("--staging-gate", "security", *args)
    result = pytester.runpytest("--staging-url", url, "--staging-report-dir", str(report),
                                "-p", "no:cacheprovider", *args)
    verdict = json.loads((report / "verdict.json").read_text())
    assert validation_errors(verdict) == []
    return result, verdict


def findings(verdict: dict[str, Any]) -> list[dict[str, Any]]:
    return verdict["gates"]["security"]["findings"]


def levels(verdict: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in findings(verdict):
        out.setdefault(item["level"], set()).add(item["rule"])
    return out


def security_outcomes(verdict: dict[str, Any]) -> dict[str, str]:
    return {t["nodeid"]: t["outcome"] for t in verdict["tests"] if t["gate"] == "security"}


def policy(pytester: pytest.Pytester, text: str) -> str:
    path = pytester.path / "policy.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("mode", MODES)
def test_third_party_app_fails_with_expected_rules_and_low_grade(
        pytester: pytest.Pytester, third_party: str, mode: list[str]) -> None:
    result, verdict = run(pytester, third_party, *mode)
    assert result.ret == 1 and verdict["verdict"] == "NO-GO"
    found = levels(verdict)
    assert found["fail"] == THIRD_PARTY_FAILS
    assert found["warn"] == THIRD_PARTY_WARNS
    assert security_outcomes(verdict) == {
        "staging-security::headers": "failed", "staging-security::cookies": "passed",
        "staging-security::transport": "skipped", "staging-security::exposure": "failed",
        "staging-security::cors": "passed"}
    gate = verdict["gates"]["security"]
    assert gate["status"] == "failed"
    assert gate["grade"]["grade"] == "F" and gate["grade"]["score"] == 0
    assert gate["grade"]["counts"] == {"fail": 4, "warn": 5, "info": 0, "ignore": 0}
    # The rule id once (it said "csp-missing: [fail] csp-missing: ..."), then what is wrong.
    [csp] = [r for r in verdict["reasons"] if r.startswith("security: headers: csp-missing: ")]
    assert csp.count("csp-missing") == 1 and "[fail]" not in csp, csp
    assert csp.startswith("security: headers: csp-missing: Content-Security-Policy header "
                          "missing ("), csp
    assert any("xcto-missing" in w for w in verdict["warnings"])
    sarif = json.loads((pytester.path / "report" / "findings.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == \
        THIRD_PARTY_FAILS | THIRD_PARTY_WARNS
    result.stdout.fnmatch_lines(["*security grade F (0/100); findings: 4 fail, 5 warn*",
                                 "NO-GO*"])
    markdown = (pytester.path / "report" / "verdict.md").read_text()
    assert "Security grade F (0/100)" in markdown
    assert "| fail | `sensitive-path-exposed` | high | http://127.0.0.1:" in markdown
    html = (pytester.path / "report" / "verdict.html").read_text()
    assert '<span class="grade">F</span>' in html and "sensitive-path-exposed" in html


def test_rules_set_to_warn_turn_the_verdict_to_go_with_warnings(
        pytester: pytest.Pytester, third_party: str) -> None:
    rules = "\n".join(f'{rule} = "warn"' for rule in sorted(THIRD_PARTY_FAILS))
    path = policy(pytester, f"[security.rules]\n{rules}\n")
    result, verdict = run(pytester, third_party, "--staging-policy", path, "-p", "no:xdist")
    assert verdict["verdict"] == "GO" and result.ret == 0, verdict["reasons"]
    assert levels(verdict) == {"warn": THIRD_PARTY_FAILS | THIRD_PARTY_WARNS}
    assert len([w for w in verdict["warnings"] if w.startswith("security: [warn]")]) == 9
    assert verdict["gates"]["security"]["grade"]["grade"] == "F"
    assert (pytester.path / "report" / "findings.sarif").is_file()


def test_min_grade_below_the_minimum_is_no_go(pytester: pytest.Pytester,
                                              third_party: str) -> None:
    rules = "\n".join(f'{rule} = "warn"' for rule in sorted(THIRD_PARTY_FAILS))
    path = policy(pytester, f'[security]\nmin_grade = "C"\n[security.rules]\n{rules}\n')
    result, verdict = run(pytester, third_party, "--staging-policy", path, "-p", "no:xdist")
    assert result.ret == 1
    assert verdict["reasons"] == ["security: grade: grade F (0/100), minimum C: below the minimum"]


def test_expired_accepted_risk_fails_the_gate_again(pytester: pytest.Pytester,
                                                    third_party: str) -> None:
    rules = "\n".join(f'{rule} = "warn"' for rule in sorted(THIRD_PARTY_FAILS - {"csp-missing"}))
    yesterday = dt.date.today() - dt.timedelta(days=1)
    path = policy(pytester, f"[security.rules]\n{rules}\ncsp-missing = {{ level = \"warn\", "
                            f"owner = \"alice\", expires = {yesterday.isoformat()} }}\n")
    result, verdict = run(pytester, third_party, "--staging-policy", path, "-p", "no:xdist")
    assert result.ret == 1 and levels(verdict)["fail"] == {"csp-missing"}
    csp = next(f for f in findings(verdict) if f["rule"] == "csp-missing")
    assert csp["accepted_risk"]["expired"] is True
    assert f"accepted risk expired on {yesterday.isoformat()} (owner alice)" in csp["evidence"]
    # while the entry is valid, the same policy is a GO
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    policy(pytester, (pytester.path / "policy.toml").read_text().replace(
        yesterday.isoformat(), tomorrow.isoformat()))
    result, verdict = run(pytester, third_party, "--staging-policy", path, "-p", "no:xdist")
    assert verdict["verdict"] == "GO", verdict["reasons"]


def test_accepted_risks_in_the_terminal_show_owner_and_expiry(pytester: pytest.Pytester,
                                                              third_party: str) -> None:
    """Issue 24.8: an accepted risk is a decision with an owner and an expiry, shown as one in
    the terminal (as verdict.md and verdict.html show it), not as an ordinary warning."""
    rules = "\n".join(f'{rule} = "warn"' for rule in sorted(
        THIRD_PARTY_FAILS - {"csp-missing", "directory-listing"}))
    soon = dt.date.today() + dt.timedelta(days=30)
    yesterday = dt.date.today() - dt.timedelta(days=1)
    path = policy(pytester, f"[security.rules]\n{rules}\n"
                            f"csp-missing = {{ level = \"warn\", owner = \"alice\", expires = "
                            f"{soon.isoformat()}, reason = \"SEC-214: CSP moves to the CDN\" }}\n"
                            f"directory-listing = {{ level = \"info\", owner = \"bob\" }}\n"
                            f"version-banner = {{ level = \"warn\", owner = \"carol\", "
                            f"expires = {yesterday.isoformat()} }}\n")
    result, verdict = run(pytester, third_party, "--staging-policy", path, "-p", "no:xdist")
    lines = result.stdout.lines
    [csp] = [ln for ln in lines if "csp-missing" in ln]
    assert csp.startswith(f"  ~ accepted risk (owner alice, expires {soon.isoformat()} (in 30 "
                          "days), SEC-214: CSP moves to the CDN): security: [warn] csp-missing: "
                          ), csp
    [listing] = [ln for ln in lines if "directory-listing" in ln]
    assert listing.startswith("  ~ accepted risk (owner bob, expires never): directory-listing "
                              "at http://127.0.0.1:"), listing
    assert listing.endswith(": accepted at level info"), listing
    # Expired: the finding blocks again, and the terminal says whose acceptance ran out.
    assert verdict["verdict"] == "NO-GO"
    assert f"  ~ accepted risk EXPIRED on {yesterday.isoformat()}: version-banner at " \
           f"http://127.0.0.1:" in result.stdout.str()
    # An ordinary warning stays one.
    assert any(ln.startswith("  ! security: [warn] xcto-missing: ") for ln in lines)
    assert not any(ln.startswith("  ! ") and "csp-missing" in ln for ln in lines)


@pytest.mark.parametrize("mode", MODES)
def test_demo_app_with_correct_headers_is_clean_and_top_grade(
        pytester: pytest.Pytester, demo: str, mode: list[str]) -> None:
    path = policy(pytester, '[security]\nmin_grade = "A+"\n')
    result, verdict = run(pytester, demo, "--staging-policy", path, *mode)
    assert result.ret == 0 and verdict["verdict"] == "GO", verdict["reasons"]
    assert findings(verdict) == []
    assert verdict["gates"]["security"]["grade"]["grade"] == "A+"
    assert not (pytester.path / "report" / "findings.sarif").exists()
    assert set(security_outcomes(verdict).values()) == {"passed", "skipped"}


@pytest.mark.parametrize("mode", MODES)
def test_sample_shop_is_clean_and_a_plus_until_a_header_is_dropped(
        pytester: pytest.Pytester, mode: list[str]) -> None:
    from sample_suite.app import start_app

    path = policy(pytester, '[security]\nmin_grade = "A"\n')
    app = start_app()
    try:
        result, verdict = run(pytester, app.url, "--staging-policy", path, *mode)
    finally:
        app.stop()
    assert result.ret == 0 and findings(verdict) == [], verdict["reasons"]
    assert verdict["gates"]["security"]["grade"]["grade"] == "A+"

    app = start_app(defects=["missing-header"])
    try:
        result, verdict = run(pytester, app.url, "--staging-policy", path, *mode)
    finally:
        app.stop()
    assert result.ret == 1 and levels(verdict) == {"fail": {"csp-missing"}}
    assert verdict["gates"]["security"]["grade"]["grade"] == "B"
    assert "security: grade: grade B (75/100), minimum A: below the minimum" in \
        verdict["reasons"]


def test_builtin_list_and_gate_selection(pytester: pytest.Pytester, demo: str) -> None:
    path = policy(pytester, '[security]\nbuiltin = ["headers"]\n')
    pytester.makepyfile(test_app="def test_home(staging):\n"
                                 "    assert staging.get('/').status_code == 200\n")
    _, verdict = run(pytester, demo, "--staging-policy", path, "-p", "no:xdist")
    assert list(security_outcomes(verdict)) == ["staging-security::headers"]
    _, verdict = run(pytester, demo, "--staging-gate", "integration", "-p", "no:xdist")
    assert security_outcomes(verdict) == {} and "security" not in verdict["gates"]
    _, verdict = run(pytester, demo, "-k", "cookies", "-p", "no:xdist")
    assert list(security_outcomes(verdict)) == ["staging-security::cookies"]
    listed = pytester.runpytest("--staging-url", demo, "--collect-only", "-q",
                                "-p", "no:cacheprovider")
    listed.stdout.fnmatch_lines(["test_app.py::test_home", "staging-security::headers",
                                 "staging-security::cors"])
    _, verdict = run(pytester, demo, "-p", "no:staging-security", "--staging-gate",
                     "integration", "--staging-gate", "security", "-p", "no:xdist")
    assert security_outcomes(verdict) == {}


@pytest.mark.parametrize("mode", MODES)
def test_bandit_runs_once_and_baseline_by_relative_path(
        pytester: pytest.Pytester, demo: str, mode: list[str]) -> None:
    src = pytester.path / "src"
    src.mkdir()
    (src / "app.py").write_text(BAD_CODE)
    calls = pytester.path / "bandit-calls.txt"
    pytester.makeconftest(f"""
        import os
        from pytest_staging.gates.security import gate

        _run_bandit = gate.run_bandit

        def counting(*args, **kwargs):
            with open({str(calls)!r}, "a") as handle:
                handle.write(f"{{os.getpid()}}\\n")
            return _run_bandit(*args, **kwargs)

        def pytest_sessionstart(session):
            gate.run_bandit = counting

        def pytest_sessionfinish(session):
            gate.run_bandit = _run_bandit
    """)
    result, verdict = run(pytester, demo, "--staging-source", "src", *mode)
    assert result.ret == 1
    assert len(calls.read_text().splitlines()) == 1  # once, whatever the number of workers
    if "-n" in mode:
        assert verdict["run"]["workers"] == 2
    bandit = [f for f in findings(verdict) if f["family"] == "bandit"]
    assert [(f["rule"], f["file"], f["line"], f["cwe"]) for f in bandit] == [
        ("B602", "src/app.py", 5, "CWE-78")]
    ran = [t for t in verdict["tests"] if t["nodeid"] == "staging-security::bandit"]
    assert len(ran) == 1 and ran[0]["outcome"] == "failed"
    assert verdict["gates"]["security"]["metrics"]["security:bandit"]["files"] == 1
    assert verdict["run"]["versions"]["bandit"]
    sarif = json.loads((pytester.path / "report" / "findings.sarif").read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    assert sarif["runs"][1]["tool"]["driver"]["name"] == "bandit"

    # the baseline, as a user makes it: bandit's own CLI, relative path
    pytester.run(sys.executable, "-m", "bandit", "-q", "-r", "src", "-f", "json",
                 "-o", "baseline.json")
    path = policy(pytester, '[security.bandit]\nsource = "src"\nbaseline = "baseline.json"\n')
    result, verdict = run(pytester, demo, "--staging-policy", path, *mode)
    assert result.ret == 0 and verdict["verdict"] == "GO", verdict["reasons"]
    assert verdict["gates"]["security"]["metrics"]["security:bandit"]["baselined"] == 1

    # the scan by absolute path still matches; a new shell=True is found
    (src / "app.py").write_text(BAD_CODE + "\n\ndef again(c):\n    "
                                "return subprocess.call(c, shell=True)\n")
    result, verdict = run(pytester, demo, "--staging-policy", path,
                          "--staging-source", str(src), *mode)
    assert result.ret == 1
    assert [(f["rule"], f["line"]) for f in findings(verdict)] == [("B602", 9)]


def test_bandit_verdict_is_the_same_serial_and_xdist(pytester: pytest.Pytester,
                                                     third_party: str) -> None:
    src = pytester.path / "src"
    src.mkdir()
    (src / "app.py").write_text(BAD_CODE)

    def key(verdict: dict[str, Any]) -> tuple[Any, ...]:
        gate = verdict["gates"]["security"]
        return (verdict["verdict"], sorted(verdict["reasons"]), sorted(verdict["warnings"]),
                gate["status"], gate["grade"], security_outcomes(verdict),
                sorted(json.dumps(f, sort_keys=True) for f in gate["findings"]))

    _, serial = run(pytester, third_party, "--staging-source", "src", "-p", "no:xdist")
    _, xdist = run(pytester, third_party, "--staging-source", "src", "-n", "2")
    assert xdist["run"]["workers"] == 2 and serial["run"]["workers"] == 0
    assert key(serial) == key(xdist)
    assert serial["verdict"] == "NO-GO"


def test_staging_scan_fixture(pytester: pytest.Pytester, demo: str) -> None:
    pytester.makepyfile(test_scan='''
        import pytest

        @pytest.mark.security
        def test_home_is_clean(staging, staging_scan):
            assert staging_scan("/") == []
            assert staging_scan(staging.get("/")) == []

        @pytest.mark.security
        def test_missing_page_has_no_cookie_findings(staging_scan):
            found = staging_scan("/nope", families=["headers"])
            assert found == []

        def test_bad_family(staging_scan):
            with pytest.raises(ValueError, match="unknown check family 'tls'"):
                staging_scan("/", families=["tls"])
    ''')
    result, verdict = run(pytester, demo, "-p", "no:xdist", "--staging-gate", "security",
                          "--staging-gate", "integration")
    assert result.ret == 0, verdict["reasons"]
    result.assert_outcomes(passed=7, skipped=1)


def test_staging_scan_records_findings(pytester: pytest.Pytester, third_party: str) -> None:
    pytester.makepyfile(test_scan='''
        import pytest

        @pytest.mark.security
        def test_scan(staging_scan):
            rules = {f["rule"] for f in staging_scan("index.txt")}
            assert "csp-missing" in rules
    ''')
    path = policy(pytester, "[security]\nbuiltin = []\n")
    result, verdict = run(pytester, third_party, "--staging-policy", path, "-p", "no:xdist")
    assert result.ret == 0, verdict["reasons"]
    scanned = findings(verdict)
    assert scanned and {f["origin"] for f in scanned} == {"staging_scan"}
    assert all(f["url"].endswith("/index.txt") for f in scanned)


def test_bad_security_policy_is_a_usage_error(pytester: pytest.Pytester, demo: str) -> None:
    path = policy(pytester, '[security.rules]\ncsp-mising = "warn"\n')
    result, verdict = run(pytester, demo, "--staging-policy", path)
    assert result.ret == 4 and verdict["verdict"] == "NO-GO"
    assert "security.rules: csp-mising: unknown rule id" in verdict["reasons"][0]


# ---------------------------------------------------------------- HTTPS targets


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def https_server(ca: trustme.CA, not_after: dt.datetime | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", not_after=not_after).configure_cert(context)
    return context


def test_self_signed_https_target(pytester: pytest.Pytester, ca: trustme.CA) -> None:
    ca_file = pytester.path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serve(secure_app, tls=https_server(ca)) as url:
        result, verdict = run(pytester, url, "--staging-insecure", "-p", "no:xdist")
        assert result.ret == 1 and levels(verdict)["fail"] == {"tls-cert-invalid"}
        assert security_outcomes(verdict)["staging-security::transport"] == "failed"
        result, verdict = run(pytester, url, "--staging-ca-bundle", str(ca_file),
                              "-p", "no:xdist")
        assert result.ret == 0 and findings(verdict) == [], verdict["reasons"]
        assert security_outcomes(verdict)["staging-security::transport"] == "passed"


def test_expiring_certificate_is_reported(pytester: pytest.Pytester, ca: trustme.CA) -> None:
    ca_file = pytester.path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=5)
    with serve(secure_app, tls=https_server(ca, not_after=soon)) as url:
        result, verdict = run(pytester, url, "--staging-ca-bundle", str(ca_file),
                              "-p", "no:xdist")
        assert result.ret == 1 and levels(verdict) == {"fail": {"tls-cert-expiring"}}
        path = policy(pytester, "[security]\ncert_expiry_days = 3\n")
        result, verdict = run(pytester, url, "--staging-ca-bundle", str(ca_file),
                              "--staging-policy", path, "-p", "no:xdist")
        assert result.ret == 0 and findings(verdict) == []
