"""The first hour of a new team (issue 15): path options that would move pytest's rootdir,
the missing URL, what is in effect, option values, and ``--staging-fail-on=warn``."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from servers import HARDENED_HEADERS, LoopbackServer

from pytest_staging.option_paths import split_path_options
from pytest_staging.verdict import GateSpec, RunFacts, TargetFacts, TestRecord, decide

ONE_TEST = """
def test_health(staging):
    assert staging.get("/health").status_code == 200
"""


# -- 1. path options in the space-separated form ----------------------------------------------
@pytest.mark.parametrize("args, rootpath, inipath, found", [
    # pytest took /tmp/out for a test path: the rootdir moved up to a common ancestor
    (["--staging-report-dir", "/tmp/out"], "/", None, [("--staging-report-dir", "/tmp/out")]),
    # the same value, with the rootdir where the project's ini file put it: no harm done
    (["--staging-report-dir", "/tmp/out", "tests"], "/proj", "/proj/pytest.ini", []),
    (["--staging-report-dir=/tmp/out"], "/", None, []),  # one argument: never a test path
    (["--staging-policy", "../policy.toml"], "/", None, [("--staging-policy",
                                                          "../policy.toml")]),
    (["--staging-report-dir", "out"], "/proj", None, []),
    # no ini file anywhere: pytest made the report dir the rootdir
    (["--staging-report-dir", "/proj/out"], "/proj/out", None,
     [("--staging-report-dir", "/proj/out")]),
    # A flag followed by a test path: the path is a test path, not the flag's value.
    (["--staging-insecure", "/abs/tests"], "/", None, []),
    (["--staging-url", "http://x/"], "/", None, []),
])
def test_split_path_options(args: list[str], rootpath: str, inipath: str | None,
                            found: list[tuple[str, str]]) -> None:
    given = next((a for a in args if a.endswith("out") and "=" not in a), None)
    option = SimpleNamespace(staging_report_dir=given, staging_policy="../policy.toml",
                             staging_insecure=True, staging_url="http://x/")
    assert split_path_options(args, option, Path("/proj"), Path(rootpath),
                              Path(inipath) if inipath else None) == found
    # Without the rootdir (the docs check): any absolute or '..' value is suspect.
    assert bool(split_path_options(args, option)) == any(
        v.startswith(("/", "..")) for f, v in itertools.pairwise(args)
        if f in ("--staging-report-dir", "--staging-policy"))


def test_absolute_report_dir_as_separate_argument_is_a_usage_error(
        pytester: pytest.Pytester, server: LoopbackServer, tmp_path: Path) -> None:
    pytester.makepyfile(test_one=ONE_TEST)
    report = tmp_path / "elsewhere"
    # pytest ignores a path that does not exist yet: the second run of the day is the one
    # whose rootdir moves (to a common ancestor of the report dir and this folder).
    report.mkdir()
    result = pytester.runpytest_inprocess(
        f"--staging-url={server.url}", "--staging-report-dir", str(report),
        "-p", "no:cacheprovider", "-p", "no:xdist")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*--staging-report-dir {report}: pytest takes a path given "
                                 f"as a separate argument*write --staging-report-dir={report}*"])
    verdict = json.loads((report / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"][0].startswith("usage error: --staging-report-dir")
    assert not server.requests, "no test may run against the target"
    # The same value with '=' is one argument: the run goes ahead and is GO.
    ok = pytester.runpytest_inprocess(
        f"--staging-url={server.url}", f"--staging-report-dir={report}",
        "--staging-gate=integration", "-p", "no:cacheprovider", "-p", "no:xdist")
    assert ok.ret == 0, ok.stdout.str()
    assert f"rootdir: {pytester.path}" in ok.stdout.str()


# -- 4. messages ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_forgotten_url_is_one_usage_line(pytester: pytest.Pytester, mode: list[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGING_URL", raising=False)
    pytester.makepyfile(test_one=ONE_TEST + """
def test_version(staging_url):
    assert staging_url
