"""``--staging-shard=K/N`` in whole pytest runs against a real loopback server, serial and under
``-n 2``: N shards run every test of the suite once between them, built-in items included,
each shard judges itself, and ``pytest-staging merge`` turns them into one GO."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from servers import HARDENED_HEADERS, LoopbackServer
from shard_suite import POLICY, SUITE

from pytest_staging.cli import main as cli
from pytest_staging.schema import validation_errors
from pytest_staging.shard_merge import collection_of

BUILTIN = {f"staging-security::{f}" for f in ("headers", "cookies", "exposure", "cors")}
CI_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE",
           "STAGING_VERDICT_KEY", "STAGING_SIGNING_KEY", "STAGING_RUN_ID", "STAGING_SHARD",
           "STAGING_SUBJECT")


@pytest.fixture
def target() -> Iterator[LoopbackServer]:
    """A hardened target: the security gate's built-in checks find nothing to fail."""
    srv = LoopbackServer(version="2.0.1", always_headers=HARDENED_HEADERS).start()
    yield srv
    srv.stop()


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    # Shards, merge and verify all signed: verify refuses what it cannot authenticate.
    monkeypatch.setenv("STAGING_VERDICT_KEY", "shards-test-hmac-key-11")
    pytester.makepyfile(test_suite=SUITE)
    pytester.makefile(".toml", pyproject=POLICY)
    return pytester


def shard(pytester: pytest.Pytester, url: str, spec: str, *args: str,
          run_id: str = "run-42") -> tuple[int, dict[str, Any], str]:
    """One shard in its own report dir: (exit status, verdict, output)."""
    report = pytester.path / f"shard-{spec.replace('/', '-')}"
    argv = [f"--staging-url={url}", f"--staging-report-dir={report}", "-p", "no:cacheprovider",
            "--staging-expect-version=2.0.1", *([f"--staging-shard={spec}"] if spec else []),
            *([f"--staging-run-id={run_id}"] if run_id else []), *args]
    result = pytester.runpytest_inprocess(*argv)
    verdict = json.loads((report / "verdict.json").read_text())
    assert validation_errors(verdict) == [], validation_errors(verdict)
    return result.ret, verdict, "\n".join(result.outlines + result.errlines)


