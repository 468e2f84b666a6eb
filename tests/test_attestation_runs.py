"""Whole runs: keygen -> a signed run against a loopback server -> verify with the public key,
and every way a deploy job must refuse it (another key, subject, commit, CI run, a weakened
policy, a changed byte). The envelope is also checked by an independent DSSE implementation,
and no private key material may reach any output."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from servers import LoopbackServer

from pytest_staging.attestation import secret_forms
from pytest_staging.cli import main
from pytest_staging.policy import load_policy
from pytest_staging.provenance import policy_digest

IMAGE = "registry.example/acme/shop@sha256:" + "5e" * 32
SUITE = '''
def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_version(staging):
    assert staging.get("/version").json()["version"] == "1.4.2"
'''
# Security and performance are not what these runs are about: advisory, so the run is GO
# with the integration gate alone, without selecting a subset (which would be partial).
POLICY = '''
[gates.security]
blocking = false
[gates.performance]
blocking = false
[flaky]
policy = "{flaky}"
'''
CI_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE",
           "STAGING_VERDICT_KEY", "STAGING_SIGNING_KEY", "STAGING_SUBJECT", "STAGING_RUN_ID")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


@pytest.fixture
def server() -> Any:
    srv = LoopbackServer(version="1.4.2").start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
        check=True, capture_output=True, text=True).stdout.strip()


def verify(capsys: pytest.CaptureFixture[str], report: Path, verdict: dict[str, Any],
           *args: str) -> tuple[int, list[str]]:
    # The lead's selection record makes these runs provably complete; until it is merged,
    # a verdict without one is accepted here only explicitly.
    partial = [] if "selection" in verdict else ["--allow-partial"]
    capsys.readouterr()
    code = main(["verify", str(report), *partial, *args])
    out, err = capsys.readouterr()
    return code, (out + err).splitlines()


def no_key_material(private_pem: bytes, texts: list[str]) -> None:
    forms = secret_forms(private_pem)
    assert forms, "the key has textual forms to look for"
    for text in texts:
        for form in forms:
            assert form not in text


def test_keygen_signed_run_verify_and_every_refusal(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str],
        capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    keys = tmp_path_factory.mktemp("keys")
    other = tmp_path_factory.mktemp("other-keys")
    assert main(["keygen", "--out", str(keys)]) == 0
    assert main(["keygen", "--out", str(other)]) == 0
    capsys.readouterr()
    private, public = keys / "staging-signing.key", keys / "staging-signing.pub"

    pytester.makepyfile(test_suite=SUITE)
    pytester.makefile(".toml", policy=POLICY.format(flaky="fail"))
    git(pytester.path, "init", "-q")
    git(pytester.path, "add", "test_suite.py", "policy.toml")
    git(pytester.path, "commit", "-qm", "suite")
    commit = git(pytester.path, "rev-parse", "HEAD")

    run = run_staging("--staging-policy", "policy.toml", f"--staging-signing-key={private}",
                      "--staging-subject", IMAGE, "--staging-run-id", "run-1", *mode,
                      url=server.url)
    assert run.ret == 0, run.output
    verdict = run.verdict
    prov = verdict["provenance"]
    policy = load_policy(pytester.path / "policy.toml", pytester.path)
    assert prov["subject"] == IMAGE and prov["commit"] == commit
    assert prov["ci"]["run_id"] == "run-1" and prov["signed"] is True
    assert prov["policy_digest"] == policy_digest(policy.values, policy.gates)
    assert prov["suite_files"] == 1  # test_suite.py (no conftest)
    report = run.report_dir
    assert sorted(p.name for p in report.glob("verdict.intoto.*")) == [
        "verdict.intoto.json", "verdict.intoto.jsonl"]

    ok = ("--public-key", str(public), "--expect-subject", IMAGE, "--expect-commit", commit,
          "--expect-run-id", "run-1", "--expect-policy-digest", prov["policy_digest"])
    code, lines = verify(capsys, report, verdict, *ok)
    assert code == 0, lines
    assert "Ed25519 attestation ok" in lines[0]

    def refused(*args: str, where: Path = report) -> str:
        code, lines = verify(capsys, where, verdict, *args)
        assert code == 3 and len(lines) == 1, lines  # every refusal: could not judge
        return lines[0].removeprefix("pytest-staging verify: ")

    def swap(flag: str, value: str) -> list[str]:
        args = list(ok)
        args[args.index(flag) + 1] = value
        return args

    assert refused(*swap("--public-key", str(other / "staging-signing.pub"))).startswith(
        "attestation: verdict.intoto.jsonl: no signature of the envelope verifies")
    assert refused(*swap("--expect-subject", IMAGE.replace("5e5e", "5e5f", 1))).startswith(
        "subject: expected ")
    assert refused(*swap("--expect-commit", "f" * 40)).startswith("commit: expected suite")
    assert refused(*swap("--expect-run-id", "run-2")).startswith(
        "run-id: expected CI run run-2 (--expect-run-id), the verdict comes from run run-1")
    # without the public key, the attestation beside the verdict cannot be ignored
    assert refused().startswith("attestation: verdict.intoto.json")
    # nor skipped: --no-signature-check is no check, and nothing else authenticates it
    assert refused("--no-signature-check").startswith(
        "authentication: no signature was checked (STAGING_VERDICT_KEY is unset or empty, no "
        "--public-key; it carries an attestation, not checked here)")

    # one changed byte of the payload or of the signature, in the file the tools read
    envelope_path = report / "verdict.intoto.jsonl"
    original = envelope_path.read_bytes()
    first = json.loads(original.splitlines()[0])
    for field in ("payload", "sig"):
        edited = json.loads(json.dumps(first))
        holder = edited if field == "payload" else edited["signatures"][0]
        raw = bytearray(base64.b64decode(holder[field]))
        raw[len(raw) // 2] ^= 0x01
        holder[field] = base64.b64encode(bytes(raw)).decode()
        envelope_path.write_bytes(json.dumps(edited).encode() + b"\n"
                                  + original.splitlines()[1] + b"\n")
        assert "no signature of the envelope verifies" in refused(*ok)
    envelope_path.write_bytes(original)
    # verdict.json edited after signing (a field the HMAC-less run does not protect)
    verdict_path = report / "verdict.json"
    good = verdict_path.read_text()
    verdict_path.write_text(good.replace('"id": "', '"id": "x', 1))
    assert refused(*ok).startswith("attestation: verdict.json differs from the verdict")
    verdict_path.write_text(good)
    assert verify(capsys, report, verdict, *ok)[0] == 0

    # an independent DSSE implementation accepts the very envelope we wrote
    dsse = pytest.importorskip("securesystemslib.dsse")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    envelope = json.loads((report / "verdict.intoto.json").read_text())
    key = SSlibKey.from_crypto(load_pem_public_key(public.read_bytes()),
                               keyid=envelope["signatures"][0]["keyid"])
    statement = json.loads(dsse.Envelope.from_dict(envelope).payload)
    assert dsse.Envelope.from_dict(json.loads((report / "verdict.intoto.json").read_text())
                                   ).verify([key], 1)
    assert statement["predicate"]["result"] in ("PASSED", "WARNED")
    assert sorted(statement["predicate"]["passedTests"]) == [
        "test_suite.py::test_health", "test_suite.py::test_version"]

    # no private key material anywhere: report files, terminal, keygen output
    no_key_material(private.read_bytes(), [run.output] + [
        p.read_text(encoding="utf-8", errors="replace") for p in report.iterdir()])

    # a weakened policy (flaky failures now only warn): its digest differs, refused
    saved = tmp_path_factory.mktemp("first-report")
    shutil.copytree(report, saved, dirs_exist_ok=True)
    pytester.makefile(".toml", policy=POLICY.format(flaky="warn"))
    run2 = run_staging("--staging-policy", "policy.toml", f"--staging-signing-key={private}",
                       "--staging-subject", IMAGE, "--staging-run-id", "run-1", *mode,
                       url=server.url)
    assert run2.ret == 0, run2.output
    verdict = run2.verdict
    assert verdict["provenance"]["policy_digest"] != prov["policy_digest"]
    assert refused(*ok).startswith(f"policy: policy digest "
                                   f"{verdict['provenance']['policy_digest']}")
    # the deploy job can name the policy file it trusts instead of a digest
    (pytester.path / "trusted.toml").write_text(POLICY.format(flaky="fail"))
    no_digest = [a for a in ok if a not in ("--expect-policy-digest", prov["policy_digest"])]
    assert refused(*no_digest, "--expect-policy", str(pytester.path / "trusted.toml")
                   ).startswith("policy: ")
    # the first run's report, untouched, still verifies
    verdict = json.loads((saved / "verdict.json").read_text())
    assert verify(capsys, saved, verdict, *ok)[0] == 0
    assert verify(capsys, saved, verdict, *no_digest, "--expect-policy",
                  str(pytester.path / "trusted.toml"))[0] == 0


def test_signing_key_problems_are_usage_errors_with_nogo(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report = pytester.path / "staging-report"
    report.mkdir()
    # a stale attestation of an earlier run must not survive any of these
    (report / "verdict.intoto.jsonl").write_text("stale\n")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n"
                       "-----END PRIVATE KEY-----\n")
    cases = [
        # --opt=value: a path outside the project as a separate argument moves pytest's rootdir
        (["--staging-signing-key=" + str(tmp_path / "missing.key")], {}, "cannot read it"),
        (["--staging-signing-key=" + str(garbage)], {}, "not an unencrypted PEM private key"),
        ([], {"STAGING_SIGNING_KEY": "  "}, "$STAGING_SIGNING_KEY is set but empty"),
        # (the wording is the plugin's generic "empty value of an option" line where it has one)
        (["--staging-subject", ""], {}, "--staging-subject"),
    ]
    for args, env, message in cases:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        run = run_staging(*args, "-p", "no:xdist", url=server.url)
        for name in env:
            monkeypatch.delenv(name)
        assert run.ret == 4, run.output
        assert message in run.output
        assert "empty" in run.output or not message.startswith("--staging-subject")
        assert "Traceback" not in run.output
        verdict = run.verdict
        assert verdict["verdict"] == "NO-GO" and message in verdict["reasons"][0]
        assert not list(report.glob("verdict.intoto.*"))
        assert "bm90IGEga2V5IGF0IGFsbA" not in run.output


def test_signing_key_from_the_environment_is_never_shown(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer,
        monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    assert main(["keygen", "--out", str(tmp_path)]) == 0
    pem = (tmp_path / "staging-signing.key").read_bytes()
    monkeypatch.setenv("STAGING_SIGNING_KEY", pem.decode())
    pytester.makefile(".toml", policy=POLICY.format(flaky="warn"))
    # a test that fails and shows the variable in its assertion message
    pytester.makepyfile(test_suite=SUITE + '''
import os, pytest

@pytest.mark.advisory
def test_leaky(staging):
    assert not os.environ["STAGING_SIGNING_KEY"]
''')
    run = run_staging("--staging-policy", "policy.toml", "--staging-expect-version", "1.4.2",
                      "-p", "no:xdist", url=server.url)
    assert run.ret == 0, run.output
    verdict = run.verdict
    assert verdict["provenance"]["subject"] == "1.4.2"  # default: the observed version
    assert verdict["provenance"]["subject_source"] == "observed version"
    code, lines = verify(capsys, run.report_dir, verdict, "--public-key",
                         str(tmp_path / "staging-signing.pub"), "--expect-subject", "1.4.2")
    assert code == 0, lines
    no_key_material(pem, [p.read_text(encoding="utf-8", errors="replace")
                          for p in run.report_dir.iterdir()])
