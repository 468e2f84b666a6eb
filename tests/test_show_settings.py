"""``--staging-show-settings`` shows what the run uses and fails where the run fails (issue 24
item 5). For a set of configurations, the rows it prints equal the rows of the Settings object
the real run used (captured in that run), and agree with what the run recorded in
verdict.json; every configuration the run rejects is rejected by show-settings with the same
line. The old show-settings read the policy file itself: it left out the contract and parity
gates, printed report_dir twice, showed [] for the built-in sensitive paths and
``datetime.date(...)`` for expiry dates, and exited 0 on a header the run rejects."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from servers import LoopbackServer

from pytest_staging.show_settings import Row, render

SHOW = "--staging-show-settings"
ONE_TEST = """
import pytest

def test_health(staging):
    assert staging.get("/health").status_code == 200

@pytest.mark.smoke
def test_smoke(staging):
    assert staging.get("/").status_code == 200
"""
#: Dumps the rows of the run's own Settings (and attestation settings) at the end of the run.
CAPTURE = """
import json
from pathlib import Path

import pytest

from pytest_staging import attestation_glue
from pytest_staging.settings import settings_of
from pytest_staging.show_settings import rows_of


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    config = session.config
    settings = settings_of(config)
    if settings is None or hasattr(config, "workerinput"):
        return
    attest = config.stash.get(attestation_glue.STASH_KEY, None)
    rows = [[r.name, r.value, r.source] for r in rows_of(config, settings, attest)]
    (Path(str(config.rootpath)) / "run-rows.json").write_text(json.dumps(rows))
"""
UNTIL = (dt.date.today() + dt.timedelta(days=30)).isoformat()
EXPIRED = (dt.date.today() - dt.timedelta(days=3)).isoformat()
POLICY = f"""
[gates.smoke]
blocking = false

[gates.performance]
min_tests = 0

[security.rules]
csp-missing = {{ level = "warn", owner = "team-web", expires = {UNTIL}, reason = "SEC-1" }}
xcto-missing = {{ level = "warn", owner = "team-web", expires = {EXPIRED}, reason = "SEC-2" }}

[flaky]
quarantine = [
    {{ test = "test_one.py::test_smoke", owner = "team-qa", expires = {UNTIL}, reason = "QA-7" }},
]

