"""``pytest-staging merge`` over shards that ran as separate processes (signed, like CI jobs):
the N shards of one run are one signed GO that verify and an independent DSSE verifier accept;
a missing, duplicated, foreign (another run, deployment, suite or N), edited or unreadable
shard is a NO-GO that names it, in one line, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from servers import HARDENED_HEADERS, LoopbackServer
from shard_suite import POLICY, SUITE

from pytest_staging.attestation import write_key_pair
from pytest_staging.cli import main as cli
from pytest_staging.redact import Redactor
from pytest_staging.schema import validation_errors
from pytest_staging.stale import write_placeholder

HMAC = "merge-test-hmac-key-0042"
RUN = "ci-run-7"
ENV_CLEARED = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE",
               "STAGING_URL", "STAGING_REPORT_DIR", "STAGING_POLICY", "STAGING_SHARD",
               "STAGING_RUN_ID", "STAGING_SIGNING_KEY", "STAGING_SUBJECT", "PYTEST_ADDOPTS",
               "STAGING_EXPECT_VERSION", "GITHUB_STEP_SUMMARY", "PYTEST_XDIST_WORKER",
               "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


class World:
    """Shard verdicts made by real pytest processes, and what they were made with."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = root / "keys"
        self.private, self.public = write_key_pair(self.keys)
        self.shards: dict[str, Path] = {}

    def __getitem__(self, name: str) -> str:
        return str(self.shards[name])

    def good(self) -> list[str]:
        return [self["1/3"], self["2/3"], self["3/3"]]

    def checked(self, *names: str) -> list[str]:
        """The shards named, and the public key that checks their attestations."""
        return [*(self[n] for n in names), "--public-key", str(self.public)]


def _suite(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True)
    (folder / "test_suite.py").write_text(SUITE + extra)
    (folder / "pyproject.toml").write_text(POLICY)
    return folder