""")
    result = pytester.runpytest_inprocess(*mode, "-p", "no:cacheprovider")
    assert result.ret == 4, result.stdout.str()
    text = result.stdout.str() + result.stderr.str()
    assert text.count("ERROR: pytest-staging: no staging URL: pass --staging-url or set "
                      "STAGING_URL") == 1
    assert "all 2 selected test(s) need the staging target" in text
    assert not (pytester.path / "staging-report").exists()


def test_forgotten_url_with_unit_tests_alongside_runs_them(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.delenv("STAGING_URL", raising=False)
    pytester.makepyfile(test_one=ONE_TEST + "\ndef test_unit():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_inprocess("-p", "no:xdist", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*no staging URL: pass --staging-url or set STAGING_URL*"])


@pytest.mark.parametrize("value", ["-5", "nan", "soon"])
def test_negative_load_progress_is_rejected(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(test_one="def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess(f"--staging-load-progress={value}",
                                           "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*--staging-load-progress: expected seconds >= 0, got "
                                 f"'{value}'*"])


def test_header_says_started_by_conftest(pytester: pytest.Pytester, server: LoopbackServer,
                                         tmp_path: Path) -> None:
    pytester.makeconftest(f"""
        def pytest_staging_default_url(config):
            return {server.url!r}
    """)
    pytester.makepyfile(test_one=ONE_TEST)
    result = pytester.runpytest_inprocess(f"--staging-report-dir={tmp_path}",
                                           "--staging-gate=integration", "-p", "no:xdist",
                                           "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["staging: http://127.0.0.1:*/ (from started by conftest);*"])
    assert "pytest_staging_default_url" not in result.stdout.str()


# -- 3. what is in effect ---------------------------------------------------------------------
def test_show_settings_names_every_source_and_redacts(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_URL", "https://user:hunter22@staging.example.com/?token=abcd1234")
    monkeypatch.setenv("SHOP_TOKEN", "tok-very-secret")
    monkeypatch.delenv("STAGING_REPORT_DIR", raising=False)
    pytester.makefile(".toml", policy='[target]\nhealth = "/ready"\n\n'
                                      '[gates.performance]\nblocking = false\n')
    pytester.makeini("[pytest]\nstaging_report_dir = out\n")
    result = pytester.runpytest_subprocess(
        "--staging-show-settings", "--staging-policy=policy.toml", "--staging-wait=7",
        "--staging-header", "Authorization: Bearer $SHOP_TOKEN",
        "--staging-header", "X-Api-Key: literal-key-123", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stderr.str()
    text = result.stdout.str()
    rows = {line.split()[0]: line for line in text.splitlines()[2:] if line.strip()}
    assert rows["url"].endswith("env STAGING_URL")
    assert "hunter22" not in text and "abcd1234" not in text and "tok-very-secret" not in text
    assert "literal-key-123" not in text and "Bearer $SHOP_TOKEN" in text
    assert "ini staging_report_dir" in rows["report_dir"] and "out" in rows["report_dir"]
    assert rows["policy"].endswith("command line")
    assert "/ready" in rows["target.health"] and "policy (" in rows["target.health"]
    assert rows["target.wait"].split()[1] == "7.0"
    assert rows["target.wait"].endswith("command line (--staging-wait)")
    assert rows["target.timeout"].endswith("default")
    assert "advisory, min_tests 0" in rows["gates.performance"]
    # Runs nothing, yet like every invocation with a staging URL it leaves no earlier verdict
    # behind: a GO of yesterday must not survive a look at the settings.
    verdict = json.loads((pytester.path / "out" / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO" and verdict["tests"] == []


def test_show_settings_with_a_bad_policy_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", policy='[target]\nwiat = 3\n')
    result = pytester.runpytest_inprocess("--staging-show-settings",
                                           "--staging-policy=policy.toml",
                                           "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stdout.fnmatch_lines(["ERROR: pytest-staging: *policy.toml: target.wiat: unknown key*"])


# -- --staging-fail-on=warn -------------------------------------------------------------------
def _facts(**kw: object) -> RunFacts:
    kw.setdefault("tests", [TestRecord("t::a", "integration"),
                            TestRecord("t::b", "integration", outcome="failed", blocking=False)])
    return RunFacts(complete=True, target=TargetFacts(url="http://t/", ready=True,
                                                      reachable=True),
                    gates=[GateSpec("integration")], **kw)  # type: ignore[arg-type]


def test_fail_on_warn_is_judged_inside_decide() -> None:
    lenient = decide(_facts())
    assert lenient["verdict"] == "GO" and lenient["warnings"]
    strict = decide(_facts(fail_on="warn"))
    assert strict["verdict"] == "NO-GO"
    assert strict["reasons"] == [f"warning (--staging-fail-on=warn): {w}"
                                 for w in lenient["warnings"]]
    assert strict["run"]["fail_on"] == "warn"
    assert decide(_facts(fail_on="warn", tests=[TestRecord("t::a", "integration")]))[
        "verdict"] == "GO", "no warning, nothing to fail on"


def test_fail_on_warn_run(pytester: pytest.Pytester, run_staging, server: LoopbackServer
                          ) -> None:
    pytester.makepyfile(test_one=ONE_TEST + """