[history]
path = "state/runs.db"
"""


def show(pytester: pytest.Pytester, *args: str) -> tuple[int, str]:
    """show-settings with what the run_staging fixture adds to a run."""
    result = pytester.runpytest_inprocess(
        SHOW, "-p", "no:cacheprovider", "-p", "no:staging-security",
        f"--staging-report-dir={pytester.path / 'staging-report'}", *args)
    return result.ret, "\n".join(result.outlines)


def configurations(server: LoopbackServer, production: LoopbackServer,
                   pytester: pytest.Pytester) -> dict[str, list[str]]:
    schema = pytester.path / "openapi.json"
    schema.write_text(json.dumps({
        "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {"/health": {"get": {"responses": {"200": {"description": "ok"}}}}}}))
    return {
        "defaults": [f"--staging-url={server.url}", "--staging-gate=integration"],
        "policy-and-overrides": [f"--staging-url={server.url}", "--staging-policy=policy.toml",
                                 "--staging-wait=3", "--staging-fail-on=warn",
                                 "--staging-header=Authorization: Bearer $SHOW_TOKEN"],
        "contract-and-parity": [f"--staging-url={server.url}", "--staging-policy=policy.toml",
                                f"--staging-openapi={schema.name}",
                                f"--staging-compare-url={production.url}",
                                "--staging-gate=integration,contract,parity"],
    }


@pytest.mark.parametrize("case", ["defaults", "policy-and-overrides", "contract-and-parity"])
def test_show_settings_shows_what_the_run_used(pytester: pytest.Pytester, run_staging: Any,
                                               server: LoopbackServer, case: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if case == "contract-and-parity":
        pytest.importorskip("schemathesis", reason="the contract gate needs the [contract] extra")
    monkeypatch.setenv("SHOW_TOKEN", "tok-show-secret")
    monkeypatch.delenv("STAGING_HISTORY", raising=False)
    pytester.makepyfile(test_one=ONE_TEST)
    pytester.makeconftest(CAPTURE)
    pytester.makefile(".toml", policy=POLICY)
    pytester.makeini("[pytest]\nmarkers =\n    smoke: smoke\n")
    production = LoopbackServer().start()
    try:
        args = configurations(server, production, pytester)[case]
        ret, text = show(pytester, *args)
        assert ret == 0, text
        run = run_staging(*args, "-p", "no:xdist")
    finally:
        production.stop()
    assert "tok-show-secret" not in text
    ran = [Row(*row) for row in json.loads((pytester.path / "run-rows.json").read_text())]
    # the rows of the Settings the run used are, line for line, what show-settings printed
    table = text.split("(highest precedence: command line > env > ini / policy > default)\n",
                       1)[1]
    assert table.strip() == render(ran).strip()
    shown = {row.name: (row.value, row.source) for row in ran}
    assert [row.name for row in ran].count("report_dir") == 1
    # ... and agree with what the run recorded
    verdict = run.verdict
    assert shown["url"][0] == verdict["target"]["url"]
    assert shown["fail_on"][0] == verdict["run"].get("fail_on", "error")
    selected = [g.strip() for g in shown["gates"][0].split(",")]
    assert selected == list(verdict["gates"])
    for name, gate in verdict["gates"].items():
        mode = "blocking" if gate["blocking"] else "advisory"
        assert shown[f"gates.{name}"][0].startswith(f"{mode}, min_tests {gate['min_tests']}")
    if case != "defaults":
        rules = json.loads(shown["security.rules"][0])
        assert rules["csp-missing"]["expires"] == UNTIL and "expired" not in rules["csp-missing"]
        assert rules["xcto-missing"]["expired"] == f"since {EXPIRED}: counts as fail"
        quarantine = json.loads(shown["flaky.quarantine"][0])
        assert quarantine == [{"test": "test_one.py::test_smoke", "owner": "team-qa",
                               "expires": UNTIL, "reason": "QA-7"}]
        assert shown["history.path"][0] == str(pytester.path / "state" / "runs.db")
        assert (pytester.path / "state" / "runs.db").is_file(), "the run used that store"
        assert "datetime.date" not in text
    if case == "contract-and-parity":
        assert {"contract", "parity"} <= set(verdict["gates"])
        assert "contract from --staging-openapi" in shown["gates"][1]
        assert "parity from --staging-compare-url" in shown["gates"][1]
    if case == "defaults":
        paths = json.loads(shown["security.sensitive_paths"][0])
        assert len(paths) == 21 and "/.env" in paths
        assert shown["security.sensitive_paths"][1] == "default (the built-in list)"


@pytest.mark.parametrize("args, policy", [
    (["--staging-header=X-Token: $SHOW_UNSET_VAR"], ""),
    (["--staging-gate=nope"], ""),
    (["--staging-policy=policy.toml"], "[target]\nwiat = 3\n"),
    (["--staging-key-env=SHOW_UNSET_KEY"], ""),
    (["--staging-perf-baseline=last-go"], ""),
    (["--staging-ca-bundle=missing.pem"], ""),
    (["--staging-signing-key=missing.key"], ""),
    (["--staging-openapi="], ""),
    (["--staging-compare-url=SAME"], ""),
    (["--staging-policy=policy.toml", "-p", "no:rerunfailures"], "[flaky]\nretries = 1\n"),
], ids=["unset-header", "unknown-gate", "bad-policy", "unset-key-env", "last-go-no-store",
        "missing-ca", "missing-signing-key", "empty-openapi", "compare-is-staging",
        "retries-without-plugin"])
def test_show_settings_rejects_what_the_run_rejects_with_the_same_line(
        pytester: pytest.Pytester, run_staging: Any, server: LoopbackServer,
        args: list[str], policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOW_UNSET_VAR", "SHOW_UNSET_KEY", "STAGING_HISTORY", "STAGING_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_one=ONE_TEST)
    if policy:
        pytester.makefile(".toml", policy=policy)
    args = [a.replace("SAME", server.url) for a in args]
    run = run_staging(*args, "-p", "no:xdist", url=server.url)
    assert run.ret == 4, run.output[-2000:]
    reason = run.verdict["reasons"][0]
    assert reason.startswith("usage error: ")
    ret, text = show(pytester, f"--staging-url={server.url}", *args)
    assert ret == 4
    errors = [line for line in text.splitlines() if line.startswith("ERROR: ")]
    assert errors == [f"ERROR: pytest-staging: {reason.removeprefix('usage error: ')}"]
    assert not server.requests or all(r.path in ("/", "/health", "/version")
                                      for r in server.requests)


def test_space_separated_path_option_is_rejected_by_both(
        pytester: pytest.Pytester, server: LoopbackServer, tmp_path: Path) -> None:
    pytester.makepyfile(test_one=ONE_TEST)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = [f"--staging-url={server.url}", "--staging-report-dir", str(elsewhere)]
    run = pytester.runpytest_inprocess(*args, "-p", "no:xdist", "-p", "no:cacheprovider")
    assert run.ret == 4
    line = next(ln for ln in run.errlines if ln.startswith("ERROR: pytest-staging: "))
    result = pytester.runpytest_inprocess(SHOW, *args, "-p", "no:cacheprovider")
    ret, text = result.ret, "\n".join(result.outlines)
    assert ret == 4
    assert line in text.splitlines()
