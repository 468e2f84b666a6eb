"""``pytest-staging verify`` fails closed: partial runs, required gates, a re-derived verdict,
a default maximum age, signatures it cannot check, binding to the run in hand, any input.

``run()`` signs each verdict with ``KEY`` and sets it in the environment, as a deploy job
holding the run's HMAC key does; tests about signatures and attestations pass ``sign=False``."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from verdict_samples import clone, go_verdict

from pytest_staging.attestation import attest as attest_verdict
from pytest_staging.attestation import generate_key_pair, load_private_key
from pytest_staging.cli import main
from pytest_staging.signing import signed

CI_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE")
KEY = "verify-binding-test-key-5a5a"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STAGING_VERDICT_KEY", *CI_VARS):
        monkeypatch.delenv(name, raising=False)


def with_provenance(v: dict[str, Any] | None = None) -> dict[str, Any]:
    v = v or go_verdict()
    v["provenance"] = {"subject": "1.2.3", "subject_source": "observed version",
                       "commit": "0123456789abcdef0123456789abcdef01234567",
                       "ci": {"system": "github-actions", "run_id": "4242", "url": None},
                       "policy_digest": "a" * 64, "suite_digest": "b" * 64,
                       "policy_source": "(defaults)", "signed": False}
    return v


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, verdict: Any, *args: str,
        sign: bool = True) -> tuple[int, list[str]]:
    path = tmp_path / "verdict.json"
    if sign and isinstance(verdict, dict):
        verdict = signed(verdict, KEY)
    path.write_text(verdict if isinstance(verdict, str) else json.dumps(verdict, indent=2))
    capsys.readouterr()
    os.environ.pop("STAGING_VERDICT_KEY", None)
    if sign:
        os.environ["STAGING_VERDICT_KEY"] = KEY
    try:
        code = main(["verify", str(path), *args])
    finally:
        # Never left behind: monkeypatch.delenv of an unset variable records nothing to
        # restore, and a key left here made later tests' unsigned verdicts "not signed".
        os.environ.pop("STAGING_VERDICT_KEY", None)
    out, err = capsys.readouterr()
    return code, (out + err).splitlines()


def refused(capsys, tmp_path, verdict, *args: str, sign: bool = True, code: int = 3) -> str:
    """The one line of a refusal; a file verify refuses (or a GO it cannot accept) exits 3,
    could not judge, and a usage error 2 (docs/exit-codes.md)."""
    exit_code, lines = run(capsys, tmp_path, verdict, *args, sign=sign)
    assert exit_code == code, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("pytest-staging verify: ")
    return lines[0].removeprefix("pytest-staging verify: ")


# -- item 7: partial runs and required gates ----------------------------------------------------
def test_partial_run_refused_unless_allowed(capsys, tmp_path) -> None:
    v = go_verdict()
    v["selection"].update(partial=True, filters=["-k smoke"], deselected=3)
    assert refused(capsys, tmp_path, v).startswith("partial: partial run: -k smoke; 3 test(s)")
    assert run(capsys, tmp_path, v, "--allow-partial")[0] == 0
    v = go_verdict()
    v["run"]["partial"] = True
    assert refused(capsys, tmp_path, v).startswith("partial: ")


def test_verdict_without_selection_is_not_provably_complete(capsys, tmp_path) -> None:
    v = go_verdict()
    del v["selection"]
    assert refused(capsys, tmp_path, v) == (
        "partial: the verdict has no selection record (an older file), so it cannot prove the "
        "run was complete (--allow-partial)")
    assert run(capsys, tmp_path, v, "--allow-partial")[0] == 0


def test_blocking_gates_of_the_policy_are_required_by_default(capsys, tmp_path) -> None:
    v = go_verdict()
    v["selection"]["gates_blocking"].append("smoke")
    assert refused(capsys, tmp_path, v) == (
        "gates: required gate smoke did not run (blocking gates of the policy)")
    v = go_verdict()
    del v["gates"]["performance"]
    v["tests"] = [t for t in v["tests"] if t["gate"] != "performance"]
    assert refused(capsys, tmp_path, v).startswith("gates: required gate performance did not")


def test_require_gate_option(capsys, tmp_path) -> None:
    v = go_verdict()
    assert run(capsys, tmp_path, v, "--require-gate", "security")[0] == 0
    assert refused(capsys, tmp_path, v, "--require-gate", "contract") == (
        "gates: required gate contract did not run (--require-gate)")
    v["gates"]["security"]["status"] = "empty"
    v["gates"]["security"]["counts"] = {**v["gates"]["security"]["counts"], "passed": 0,
                                        "total": 0}
    v["tests"] = [t for t in v["tests"] if t["gate"] != "security"]
    v["gates"]["security"]["blocking"] = False  # an advisory gate: GO still re-derives
    v["selection"]["gates_blocking"].remove("security")
    assert run(capsys, tmp_path, v)[0] == 0
    assert refused(capsys, tmp_path, v, "--require-gate", "security").startswith(
        "gates: required gate security is empty with 0 test(s) run")


# -- item 8: re-derivation ----------------------------------------------------------------------
def _edit_gate_failed(v: dict[str, Any]) -> None:
    v["gates"]["integration"]["status"] = "failed"


def _edit_blocking_test(outcome: str) -> Any:
    def edit(v: dict[str, Any]) -> None:
        v["tests"][0]["outcome"] = outcome
    return edit


def _edit_incomplete_run(v: dict[str, Any]) -> None:
    v["run"]["complete"] = False


def _edit_failed_check(v: dict[str, Any]) -> None:
    v["gates"]["performance"]["checks"][0]["passed"] = False


def _edit_not_ready(v: dict[str, Any]) -> None:
    v["target"]["reachable"] = False
    v["target"]["ready_after"] = None


@pytest.mark.parametrize(("edit", "expected"), [
    (_edit_gate_failed, "rederive: gate integration says failed but its tests and checks "
                        "make it passed"),
    (_edit_blocking_test("failed"), "rederive: the file says GO but its own facts give NO-GO: "
                                    "integration: tests/test_api.py::test_health failed"),
    (_edit_blocking_test("error"), "rederive: the file says GO but its own facts give NO-GO: "
                                   "integration: tests/test_api.py::test_health errored"),
    (_edit_blocking_test("incomplete"), "rederive: the file says GO but "),
    (_edit_incomplete_run, "verdict: GO but the run is not marked complete"),
    (_edit_failed_check, "rederive: the file says GO but its own facts give NO-GO: "
                         "performance: p95_ms <= 500: p95 180ms"),
    (_edit_not_ready, "rederive: the file says GO but its own facts give NO-GO: target"),
])
def test_go_contradicted_by_its_own_facts_is_refused(capsys, tmp_path, edit, expected) -> None:
    v = go_verdict()
    edit(v)
    assert refused(capsys, tmp_path, v).startswith(expected)


def test_explain_lists_every_check(capsys, tmp_path) -> None:
    code, lines = run(capsys, tmp_path, with_provenance(), "--explain", "--expect-subject",
                      "1.2.3")
    assert code == 0
    checks = [line.split()[1].rstrip(":") for line in lines[:-1]]
    assert checks == ["shard", "schema", "signature", "attestation", "authentication",
                      "verdict", "rederive", "judgement", "partial", "gates", "version", "age",
                      "target", "subject", "commit", "run-id", "policy"]
    assert lines[-1].startswith("GO: ")
    v = go_verdict()
    v["gates"]["integration"]["status"] = "failed"
    code, lines = run(capsys, tmp_path, v, "--explain")
    assert code == 3  # a GO its own facts contradict: refused, could not judge
    assert any(line.startswith("  FAIL rederive:") for line in lines)
    assert lines[-1].startswith("pytest-staging verify: rederive:")


# -- item 8: signatures that cannot be checked, age ---------------------------------------------
def test_hmac_signed_verdict_without_key_is_refused(capsys, tmp_path) -> None:
    v = signed(go_verdict(), "the-key-of-the-test-job")
    assert refused(capsys, tmp_path, v, sign=False).startswith(
        "signature: the verdict is HMAC-signed but STAGING_VERDICT_KEY is unset or empty here")
    # an attacker who edits NO-GO to GO keeps the signature field: still refused
    v["verdict"] = "GO"
    assert refused(capsys, tmp_path, v, sign=False).startswith("signature: ")
    # skipping the signature it cannot check is not authenticating the verdict
    assert refused(capsys, tmp_path, v, "--no-signature-check", sign=False).startswith(
        "authentication: no signature was checked")
    code, lines = run(capsys, tmp_path, v, "--allow-unsigned", sign=False)
    assert code == 0 and "NOT AUTHENTICATED" in lines[0]


def test_attestation_beside_verdict_needs_a_public_key(capsys, tmp_path) -> None:
    (tmp_path / "verdict.intoto.jsonl").write_text("{}\n")
    assert refused(capsys, tmp_path, go_verdict(), sign=False).startswith(
        "attestation: verdict.intoto.jsonl: an Ed25519-signed verdict cannot be checked "
        "without --public-key")
    # the HMAC key checks the verdict: the attestation it cannot check may be skipped
    assert run(capsys, tmp_path, go_verdict(), "--no-signature-check")[0] == 0
    (tmp_path / "verdict.intoto.jsonl").unlink()
    v = with_provenance()
    v["provenance"]["signed"] = True  # the run said it signed: the files were dropped
    assert refused(capsys, tmp_path, v, sign=False).startswith(
        "attestation: the verdict says it was signed: ")
    assert refused(capsys, tmp_path, v, "--no-signature-check", sign=False).startswith(
        "authentication: no signature was checked (STAGING_VERDICT_KEY is unset or empty, no "
        "--public-key; it carries an attestation, not checked here)")
    assert run(capsys, tmp_path, v, "--allow-unsigned", sign=False)[0] == 0


def test_public_key_without_attestation_is_refused(capsys, tmp_path) -> None:
    _, public = generate_key_pair()
    (tmp_path / "k.pub").write_bytes(public)
    assert refused(capsys, tmp_path, with_provenance(), "--public-key",
                   str(tmp_path / "k.pub"), sign=False).startswith(
        "attestation: no verdict.intoto.jsonl beside the verdict")
    # --allow-unsigned never excuses a check that can be made
    assert refused(capsys, tmp_path, with_provenance(), "--public-key",
                   str(tmp_path / "k.pub"), "--allow-unsigned", sign=False).startswith(
        "attestation: no verdict.intoto.jsonl beside the verdict")
    assert refused(capsys, tmp_path, with_provenance(), "--public-key",
                   str(tmp_path / "nope.pub"), sign=False).startswith("public-key: cannot read")
    (tmp_path / "bad.pub").write_text("garbage")
    assert refused(capsys, tmp_path, with_provenance(), "--public-key",
                   str(tmp_path / "bad.pub"), sign=False).startswith("public-key: ")


def test_edited_verdict_json_is_refused_against_its_attestation(capsys, tmp_path) -> None:
    private_pem, public_pem = generate_key_pair()
    (tmp_path / "k.pub").write_bytes(public_pem)
    v = with_provenance()
    for name, text in attest_verdict(v, load_private_key(private_pem, "k")).items():
        (tmp_path / name).write_text(text)
    code, lines = run(capsys, tmp_path, v, "--public-key", str(tmp_path / "k.pub"), "--explain",
                      sign=False)
    assert code == 0, lines
    assert "  ok   authentication: authenticated by Ed25519 attestation" in lines
    edited = clone(v)
    edited["provenance"]["commit"] = "f" * 40
    assert refused(capsys, tmp_path, edited, "--public-key", str(tmp_path / "k.pub"),
                   sign=False) == (
        "attestation: verdict.json differs from the verdict the attestation signed (edited "
        "after signing)")
    # the signed flag flipped off and the attestation deleted: nothing checks the verdict
    edited = clone(v)
    edited["provenance"]["signed"] = False
    for name in ("verdict.intoto.jsonl", "verdict.intoto.json"):
        (tmp_path / name).unlink()
    assert refused(capsys, tmp_path, edited, sign=False).startswith(
        "authentication: no signature was checked")
    assert refused(capsys, tmp_path, edited, "--public-key", str(tmp_path / "k.pub"),
                   sign=False).startswith("attestation: no verdict.intoto.jsonl beside")


def test_default_max_age_is_24h_and_none_disables_it(capsys, tmp_path) -> None:
    old = go_verdict(finished=datetime.now(timezone.utc) - timedelta(hours=25))
    assert refused(capsys, tmp_path, old).startswith("age: finished 1d 1h ago")
    assert run(capsys, tmp_path, old, "--max-age", "none")[0] == 0
    assert run(capsys, tmp_path, old, "--max-age", "2d")[0] == 0
    future = go_verdict(finished=datetime.now(timezone.utc) + timedelta(hours=2))
    for args in ((), ("--max-age", "none"), ("--max-age", "52w")):
        assert "in the future" in refused(capsys, tmp_path, future, *args)
    skewed = go_verdict(finished=datetime.now(timezone.utc) + timedelta(seconds=60))
    assert run(capsys, tmp_path, skewed)[0] == 0  # within the clock skew allowance


@pytest.mark.parametrize("value", ["99999999999w", "9" * 400, "1e400s", "-1h", "", "nan"])
def test_absurd_max_age_is_a_usage_error_without_traceback(capsys, tmp_path, value) -> None:
    code, lines = run(capsys, tmp_path, go_verdict(), "--max-age", value)
    assert code == 2
    assert "Traceback" not in "\n".join(lines)
    assert lines[-1].startswith("pytest-staging verify: error: argument --max-age")


# -- binding to the run in hand -----------------------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (("--expect-subject", "1.2.4"), "subject: expected 1.2.4, the verdict is for 1.2.3"),
    (("--expect-commit", "fedcba9"), "commit: expected suite commit fedcba9, the verdict was "
                                     "made at 0123456789abcdef0123456789abcdef01234567"),
    (("--expect-commit", "0123"), "commit: "),  # too short to be a prefix
    (("--expect-run-id", "4243"), "run-id: expected CI run 4243 (--expect-run-id), the "
                                  "verdict comes from run 4242"),
    (("--expect-policy-digest", "c" * 64), "policy: policy digest " + "a" * 64),
])
def test_binding_mismatches_are_refused(capsys, tmp_path, args, expected) -> None:
    assert refused(capsys, tmp_path, with_provenance(), *args).startswith(expected)


def test_binding_matches_pass(capsys, tmp_path) -> None:
    code, lines = run(capsys, tmp_path, with_provenance(), "--expect-subject", "1.2.3",
                      "--expect-commit", "0123456", "--expect-run-id", "4242",
                      "--expect-policy-digest", "sha256:" + "a" * 64)
    assert code == 0, lines
    assert "subject 1.2.3" in lines[0] and "CI run 4242" in lines[0]


def test_binding_needs_provenance(capsys, tmp_path) -> None:
    assert refused(capsys, tmp_path, go_verdict(), "--expect-commit", "0123456789") == (
        "commit: the verdict has no provenance to bind to")


@pytest.mark.parametrize("flag", ["--expect-subject", "--expect-commit", "--expect-run-id",
                                  "--expect-version", "--public-key"])
def test_empty_binding_values_are_refused(capsys, tmp_path, flag) -> None:
    # A usage error, exit 2 like argparse's own (issue 24 item 10: --expect-version "" was 1).
    assert "is empty" in refused(capsys, tmp_path, with_provenance(), flag, "", code=2)


def test_run_id_defaults_to_the_current_ci_run(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_RUN_ID", "9999")
    assert refused(capsys, tmp_path, with_provenance()) == (
        "run-id: expected CI run 9999 (the current CI run), the verdict comes from run 4242")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    assert run(capsys, tmp_path, with_provenance())[0] == 0
    monkeypatch.setenv("GITHUB_RUN_ID", "9999")
    assert run(capsys, tmp_path, with_provenance(), "--expect-run-id", "none")[0] == 0
    # a verdict that recorded no run id is not bound by default
    assert run(capsys, tmp_path, go_verdict())[0] == 0


# -- no traceback on any input ------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "{}", "null", "[]", '"GO"', "1e999999", "9" * 5000, '{"schema": 1}',
    '{"schema": "pytest-staging/verdict@1", "verdict": "GO", "reasons": [], "warnings": [], '
    '"run": [], "target": 5, "gates": {"x": 1}, "tests": [1]}',
    "[" * 100000, "[" * 100000 + "]" * 100000,
])
def test_garbage_files_are_refused_in_one_line(capsys, tmp_path, text: str) -> None:
    assert "internal error" not in refused(capsys, tmp_path, text)


def test_deeply_nested_fields_are_refused_without_crash(capsys, tmp_path) -> None:
    v = with_provenance()
    deep: Any = "x"
    for _ in range(400):  # 800 levels: json.loads takes them, recursion may not
        deep = {"k": [deep]}
    v["provenance"]["ci"]["deep"] = deep
    v["gates"]["integration"]["metrics"] = deep
    code, lines = run(capsys, tmp_path, v, "--explain")
    assert code in (0, 3) and not any("internal error" in line for line in lines), lines


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["run", "target", "gates", "tests", "selection",
                                      "provenance", "integration", "counts", "observed_version",
                                      "finished", "complete", "outcome", "status", 0,
                                      "partial", "ci", "run_id", "blocking", "checks"]),
                     min_size=1, max_size=4),
       value=st.one_of(_scalars, st.lists(_scalars, max_size=3),
                       st.dictionaries(st.text(max_size=5), _scalars, max_size=3)))
def test_any_wrong_type_anywhere_never_crashes(capsys, tmp_path, path, value) -> None:
    v = with_provenance()
    node: Any = v
    for step in path[:-1]:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and node:
            node = node[0]
    last = path[-1]
    if isinstance(node, dict) and not isinstance(last, int):
        node[last] = value
    elif isinstance(node, list) and node:
        node[0] = value
    code, lines = run(capsys, tmp_path, v, "--explain", "--expect-subject", "1.2.3",
                      "--expect-commit", "0123456", "--expect-run-id", "4242")
    assert code in (0, 3)  # verified, or refused: an edited GO is never "failed"
    assert not any("Traceback" in line or "internal error" in line for line in lines), lines


def test_expect_policy_file(capsys, tmp_path) -> None:
    from pytest_staging.policy import load_policy
    from pytest_staging.provenance import policy_digest

    policy_file = tmp_path / "staging-policy.toml"
    policy_file.write_text("[flaky]\npolicy = \"fail\"\n")
    policy = load_policy(policy_file, tmp_path)
    v = with_provenance()
    v["provenance"]["policy_digest"] = policy_digest(policy.values, policy.gates)
    code, lines = run(capsys, tmp_path, v, "--expect-policy", str(policy_file))
    assert code == 0, lines
    policy_file.write_text("[flaky]\npolicy = \"warn\"\n")  # weakened after the run
    assert refused(capsys, tmp_path, v, "--expect-policy", str(policy_file)).startswith(
        "policy: policy digest ")
    policy_file.write_text("[flaky]\npolicy = 3\n")
    assert refused(capsys, tmp_path, v, "--expect-policy", str(policy_file)).startswith(
        f"policy: --expect-policy {policy_file}: ")
    assert refused(capsys, tmp_path, v, "--expect-policy", str(policy_file),
                   "--expect-policy-digest", "a" * 64, code=2).startswith(
        "usage: give --expect-policy")


_KEYS = generate_key_pair()


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["run", "target", "gates", "tests", "selection",
                                      "provenance", "integration", "counts", "observed_version",
                                      "id", "commit", "subject", "outcome", "status", 0,
                                      "passed", "warnings", "ci", "run_id", "policy_digest"]),
                     min_size=1, max_size=4),
       value=_scalars)
def test_any_edit_of_an_attested_verdict_is_refused(capsys, tmp_path, path, value) -> None:
    """Whatever field an attacker edits in verdict.json, the public-key check refuses it."""
    from pytest_staging.provenance import canonical_json

    v = with_provenance()
    v["warnings"] = []
    for name, text in attest_verdict(v, load_private_key(_KEYS[0], "k")).items():
        (tmp_path / name).write_text(text)
    (tmp_path / "k.pub").write_bytes(_KEYS[1])
    edited: Any = clone(v)
    node: Any = edited
    for step in path[:-1]:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and node:
            node = node[0]
    last = path[-1]
    if isinstance(node, dict) and not isinstance(last, int):
        node[last] = value
    elif isinstance(node, list) and node:
        node[0] = value
    code, lines = run(capsys, tmp_path, edited, "--public-key", str(tmp_path / "k.pub"),
                      sign=False)
    if canonical_json(edited) == canonical_json(v):
        assert code == 0, lines
    else:
        assert code == 3, lines


# -- --expect-target: the environment the verdict tested -----------------------------------------
def at(url: str) -> dict[str, Any]:
    v = with_provenance()
    v["target"]["url"] = url
    return v


@pytest.mark.parametrize("written", [
    "https://staging.example.com/api/",
    "https://staging.example.com/api",  # no trailing slash
    "https://staging.example.com:443/api/",  # the default port
    "HTTPS://Staging.Example.COM/api",  # scheme and host case
    "https://staging.example.com./api/",  # the root label
    "https://staging.example.com/v1/../api/",  # dot segments
    "https://staging.example.com/%61pi/",  # an unreserved character percent-encoded
    "https://deploy:hunter2-secret@staging.example.com/api/?token=t0k3n-secret",
])
def test_expect_target_accepts_the_same_target_written_differently(capsys, tmp_path,
                                                                    written) -> None:
    code, lines = run(capsys, tmp_path, at("https://staging.example.com/api/"),
                      "--expect-target", written)
    assert code == 0, lines
    assert "target https://staging.example.com/api/" in lines[0]
    assert "secret" not in lines[0]


@pytest.mark.parametrize(("written", "shown"), [
    ("http://staging.example.com/api/", "http://staging.example.com/api/"),  # scheme
    ("https://staging.example.com:8443/api/", "https://staging.example.com:8443/api/"),  # port
    ("https://staging.example.com/", "https://staging.example.com/"),  # path
    ("https://staging.example.com/api/v2", "https://staging.example.com/api/v2/"),  # path
    ("https://staging.example.org/api/", "https://staging.example.org/api/"),  # host
    ("https://laptop.local/api/", "https://laptop.local/api/"),  # a copy elsewhere
    ("https://u:hunter2-secret@prod.example.com/api/?sig=s1g-secret",
     "https://prod.example.com/api/"),
])
def test_expect_target_refuses_another_environment(capsys, tmp_path, written, shown) -> None:
    assert refused(capsys, tmp_path, at("https://staging.example.com/api/"),
                   "--expect-target", written) == (
        f"target: expected target {shown}, the verdict tested https://staging.example.com/api/")


def test_expect_target_on_a_verdict_without_a_usable_target(capsys, tmp_path) -> None:
    assert refused(capsys, tmp_path, at("not a url"), "--expect-target",
                   "https://staging.example.com/") == (
        "target: expected target https://staging.example.com/, the verdict's target 'not a url' "
        "is not a URL")
    v = with_provenance()
    del v["target"]["url"]
    assert refused(capsys, tmp_path, v, "--expect-target", "https://staging.example.com/"
                   ).startswith("schema: ")


@pytest.mark.parametrize(("value", "expected"), [
    ("", "usage: --expect-target is empty"),
    ("staging.example.com", "usage: --expect-target: must be an http(s) URL with a host, got "
                            "'staging.example.com'"),
    ("ftp://u:pw-secret@staging.example.com/", "usage: --expect-target: must be an http(s) URL "
                                              "with a host, got 'ftp://u:***@staging"),
    ("https://staging.example.com:99999/", "usage: --expect-target: has an invalid port"),
])
def test_expect_target_that_is_not_a_url_is_refused(capsys, tmp_path, value, expected) -> None:
    line = refused(capsys, tmp_path, at("https://staging.example.com/"), "--expect-target", value,
                   code=2)
    assert line.startswith(expected) and "pw-secret" not in line