import pytest

@pytest.mark.advisory
def test_new_thing(staging):
    assert staging.get("/missing").status_code == 200
""")
    lenient = run_staging("--staging-gate=integration", "-p", "no:xdist", url=server.url)
    assert lenient.ret == 0 and lenient.verdict["verdict"] == "GO"
    strict = run_staging("--staging-gate=integration", "--staging-fail-on=warn", "-n", "2",
                         url=server.url)
    assert strict.ret == 3  # a warning made blocking: no blocking failure, could not judge
    verdict = strict.verdict
    assert verdict["judgement"] == "inconclusive"
    assert verdict["verdict"] == "NO-GO" and verdict["run"]["fail_on"] == "warn"
    assert any(r.startswith("warning (--staging-fail-on=warn): integration: would have "
                            "blocked: test_one.py::test_new_thing") for r in verdict["reasons"])


# -- 4. TLS and version messages --------------------------------------------------------------
def _tls_server(tls_ca, *identities: str, **validity: object) -> LoopbackServer:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert(*identities, **validity).configure_cert(context)
    return LoopbackServer(ssl_context=context).start()


def _not_ready_reason(url: str, ca: str | bool = True) -> str:
    from pytest_staging.target import wait_ready

    readiness = wait_ready(url, "/health", wait=0.2, interval=0.1, verify=ca)
    assert not readiness.ready
    return readiness.reason


def test_https_to_a_plain_http_port_says_no_tls(server: LoopbackServer) -> None:
    url = server.url.replace("http://", "https://")
    assert "the server did not speak TLS (an https:// URL aimed at a plain-HTTP port?" in (
        _not_ready_reason(url))


def test_expired_wrong_host_and_untrusted_certificates_have_their_own_words(
        tls_ca, tmp_path: Path) -> None:
    import datetime as dt

    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    now = dt.datetime.now(dt.timezone.utc)
    expired = _tls_server(tls_ca, "127.0.0.1", not_before=now - dt.timedelta(days=30),
                          not_after=now - dt.timedelta(days=1))
    other_host = _tls_server(tls_ca, "shop.example.test")
    good = _tls_server(tls_ca, "127.0.0.1")
    try:
        assert "TLS certificate has expired" in _not_ready_reason(expired.url, str(bundle))
        assert "TLS certificate is for another host name" in _not_ready_reason(
            other_host.url, str(bundle))
        assert "TLS certificate is not trusted (a private CA? use --staging-ca-bundle" in (
            _not_ready_reason(good.url))
    finally:
        for srv in (expired, other_host, good):
            srv.stop()


def test_version_404_names_the_policy_keys_and_full_url(pytester: pytest.Pytester, run_staging,
                                                        server: LoopbackServer) -> None:
    server.routes["/version"] = lambda req: (404, {}, b"")
    pytester.makepyfile(test_one=ONE_TEST)
    run = run_staging("--staging-gate=integration", "--staging-expect-version=1.0.0",
                      "-p", "no:xdist", url=server.url)
    assert run.ret == 3 and run.verdict["judgement"] == "inconclusive"
    reason = next(r for r in run.verdict["reasons"] if "version" in r)
    assert f"version endpoint {server.url}version answered 404" in reason
    assert "[target] version" in reason and "version_header" in reason
    assert "version_field" in reason


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_insecure_is_one_verdict_warning_and_survives_w_error(
        pytester: pytest.Pytester, run_staging, tls_server: LoopbackServer,
        mode: list[str]) -> None:
    pytester.makepyfile(test_one=ONE_TEST + """