def merge(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli(["merge", *args])
    return status, out.getvalue(), err.getvalue()


def verify(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = cli(["verify", *args])
    return status, out.getvalue()


def test_shards_run_every_test_once_and_merge_to_go(suite: pytest.Pytester,
                                                    target: LoopbackServer,
                                                    mode: list[str]) -> None:
    runs = [shard(suite, target.url, f"{k}/3", *mode) for k in (1, 2, 3)]
    for status, verdict, output in runs:
        # A shard is judged on its own, without the gates' minimums: GO, exit 0 for its job.
        assert status == 0 and verdict["verdict"] == "GO", (verdict["reasons"], output)
        assert "shard " in output and "of run run-42 (not deployable alone" in output
        assert verdict["selection"]["partial"] is False
        assert verdict["selection"]["deselected"] == 0
        assert verdict["gates"]["integration"]["ran"] < 10
    records = [v["shard"] for _, v, _ in runs]
    assert [(r["index"], r["count"], r["run_id"]) for r in records] == [
        (1, 3, "run-42"), (2, 3, "run-42"), (3, 3, "run-42")]
    collection = collection_of(records[0])
    assert len({r["collection"]["digest"] for r in records}) == 1
    assert set(collection) >= BUILTIN and len(collection) == 18 + len(BUILTIN) + 1  # transport
    ran = Counter(t["nodeid"] for _, v, _ in runs for t in v["tests"])
    assert set(ran) == set(collection) and set(ran.values()) == {1}
    assert sorted(n for r in records for n in r["slice"]) == sorted(collection)
    assert max(len(r["slice"]) for r in records) - min(len(r["slice"]) for r in records) <= 1
    # The whole suite's digest, not the slice's: every shard the same.
    assert len({v["provenance"]["suite_digest"] for _, v, _ in runs}) == 1

    status, out, err = merge(*(str(suite.path / f"shard-{k}-3") for k in (1, 2, 3)),
                             "--out", str(suite.path / "merged"))
    assert status == 0, out + err
    merged = json.loads((suite.path / "merged" / "verdict.json").read_text())
    assert validation_errors(merged) == []
    assert merged["verdict"] == "GO" and merged["reasons"] == [] and merged["signature"]
    assert sorted(t["nodeid"] for t in merged["tests"]) == sorted(collection)
    # The minimums are judged on the merged counts: 12, 3 + 4 built-in, 3.
    assert {g: merged["gates"][g]["ran"] for g in merged["gates"]} == {
        "integration": 12, "security": 7, "performance": 3}
    # Recomputed over all shards' findings, the policy's accepted risk (a TOML date in a
    # signed shard record) applied.
    grade = merged["gates"]["security"]["grade"]
    assert grade["counts"]["info"] == 1 and grade["excluding_accepted"]["accepted"] == 1
    assert records[0]["policy"]["security.rules"]["version-banner"]["expires"] == "2099-12-31"
    assert merged["merged"]["count"] == 3 and merged["merged"]["run_id"] == "run-42"
    assert "shard" not in merged
    for name in ("verdict.md", "verdict.html", "findings.sarif", "junit.xml"):
        assert (suite.path / "merged" / name).is_file(), name
    junit = (suite.path / "merged" / "junit.xml").read_text()
    assert junit.count("<testcase ") == 23 and 'name="staging_verdict" value="GO"' in junit
    assert 'value="merged from 3 shard verdict(s) of run run-42"' in junit
    status, said = verify(str(suite.path / "merged"), "--expect-version", "2.0.1",
                          "--max-age", "1h")
    assert status == 0, said
    # A shard alone is never deployable.
    status, said = verify(str(suite.path / "shard-1-3"), "--max-age", "1h")
    assert status == 3 and "shard 1/3" in said and "pytest-staging merge" in said
    assert len(said.strip().splitlines()) == 1


def test_a_gate_minimum_missed_by_the_merged_counts_is_no_go(suite: pytest.Pytester,
                                                            target: LoopbackServer) -> None:
    suite.makefile(".toml", pyproject=POLICY.replace("min_tests = 10", "min_tests = 13"))
    for k in (1, 2):
        status, verdict, _ = shard(suite, target.url, f"{k}/2", "-p", "no:xdist")
        assert status == 0, verdict["reasons"]
    status, _, _ = merge(str(suite.path / "shard-1-2"), str(suite.path / "shard-2-2"),
                           "--out", str(suite.path / "merged"))
    merged = json.loads((suite.path / "merged" / "verdict.json").read_text())
    # an empty-ish gate is no evidence either way: could not judge
    assert status == 3 and merged["verdict"] == "NO-GO"
    assert merged["judgement"] == "inconclusive"
    assert merged["reasons"] == ["integration: gate ran 12 test(s), needs at least 13 (add "
                                 "tests, select gates with --staging-gate, or set "
                                 "[gates.integration] min_tests)"]


def test_a_failing_test_fails_its_shard_at_once(suite: pytest.Pytester, target: LoopbackServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARD_TEST_BREAK", "catalogue-4")
    outcomes = []
    for k in (1, 2):
        status, verdict, _ = shard(suite, target.url, f"{k}/2", "-p", "no:xdist")
        outcomes.append((status, verdict))
    broken = [v for s, v in outcomes if s != 0]
    assert len(broken) == 1 and [s for s, _ in outcomes].count(0) == 1
    assert broken[0]["verdict"] == "NO-GO"
    assert broken[0]["reasons"] == ["integration: test_suite.py::test_catalogue[4] failed: "
                                    "AssertionError: the catalogue is broken"]
    status, _, _ = merge(str(suite.path / "shard-1-2"), str(suite.path / "shard-2-2"),
                           "--out", str(suite.path / "merged"))
    assert status == 1  # a failing test: the merged verdict is failed
    merged = json.loads((suite.path / "merged" / "verdict.json").read_text())
    assert merged["reasons"] == broken[0]["reasons"] and merged["judgement"] == "failed"


@pytest.mark.parametrize("given, says", [
    (["--staging-shard=0/3"], "--staging-shard: 0/3: K must be between 1 and 3"),
    (["--staging-shard=4/3"], "--staging-shard: 4/3: K must be between 1 and 3"),
    (["--staging-shard=x"], "--staging-shard: 'x' is not K/N"),
    (["env:x"], "STAGING_SHARD: 'x' is not K/N"),
    (["env:"], "STAGING_SHARD given an empty value"),
    (["--staging-shard-durations=v.json"], "--staging-shard-durations needs --staging-shard"),
    (["--staging-shard=1/2", "--staging-shard-durations=missing.json"],
     "--staging-shard-durations missing.json: no verdict at missing.json"),
    (["--staging-shard=1/2", "--staging-shard-durations=test_suite.py"],
     "--staging-shard-durations test_suite.py: test_suite.py is malformed or truncated JSON"),
])
def test_bad_shard_settings_are_one_line_usage_errors(suite: pytest.Pytester,
                                                      target: LoopbackServer,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      given: list[str], says: str) -> None:
    args = [a for a in given if not a.startswith("env:")]
    for value in (a[4:] for a in given if a.startswith("env:")):
        monkeypatch.setenv("STAGING_SHARD", value)
    status, verdict, output = shard(suite, target.url, "", *args)
    assert status == 4
    assert verdict["verdict"] == "NO-GO" and verdict["tests"] == []
    assert verdict["reasons"][0].startswith("usage error: ") and says in verdict["reasons"][0]
    assert says in output and "Traceback" not in output


def test_a_shard_without_a_shared_run_id_is_a_usage_error(suite: pytest.Pytester,
                                                         target: LoopbackServer) -> None:
    status, verdict, output = shard(suite, target.url, "1/2", run_id="")
    assert status == 4
    assert "no run id the shards share" in verdict["reasons"][0]
    assert "--staging-run-id" in output


def test_the_ci_run_id_is_the_shards_run_id(suite: pytest.Pytester, target: LoopbackServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_RUN_ID", "9911")
    status, verdict, _ = shard(suite, target.url, "1/2", "-p", "no:xdist", run_id="")
    assert status == 0, verdict["reasons"]
    assert verdict["shard"]["run_id"] == "9911"
    assert verdict["shard"]["run_id_source"] == "github-actions run id"
    assert verdict["provenance"]["ci"]["run_id"] == "9911"


def test_durations_of_an_earlier_verdict_balance_the_shards(suite: pytest.Pytester,
                                                            target: LoopbackServer) -> None:
    status, whole, _ = shard(suite, target.url, "", "-p", "no:xdist", run_id="")
    assert status == 0, whole["reasons"]
    earlier = suite.path / "earlier.json"
    slow = {t["nodeid"]: 100.0 if t["nodeid"].endswith("test_catalogue[0]") else 1.0
            for t in whole["tests"]}
    earlier.write_text(json.dumps({"tests": [{"nodeid": n, "duration": d}
                                             for n, d in slow.items()]}))
    status, verdict, _ = shard(suite, target.url, "1/2", "-p", "no:xdist",
                               f"--staging-shard-durations={earlier}")
    assert status == 0, verdict["reasons"]
    split = verdict["shard"]["split"]
    assert split["method"] == "durations" and split["durations_file"] == "earlier.json"
    # The 100 s test fills a shard of its own; the other shard takes everything else.
    slice_ = verdict["shard"]["slice"]
    assert slice_ == ["test_suite.py::test_catalogue[0]"] or (
        len(slice_) == len(whole["tests"]) - 1 and "test_suite.py::test_catalogue[0]"
        not in slice_)


def test_collect_only_lists_the_slice(suite: pytest.Pytester, target: LoopbackServer) -> None:
    listed = []
    for k in (1, 2, 3):
        result = suite.runpytest_inprocess(
            f"--staging-url={target.url}", "--collect-only", "-q", f"--staging-shard={k}/3",
            "-p", "no:cacheprovider", f"--staging-report-dir={suite.path / 'listing'}")
        listed.append({line for line in result.outlines if "::" in line})
    assert all(5 <= len(names) <= 8 for names in listed), listed
    assert not (listed[0] & listed[1]) and not (listed[1] & listed[2])
    assert len(listed[0] | listed[1] | listed[2]) == 23