def _shard(world: World, name: str, suite: Path, url: str, spec: str, *args: str,
           run_id: str = RUN, version: str = "2.0.1") -> tuple[str, subprocess.Popen[str]]:
    report = world.root / "reports" / name.replace("/", "-")
    env = {k: v for k, v in os.environ.items() if k not in ENV_CLEARED}
    env.update(STAGING_VERDICT_KEY=HMAC, PYTEST_ADDOPTS="-p no:hypothesispytest "
               "-p no:schemathesis -p no:playwright -p no:html -p no:anyio")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--staging-url={url}",
               f"--staging-shard={spec}", f"--staging-run-id={run_id}",
               f"--staging-expect-version={version}", f"--staging-report-dir={report}",
               f"--staging-signing-key={world.private}", "--staging-subject=shop@2.0.1", *args]
    world.shards[name] = report
    return name, subprocess.Popen(command, cwd=suite, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The three shards of run ci-run-7 (one of them with two xdist workers), and shards that
    do not belong with them: another deployment, another suite, another run, another N."""
    world = World(tmp_path_factory.mktemp("merge"))
    staging = LoopbackServer(version="2.0.1", always_headers=HARDENED_HEADERS).start()
    other = LoopbackServer(version="2.0.2", always_headers=HARDENED_HEADERS).start()
    suite = _suite(world.root / "suite")
    bigger = _suite(world.root / "bigger-suite", "\n\ndef test_one_more(staging):\n"
                                                 "    assert staging.get('/').ok\n")
    runs = [
        lambda: _shard(world, "1/3", suite, staging.url, "1/3", "-p", "no:xdist"),
        lambda: _shard(world, "2/3", suite, staging.url, "2/3", "-n", "2"),
        lambda: _shard(world, "3/3", suite, staging.url, "3/3", "-p", "no:xdist"),
        lambda: _shard(world, "other-deployment", suite, other.url, "3/3", "-p", "no:xdist",
                       version="2.0.2"),
        lambda: _shard(world, "other-suite", bigger, staging.url, "3/3", "-p", "no:xdist"),
        lambda: _shard(world, "other-run", suite, staging.url, "3/3", "-p", "no:xdist",
                       run_id="ci-run-8"),
        lambda: _shard(world, "other-n", suite, staging.url, "3/4", "-p", "no:xdist"),
    ]

    def finish(start: Any) -> tuple[str, int, str]:
        name, process = start()
        try:
            output, _ = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            output = process.communicate()[0] + "\n[killed after 300 s]"
        return name, process.returncode, output

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            done = list(pool.map(finish, runs))
    finally:
        staging.stop()
        other.stop()
    for name, status, output in done:
        # Every one of them is GO on its own: only the merge can tell they do not belong.
        assert status == 0, (name, output[-3000:])
    yield world


@pytest.fixture
def hmac_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAGING_VERDICT_KEY", HMAC)


def merge(out: Path, *args: str) -> tuple[int, str, dict[str, Any] | None]:
    """Run ``pytest-staging merge``: (exit status, its output, the verdict it wrote)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        status = cli(["merge", *args, "--out", str(out)])
    file = out / "verdict.json"
    verdict = json.loads(file.read_text()) if file.is_file() else None
    if verdict is not None:
        assert validation_errors(verdict) == [], validation_errors(verdict)
    output = buffer.getvalue()
    assert "Traceback" not in output
    return status, output, verdict


def no_go(out: Path, *args: str, code: int = 3) -> list[str]:
    """Merge expecting a NO-GO; its reasons. Shards that are not one complete, trusted run:
    the merge could not judge (exit 3, docs/exit-codes.md)."""
    status, output, verdict = merge(out, *args)
    assert status == code, output
    assert verdict is not None and verdict["verdict"] == "NO-GO"
    assert not (out / "verdict.intoto.jsonl").exists()
    return verdict["reasons"]


def keys(world: World) -> list[str]:
    return ["--public-key", str(world.public), "--signing-key", str(world.private)]


def test_the_shards_of_one_run_merge_into_one_signed_go(world: World, hmac_env: None,
                                                         tmp_path: Path) -> None:
    status, output, verdict = merge(tmp_path, *world.good(), *keys(world))
    assert status == 0, output
    assert verdict is not None and verdict["verdict"] == "GO"
    assert verdict["merged"]["run_id"] == RUN and verdict["provenance"]["ci"]["run_id"] == RUN
    assert verdict["provenance"]["signed"] is True and verdict["signature"]
    # Each shard's tests keep the trace id of their requests to staging (read back, not lost).
    traced = [t for t in verdict["tests"] if t["nodeid"].startswith("test_suite.py::")]
    assert traced and all(len(t["trace_id"]) == 32 for t in traced), traced[:2]
    # Re-derived and bound like any verdict.
    for extra in ([], ["--expect-run-id", RUN], ["--expect-subject", "shop@2.0.1"]):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            said = cli(["verify", str(tmp_path), "--public-key", str(world.public),
                        "--expect-version", "2.0.1", "--max-age", "1h", *extra])
        assert said == 0, buffer.getvalue()
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        said = cli(["verify", str(tmp_path), "--public-key", str(world.public),
                    "--expect-version", "2.0.2"])
    assert said == 3 and "expected 2.0.2" in buffer.getvalue()

    # An independent DSSE implementation accepts both envelopes and reads the merged verdict.
    dsse = pytest.importorskip("securesystemslib.dsse")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    lines = (tmp_path / "verdict.intoto.jsonl").read_text().splitlines()
    assert len(lines) == 2
    statements = []
    for line in lines:
        envelope = dsse.Envelope.from_dict(json.loads(line))
        key = SSlibKey.from_crypto(load_pem_public_key(world.public.read_bytes()),
                                   keyid=next(iter(envelope.signatures)))
        assert envelope.verify([key], 1)
        statements.append(json.loads(envelope.payload))
    result, whole = statements
    assert result["predicate"]["result"] in ("PASSED", "WARNED")
    assert len(result["predicate"]["passedTests"]) == 22  # 23 tests, transport skipped (HTTP)
    assert whole["predicate"]["merged"]["count"] == 3
    assert whole["predicate"]["verdict"] == "GO"
    script = Path(__file__).parent.parent / "docs" / "examples" / "verify_with_securesystemslib.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "verdict.intoto.json"),
                           str(world.public)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "result: " in done.stdout, done.stdout + done.stderr


def test_a_missing_shard_is_no_go(world: World, hmac_env: None, tmp_path: Path) -> None:
    assert no_go(tmp_path, *world.checked("1/3", "3/3")) == [
        "merge: 1 of 3 shards missing: 2/3 (each must be merged, or the run is not complete)"]


def test_a_duplicated_shard_is_no_go(world: World, hmac_env: None, tmp_path: Path) -> None:
    reasons = no_go(tmp_path, *world.checked("1/3", "2/3", "3/3", "2/3"))
    assert reasons == [f"merge: shard 2/3 given 2 times: {world['2/3']}, {world['2/3']}"]


@pytest.mark.parametrize("foreign, says", [
    ("other-deployment", ["target URL differs: shard 3/3 (", "expected version differs",
                          "version at start differs", "version at end differs"]),
    ("other-suite", ["suite digest differs: shard 3/3 (", "collection differs: shard 3/3 ("]),
    ("other-run", ["run id differs: shard 3/3 ({path}) has ci-run-8, shard 1/3 ({first}) "
                   "has ci-run-7"]),
    ("other-n", ["shards of a different N: shard 3/4 ({path}) is one of 4 shards, shard 1/3 "
                 "({first}) one of 3", "1 of 3 shards missing: 3/3"]),
])
def test_a_shard_of_something_else_is_no_go_naming_it(world: World, hmac_env: None,
                                                      tmp_path: Path, foreign: str,
                                                      says: list[str]) -> None:
    reasons = no_go(tmp_path, *world.checked("1/3", "2/3", foreign))
    for line in says:
        line = line.format(path=world[foreign], first=world["1/3"])
        assert any(r.startswith(f"merge: {line}") for r in reasons), (line, reasons)
    assert reasons[0].startswith("merge: "), reasons


def _copy(world: World, name: str, into: Path) -> Path:
    copy = into / name.replace("/", "-")
    shutil.copytree(world.shards[name], copy)
    return copy


def _edit(report: Path, change: Any) -> None:
    file = report / "verdict.json"
    verdict = json.loads(file.read_text())
    change(verdict)
    file.write_text(json.dumps(verdict))


def _passes(verdict: dict[str, Any]) -> None:
    """A failure turned into a pass, where a forger would: the verdict and its record."""
    for test in (*verdict["tests"], *verdict["shard"]["facts"]["tests"]):
        if test["nodeid"].endswith("]"):
            test["duration"] = 0.001


def test_an_edited_signed_shard_is_refused(world: World, hmac_env: None, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    edited = _copy(world, "2/3", tmp_path)
    _edit(edited, _passes)
    reasons = no_go(tmp_path / "hmac", world["1/3"], str(edited), world["3/3"],
                    "--public-key", str(world.public))
    assert reasons == [f"merge: shard 2/3 ({edited}): signature: verdict does not match its "
                       "signature (edited after signing, or signed with another key than "
                       "STAGING_VERDICT_KEY)"]
    # The Ed25519 attestation catches it too, HMAC signature or not.
    _edit(edited, lambda v: v.pop("signature"))
    monkeypatch.delenv("STAGING_VERDICT_KEY")
    reasons = no_go(tmp_path / "ed25519", *[world["1/3"], str(edited), world["3/3"]],
                    "--public-key", str(world.public))
    assert reasons[0].startswith(f"merge: shard 1/3 ({world['1/3']}): signature: the "
                                 "verdict is HMAC-signed but STAGING_VERDICT_KEY is unset or empty")
    assert f"merge: shard 2/3 ({edited}): attestation: verdict.json differs from the verdict " \
           "the attestation signed (edited after signing)" in reasons


def test_an_edited_unsigned_shard_does_not_follow_from_its_record(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_CLEARED, "STAGING_VERDICT_KEY"):
        monkeypatch.delenv(name, raising=False)
    copies = [_copy(world, name, tmp_path) for name in ("1/3", "2/3", "3/3")]
    for copy in copies:  # unsigned shards, as a run without keys writes them
        for name in ("verdict.intoto.json", "verdict.intoto.jsonl"):
            (copy / name).unlink()
        _edit(copy, lambda v: (v.pop("signature"), v["provenance"].update(signed=False)))
    # Nothing here can authenticate them: refused, as verify refuses an unsigned verdict.
    refused = no_go(tmp_path / "refused", *map(str, copies))
    assert len(refused) == 3 and all("no signature was checked" in r and "--allow-unsigned" in r
                                     for r in refused), refused
    # Knowingly: merged, and the merged verdict says nothing authenticated its shards.
    status, output, verdict = merge(tmp_path / "fine", *map(str, copies), "--allow-unsigned")
    assert status == 0 and verdict is not None and verdict["verdict"] == "GO", output
    assert any(w.startswith("shards merged without a signature check (--allow-unsigned)")
               for w in verdict["warnings"]), verdict["warnings"]

    def fail_one(verdict: dict[str, Any]) -> None:
        verdict["tests"][0]["outcome"] = "failed"

    _edit(copies[1], fail_one)
    assert no_go(tmp_path / "edited", *map(str, copies), "--allow-unsigned") == [
        f"merge: shard 2/3 ({copies[1]}): its verdict does not follow from its own record "
        "(edited after the run?)"]


def test_signed_shards_need_their_key(world: World, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV_CLEARED, "STAGING_VERDICT_KEY"):
        monkeypatch.delenv(name, raising=False)
    reasons = no_go(tmp_path, *world.good(), "--public-key", str(world.public))
    assert len(reasons) == 3 and all("is HMAC-signed but STAGING_VERDICT_KEY is unset or empty" in r
                                     for r in reasons)
    monkeypatch.setenv("STAGING_VERDICT_KEY", HMAC)
    reasons = no_go(tmp_path, *world.good())
    assert len(reasons) == 3 and all("an Ed25519-signed verdict cannot be checked without "
                                     "--public-key" in r for r in reasons)


def test_bad_inputs_are_one_line_no_gos(world: World, hmac_env: None, tmp_path: Path) -> None:
    not_a_verdict = tmp_path / "notes.txt"
    not_a_verdict.write_text("hello\n")
    old = _copy(world, "3/3", tmp_path)
    _edit(old, lambda v: v.update(schema="pytest-staging/verdict@0"))
    whole = tmp_path / "merged-before"
    assert merge(whole, *world.good(), *keys(world))[0] == 0
    crashed = tmp_path / "crashed"  # what a shard that stopped at a usage error leaves
    crashed.mkdir()
    write_placeholder(crashed, "usage error: --staging-shard: 'x' is not K/N", Redactor(),
                      exit_status=4)
    cases = {
        str(crashed): f"{crashed} holds no shard record but a NO-GO: usage error: "
                      "--staging-shard: 'x' is not K/N",
        str(tmp_path / "no-such-shard"): f"no verdict at {tmp_path / 'no-such-shard'}",
        str(not_a_verdict): f"{not_a_verdict} is malformed or truncated JSON (Expecting value: "
                            "line 1 column 1)",
        str(old): f"{old}: expected schema 'pytest-staging/verdict@1', found "
                  "'pytest-staging/verdict@0'",
        str(whole): f"{whole} is a merged verdict, not a shard",
    }
    for given, says in cases.items():
        reasons = no_go(tmp_path / "out", given, *world.checked("1/3", "2/3"))
        assert reasons[0] == f"merge: {says}", reasons
        assert "1 of 3 shards missing: 3/3" in reasons[1]


@pytest.mark.parametrize("args, says", [
    (["--out", "SHARD"], "is the folder of shard"),
    (["--out", ""], "--out is empty"),
    (["--out", "OUT", "--public-key", "nope.pub"], "--public-key: cannot read nope.pub"),
    (["--out", "OUT", "--signing-key", "nope.key"], "--signing-key nope.key: cannot read it"),
    (["--out", "OUT", "--key-env", "NO_SUCH_KEY_VAR"], "NO_SUCH_KEY_VAR names an unset"),
])
def test_usage_errors_write_nothing(world: World, hmac_env: None, tmp_path: Path,
                                    args: list[str], says: str) -> None:
    args = [a.replace("SHARD", world["1/3"]).replace("OUT", str(tmp_path / "out"))
            for a in args]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        status = cli(["merge", *world.good(), *args])
    assert status == 2
    lines = buffer.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pytest-staging merge: ") and says in lines[0]
    assert not (tmp_path / "out").exists()
    assert json.loads((world.shards["1/3"] / "verdict.json").read_text())["shard"]


def test_every_field_of_a_test_record_is_read_back() -> None:
    # A field added to TestRecord and not read back makes every shard "edited after the run"
    # (trace_id did): the record a shard wrote must come back whole.
    from pytest_staging.shard_merge import _test
    from pytest_staging.verdict import TestRecord

    filled = TestRecord(nodeid="t.py::a", gate="integration", outcome="failed", duration=1.5,
                        blocking=False, flaky=True, message="boom",
                        evidence=[{"kind": "http"}], trace_id="ab" * 16)
    assert all(getattr(filled, f) != getattr(TestRecord("x", "y"), f)
               for f in TestRecord.__dataclass_fields__ if f not in ("nodeid", "gate"))
    assert _test(json.loads(json.dumps(filled.to_dict()))) == filled
    with pytest.raises(ValueError):
        _test({**filled.to_dict(), "trace_id": 7})