def test_many(staging):
    for _ in range(5):
        assert staging.get("/").ok
""")
    run = run_staging("--staging-gate=integration", "--staging-insecure", "-W", "error",
                      *mode, url=tls_server.url)
    assert run.ret == 0, run.output
    assert "InsecureRequestWarning" not in run.output
    assert "Unverified HTTPS request" not in run.output
    # one verdict warning for it (the other one says the run selected a single gate)
    assert [w for w in run.verdict["warnings"] if not w.startswith("partial run")] == [
        "TLS certificate verification disabled by --staging-insecure"]


def test_skip_reason_names_the_check_not_an_internal_file(pytester: pytest.Pytester,
                                                           server: LoopbackServer,
                                                           tmp_path: Path) -> None:
    pytester.makepyfile(test_one=ONE_TEST)
    result = pytester.runpytest_inprocess(
        f"--staging-url={server.url}", f"--staging-report-dir={tmp_path}", "-rs",
        "--staging-gate=security", "-p", "no:xdist", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] staging-security::transport: target is plain "
                                 "HTTP: no TLS to check"])
    assert "pytest_staging" not in result.stdout.str()


# -- 2. pytest-staging init -------------------------------------------------------------------
def test_init_writes_policy_first_test_and_ci_job_and_the_first_run_is_go(
        pytester: pytest.Pytester, server: LoopbackServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    from pytest_staging.cli import main

    server.always_headers = dict(HARDENED_HEADERS)  # a target the security gate finds clean
    monkeypatch.chdir(pytester.path)
    assert main(["init", "tests/staging"]) == 0
    policy = tomllib.loads((pytester.path / "staging-policy.toml").read_text())
    assert policy["gates"]["integration"]["blocking"] is True
    # no security test of the suite's own: the built-in checks report, advisory, until the
    # team sets the one line (tests/test_init_project.py runs both)
    assert policy["gates"]["security"]["blocking"] is False
    assert policy["gates"]["performance"]["blocking"] is False, "no performance test yet"
    assert "# no performance test in tests/staging yet" in (
        pytester.path / "staging-policy.toml").read_text()
    workflow = (pytester.path / ".github/workflows/staging-gate.yml").read_text()
    # the policy is recorded in pytest.ini: the job's plain command reads it
    assert "python -m pytest tests/staging --staging-report-dir=staging-report" in workflow
    assert "staging_policy = staging-policy.toml" in (pytester.path / "pytest.ini").read_text()
    assert "pip install pytest-staging\n" not in workflow and "PYTEST_STAGING_SOURCE" in workflow
    result = pytester.runpytest_inprocess(
        "tests/staging", f"--staging-url={server.url}",
        f"--staging-report-dir={tmp_path}", "-p", "no:cacheprovider", "-p", "no:xdist")
    assert result.ret == 0, result.stdout.str()
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "GO"
    assert verdict["gates"]["performance"]["blocking"] is False
    # A second init never overwrites what the user may have edited.
    assert main(["init", "tests/staging"]) == 1


def test_init_declares_the_gates_the_suite_has(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    from pytest_staging.cli import main

    suite = tmp_path / "acceptance"
    suite.mkdir()
    (suite / "test_shop.py").write_text(
        "import pytest\n\n"
        "def test_health(staging):\n    pass\n\n"
        "def test_load(staging_load):\n    pass\n\n"
        "@pytest.mark.security\ndef test_headers(staging):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    assert main(["init", "acceptance", "--ci", "none"]) == 0
    policy = tomllib.loads((tmp_path / "staging-policy.toml").read_text())
    assert {g: v["blocking"] for g, v in policy["gates"].items()} == {
        "integration": True, "security": True, "performance": True}
    assert not (suite / "test_staging_first.py").exists(), "the suite has tests already"
    assert not (tmp_path / ".github").exists()


# -- 6. security gate: accepted risks ---------------------------------------------------------
def test_min_grade_is_judged_with_accepted_risks_excluded_and_reports_show_them(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    import datetime as dt

    from security_servers import python_http_server

    root = tmp_path / "site"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    (root / "index.txt").write_text("hello\n")
    until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    accepted = ["csp-missing", "clickjacking-unprotected", "directory-listing",
                "sensitive-path-exposed", "xcto-missing", "referrer-policy-missing",
                "coop-missing", "corp-missing", "version-banner"]

    def policy(plain: str = "") -> str:
        lines = ['[security]', 'min_grade = "A"', '[security.rules]']
        for rule in accepted:
            if rule == plain:  # a level without owner/expiry/reason is no accepted risk
                lines.append(f'{rule} = "warn"')
            else:
                lines.append(f'{rule} = {{ level = "warn", owner = "team-shop", '
                             f'expires = {until}, reason = "SEC-{len(rule)}" }}')
        return "\n".join(lines) + "\n"

    def run(text: str) -> tuple[int, dict, Path]:
        (pytester.path / "policy.toml").write_text(text)
        report = pytester.path / "report"
        result = pytester.runpytest_inprocess(
            f"--staging-url={url}", f"--staging-report-dir={report}", "--staging-gate=security",
            "--staging-policy=policy.toml", "-p", "no:xdist", "-p", "no:cacheprovider")
        return result.ret, json.loads((report / "verdict.json").read_text()), report

    pytester.makepyfile(test_one="def test_x():\n    pass\n")
    with python_http_server(root) as url:
        ret, verdict, report = run(policy())
        assert ret == 0, verdict["reasons"]
        grade = verdict["gates"]["security"]["grade"]
        assert grade["grade"] == "F", "counting every finding"
        assert grade["excluding_accepted"]["grade"] == "A+"
        assert grade["excluding_accepted"]["accepted"] == len(accepted)
        markdown = (report / "verdict.md").read_text()
        assert "with 9 accepted risk(s) excluded, F (0/100) counting them" in markdown
        assert "### Accepted risks" in markdown
        assert f"| `csp-missing` | team-shop | {until} | SEC-11 |" in markdown
        html = (report / "verdict.html").read_text()
        assert 'id="accepted-risks"' in html and "team-shop" in html and "SEC-11" in html

        ret, verdict, _ = run(policy(plain="csp-missing"))
        assert ret == 1
        assert any(r.startswith("security: grade: grade ") and "below the minimum" in r
                   for r in verdict["reasons"]), verdict["reasons"]


def test_bandit_logs_nothing_into_the_test_process(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """bandit's optional SARIF formatter (sarif_om) is not installed: its plugin loader's
    ERROR line must not reach the run's logs, the captured log of a failing item included."""
    import logging

    from pytest_staging.gates.security.bandit_scan import run_bandit

    (tmp_path / "app.py").write_text("import subprocess\n\n\ndef run(cmd):\n"
                                     "    return subprocess.run(cmd, shell=True)\n")
    with caplog.at_level(logging.DEBUG):
        result = run_bandit(tmp_path, root=tmp_path)
    assert [f["rule"] for f in result.findings] == ["B602"]
    assert result.findings[0]["file"] == "app.py" and result.files == 1
    assert not [r for r in caplog.records if r.name.startswith(("stevedore", "bandit"))]
    assert "sarif" not in caplog.text


