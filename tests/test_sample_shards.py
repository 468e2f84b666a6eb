"""The sample suite split in three (``pytest sample_suite --staging-shard=K/3``, three pytest
processes against one deployment and one production): no test runs twice, each built-in item
(security checks, bandit, parity, contract operations) runs in exactly one shard, and the
merge of the three is the GO a whole run is."""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from sample_runs import run_sample

from pytest_staging.cli import main as cli
from pytest_staging.schema import validation_errors
from pytest_staging.shard_merge import collection_of
from sample_suite.app import RELEASE_VERSION
from sample_suite.parity import start_pair

pytestmark = pytest.mark.slow

BUILTIN_PREFIXES = ("staging-security::", "staging-contract::", "staging-parity::")


def test_three_shards_of_the_sample_run_each_test_once_and_merge_to_go(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Signed shards, merge and verify (the sample runs get no STAGING_* variable of ours).
    monkeypatch.setenv("SAMPLE_SHARDS_KEY", "sample-shards-hmac-key-7")
    production, staging = start_pair()
    try:
        # One after another: a load in one shard must not measure another shard's tests
        # (docs/scaling-out.md says so for CI matrices too).
        runs = [run_sample(tmp_path / f"shard-{k}", "-p", "no:xdist",
                           f"--staging-url={staging.url}",
                           f"--staging-expect-version={RELEASE_VERSION}",
                           f"--staging-compare-url={production.url}",
                           "--staging-source=sample_suite/app.py",
                           "--staging-key-env=SAMPLE_SHARDS_KEY",
                           f"--staging-shard={k}/3", "--staging-run-id=sample-run-1")
                for k in (1, 2, 3)]
    finally:
        production.stop()
        staging.stop()
    for run in runs:
        assert run.exit_code == 0, run.output[-3000:]
        assert run.verdict["verdict"] == "GO", run.reasons
    collection = collection_of(runs[0].verdict["shard"])
    assert all(r.verdict["shard"]["collection"]["digest"]
               == runs[0].verdict["shard"]["collection"]["digest"] for r in runs)
    ran = Counter(t["nodeid"] for run in runs for t in run.verdict["tests"])
    assert set(ran) == set(collection) and set(ran.values()) == {1}
    builtin = [n for n in collection if n.startswith(BUILTIN_PREFIXES)]
    assert "staging-security::bandit" in builtin
    assert {n.split("::")[0] for n in builtin} == {p.rstrip(":") for p in BUILTIN_PREFIXES}
    where = {n: [k for k, run in enumerate(runs, 1)
                 if n in {t["nodeid"] for t in run.verdict["tests"]}] for n in builtin}
    assert all(len(shards) == 1 for shards in where.values()), where
    # Every shard got a share of the built-in items.
    assert {shards[0] for shards in where.values()} == {1, 2, 3}

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = cli(["merge", *(str(tmp_path / f"shard-{k}") for k in (1, 2, 3)),
                      "--out", str(tmp_path / "merged"), "--key-env", "SAMPLE_SHARDS_KEY"])
    assert status == 0, out.getvalue()
    merged = json.loads((tmp_path / "merged" / "verdict.json").read_text())
    assert validation_errors(merged) == [] and merged["verdict"] == "GO"
    assert merged["signature"]
    assert sorted(t["nodeid"] for t in merged["tests"]) == sorted(collection)
    gates = merged["gates"]
    assert all(gates[g]["ran"] >= gates[g]["min_tests"] > 0
               for g in ("integration", "security", "performance"))
    # Judged over the operations and findings of all three shards.
    contract = [n for n in collection if n.startswith("staging-contract::")]
    assert gates["contract"]["coverage"]["documented"] == len(contract)
    # One seed for the run, derived from its run id: a merge reproduces with one number.
    assert isinstance(gates["contract"]["seed"], int)
    assert gates["security"]["grade"]["grade"]
    assert gates["parity"]["status"] == "passed"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = cli(["verify", str(tmp_path / "merged"), "--expect-version", RELEASE_VERSION,
                      "--max-age", "1h", "--key-env", "SAMPLE_SHARDS_KEY"])
    assert status == 0, out.getvalue()