# -- 7. pytest-staging diff: significant first ------------------------------------------------
def _perf_verdict(metrics: dict) -> dict:
    return {"schema": "pytest-staging/verdict@1", "verdict": "GO", "reasons": [], "tests": [],
            "target": {}, "gates": {"performance": {"status": "passed", "metrics": metrics}}}


def test_diff_shows_significant_changes_first_not_every_metric(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_staging.cli import main

    old = {f"load.endpoint_{i}.p95": 100.0 + i for i in range(200)}
    new = {k: v * 1.02 for k, v in old.items()}  # 2% noise everywhere
    new["load.endpoint_7.p95"] = old["load.endpoint_7.p95"] * 3  # +200%: a regression
    new["load.endpoint_9.p95"] = old["load.endpoint_9.p95"] * 0.5  # -50%
    (tmp_path / "old.json").write_text(json.dumps(_perf_verdict(old)))
    (tmp_path / "new.json").write_text(json.dumps(_perf_verdict(new)))
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json")]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["performance.load.endpoint_7.p95",
                                               "performance.load.endpoint_9.p95"]
    assert "### Significant metric changes (2)" in out
    assert "198 smaller metric change(s) (under 10%) not listed" in out
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"),
                 "--all-metrics"]) == 0
    assert len([ln for ln in capsys.readouterr().out.splitlines()
                if ln.startswith("| `")]) == 200
    assert main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"),
                 "--significant", "1"]) == 0
    assert "### Significant metric changes (200)" in capsys.readouterr().out


# -- ecosystem: GitHub Actions annotations, pytest-html ---------------------------------------
BROKEN = ONE_TEST + """

def test_orders(staging):
    response = staging.get("/api/orders")
    assert response.status_code == 200, "orders are down"
"""


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_github_actions_annotations(pytester: pytest.Pytester, run_staging,
                                    server: LoopbackServer, mode: list[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path))
    pytester.makepyfile(test_one=BROKEN)
    run = run_staging("--staging-gate=integration", *mode, url=server.url)
    assert run.ret == 1
    errors = [ln for ln in run.stdout.splitlines() if ln.startswith("::error")]
    assert errors[0] == ("::error file=test_one.py,line=7,title=staging NO-GO%3A integration "
                         "gate::test_one.py::test_orders failed: AssertionError: orders are "
                         "down")
    assert len(errors) == 2
    assert errors[1].startswith("::error title=staging verdict NO-GO (failed)%3A 1 reason(s)::"
                                "failed: evidence that the release is bad: a blocking test or "
                                "check failed%0Aintegration: test_one.py::test_orders failed")
    monkeypatch.delenv("GITHUB_ACTIONS")
    quiet = run_staging("--staging-gate=integration", *mode, url=server.url)
    assert quiet.ret == 1 and "::error" not in quiet.stdout


@pytest.mark.child_plugins("html")
def test_pytest_html_report_shows_the_verdict(pytester: pytest.Pytester, run_staging,
                                              server: LoopbackServer, tmp_path: Path) -> None:
    pytest.importorskip("pytest_html")
    import re

    server.routes["/api/orders"] = lambda req: (500, {"Content-Type": "text/plain"},
                                                b"database <down>")
    pytester.makepyfile(test_one=BROKEN)
    report = tmp_path / "report.html"
    run = run_staging("--staging-gate=integration", f"--html={report}",
                      "--self-contained-html", "-n", "2", url=server.url)
    assert run.ret == 1, run.output
    page = report.read_text()
    banner = re.search(r'<div id="staging-verdict".*?</ul></div>', page, re.S)
    assert banner, "the verdict banner is at the top of pytest-html's report"
    assert "staging verdict: NO-GO" in banner.group(0)
    assert "integration: test_one.py::test_orders failed" in banner.group(0)
    # The failing test's HTTP evidence is an extra (in the report's JSON data, escaped).
    assert "staging: last HTTP exchanges" in page
    assert "database &amp;lt;down&amp;gt;" in page or "database \\u003cdown" in page or (
        "database &lt;down&gt;" in page)
    for key in ("Staging target", "Staging verdict"):
        assert key in page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium to open the report in (apt-get install chromium)")
    # What a reader sees: the page as headless Chromium renders it (pytest-html builds its
    # table with JavaScript), and a screenshot that is not blank.
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert "staging verdict: NO-GO" in dom.stdout
    assert "integration: test_one.py::test_orders failed" in dom.stdout
    assert "test_one.py::test_orders" in dom.stdout.split('id="staging-verdict"')[1]
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--window-size=1280,900", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000


def _environment(page: str) -> dict[str, object]:
    """pytest-html 4's Environment table: the "environment" of the report's JSON blob."""
    import html as html_lib
    import re

    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob, "no pytest-html data blob"
    return json.loads(html_lib.unescape(blob.group(1)))["environment"]


@pytest.mark.child_plugins("html")
def test_pytest_html_environment_base_url_is_the_staging_url(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, tmp_path: Path) -> None:
    """Issue 24.9: pytest-base-url's "Base URL" row was empty (the URL came from
    --staging-url), or the raw --base-url with its password: it is the run's staging URL,
    credentials and secret query values redacted."""
    pytest.importorskip("pytest_html")
    pytester.makepyfile(test_one="def test_one(staging):\n    staging.get('/health')\n")
    report = tmp_path / "report.html"
    secret_url = server.url.replace("http://", "http://deploy:pa55w0rd-x@") + \
        "?access_token=tok-4f4f4f&tenant=blue"
    run = run_staging("--staging-gate=integration", f"--html={report}", "--self-contained-html",
                      "-p", "no:xdist", url=secret_url)
    assert run.ret == 0, run.output
    page = report.read_text()
    environment = _environment(page)
    assert environment["Base URL"] == f"{server.url}?access_token=***&tenant=blue", environment
    assert "pa55w0rd-x" not in page and "tok-4f4f4f" not in page
    # The target named by pytest-base-url's own option: the same row, redacted the same way.
    run = run_staging("--staging-gate=integration", f"--html={report}", "--self-contained-html",
                      "-p", "no:xdist", f"--base-url={secret_url}")
    assert run.ret == 0, run.output
    page = report.read_text()
    assert _environment(page)["Base URL"] == f"{server.url}?access_token=***&tenant=blue"
    assert "pa55w0rd-x" not in page and "tok-4f4f4f" not in page


# -- 1. a performance baseline that matches nothing -------------------------------------------
@pytest.mark.parametrize("policy, go", [("", False), ('baseline_missing = "warn"\n', True)],
                         ids=["default-fail", "warn"])
def test_baseline_that_matches_no_load_fails_by_default(pytester: pytest.Pytester,
                                                        policy: str, go: bool) -> None:
    from perf_server import base_url, loopback_server

    # Made under another rootdir: the load names do not match this run's.
    baseline = {"schema": "pytest-staging/verdict@1", "gates": {"performance": {"metrics": {
        "acceptance/test_base.py::test_load": {"requests": 10, "rps": 5.0, "p95": 100.0,
                                               "fail_ratio": 0.0, "endpoints": {}}}}}}
    (pytester.path / "old.json").write_text(json.dumps(baseline))
    pytester.makefile(".toml", policy=f'[performance]\nmax_regression = ["p95 +50%"]\n{policy}')
    pytester.makepyfile(test_base="""
        def test_load(staging_load):
            staging_load(users=1, spawn_rate=1, run_time=1, profile=["/"])
    """)
    report = pytester.path / "report"
    with loopback_server() as srv:
        result = pytester.runpytest_subprocess(
            f"--staging-url={base_url(srv)}", f"--staging-report-dir={report}",
            "--staging-gate=performance", "--staging-policy=policy.toml",
            "--staging-perf-baseline=old.json", "-p", "no:xdist", "-p", "no:cacheprovider",
            timeout=180)
    verdict = json.loads((report / "verdict.json").read_text())
    text = ("load test_base.py::test_load has no baseline in old.json (loads there: "
            "acceptance/test_base.py::test_load)")
    if go:
        assert result.ret == 0, verdict["reasons"]
        assert any(text in w for w in verdict["warnings"])
    else:
        # no baseline to compare with: blocks by default, and could not judge (exit 3)
        assert result.ret == 3 and verdict["judgement"] == "inconclusive"
        assert any(r.startswith("performance: ") and text in r
                   for r in verdict["reasons"]), verdict["reasons"]
