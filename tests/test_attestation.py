"""Ed25519 keys, DSSE envelopes and in-toto Statements, checked against the spec and against
independent implementations (securesystemslib's DSSE, in-toto-attestation's protobufs)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from verdict_samples import go_verdict, nogo_verdict

from pytest_staging.attestation import (
    BUNDLE_FILE,
    ENVELOPE_FILE,
    PAYLOAD_TYPE,
    TEST_RESULT_PREDICATE,
    VERDICT_PREDICATE,
    AttestationError,
    attest,
    generate_key_pair,
    key_id,
    load_private_key,
    load_public_key,
    open_envelope,
    pae,
    result_predicate,
    secret_forms,
    sign_envelope,
    subject_descriptor,
)
from pytest_staging.cli import main

STATEMENT_SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "intoto-statement-v1.schema.json").read_text())
IMAGE = "ghcr.io/acme/shop@sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def keys() -> tuple[Any, Any]:
    private_pem, public_pem = generate_key_pair()
    return load_private_key(private_pem, "test"), load_public_key(public_pem, "test")


def signed_verdict(verdict: dict[str, Any] | None = None, subject: str = IMAGE
                   ) -> dict[str, Any]:
    v = verdict or go_verdict()
    v["provenance"] = {"subject": subject, "policy_digest": "1" * 64, "suite_digest": "2" * 64,
                       "policy_source": "policy.toml", "commit": "c" * 40,
                       "ci": {"system": "github-actions", "run_id": "77",
                              "url": "https://github.com/acme/shop/actions/runs/77"},
                       "signed": True}
    return v


def test_pae_matches_the_dsse_spec_example_and_securesystemslib() -> None:
    # DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world")
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    dsse = pytest.importorskip("securesystemslib.dsse")
    body = "é ünïcode payload \n with newline".encode()
    assert pae(PAYLOAD_TYPE, body) == dsse.Envelope(body, PAYLOAD_TYPE, {}).pae()


def test_envelope_round_trip_and_one_byte_changes(keys) -> None:
    private, public = keys
    envelope = sign_envelope(b'{"a": 1}', private)
    assert envelope["signatures"][0]["keyid"] == key_id(public)
    assert open_envelope(envelope, public) == b'{"a": 1}'
    raw_payload = base64.b64decode(envelope["payload"])
    raw_sig = base64.b64decode(envelope["signatures"][0]["sig"])
    for i in range(len(raw_payload)):
        edited = bytearray(raw_payload)
        edited[i] ^= 0x01
        bad = {**envelope, "payload": base64.b64encode(bytes(edited)).decode()}
        with pytest.raises(AttestationError, match="no signature of the envelope verifies"):
            open_envelope(bad, public)
    for i in range(0, len(raw_sig), 7):
        edited = bytearray(raw_sig)
        edited[i] ^= 0x80
        bad = {**envelope, "signatures": [{"keyid": "x",
                                           "sig": base64.b64encode(bytes(edited)).decode()}]}
        with pytest.raises(AttestationError):
            open_envelope(bad, public)
    # a payloadType change is covered by the PAE
    with pytest.raises(AttestationError, match="payloadType"):
        open_envelope({**envelope, "payloadType": "application/json"}, public)


def test_another_key_is_refused(keys) -> None:
    private, _ = keys
    other = load_public_key(generate_key_pair()[1], "other")
    with pytest.raises(AttestationError, match="another key"):
        open_envelope(sign_envelope(b"x", private), other)


@pytest.mark.parametrize("envelope", [
    None, [], "text", {}, {"payloadType": PAYLOAD_TYPE},
    {"payloadType": PAYLOAD_TYPE, "payload": "!!!", "signatures": []},
    {"payloadType": PAYLOAD_TYPE, "payload": "e30=", "signatures": "no"},
    {"payloadType": PAYLOAD_TYPE, "payload": "e30=", "signatures": [1, None, {"sig": 5}]},
    {"payloadType": PAYLOAD_TYPE, "payload": 12, "signatures": [{"sig": "AA=="}]},
])
def test_malformed_envelopes_are_refused_with_an_error(keys, envelope: Any) -> None:
    with pytest.raises(AttestationError):
        open_envelope(envelope, keys[1])


def test_securesystemslib_verifies_our_envelope(keys) -> None:
    dsse = pytest.importorskip("securesystemslib.dsse")
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    private, public = keys
    files = attest(signed_verdict(), private)
    envelope = json.loads(files[ENVELOPE_FILE])
    key = SSlibKey.from_crypto(public, keyid=key_id(public))
    accepted = dsse.Envelope.from_dict(json.loads(json.dumps(envelope))).verify([key], 1)
    assert list(accepted) == [key_id(public)]
    # and a one-byte change of the payload is refused by it too
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[10] ^= 0x01
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    with pytest.raises(VerificationError):
        dsse.Envelope.from_dict(envelope).verify([key], 1)
    # every line of the bundle too
    for line in files[BUNDLE_FILE].splitlines():
        assert dsse.Envelope.from_dict(json.loads(line)).verify([key], 1)


def _statements(files: dict[str, str], public: Any) -> list[dict[str, Any]]:
    return [json.loads(open_envelope(json.loads(line), public))
            for line in files[BUNDLE_FILE].splitlines()]


def test_statements_validate_against_the_spec(keys) -> None:
    private, public = keys
    files = attest(signed_verdict(), private)
    result, full = _statements(files, public)
    assert json.loads(open_envelope(json.loads(files[ENVELOPE_FILE]), public)) == result
    validator = Draft202012Validator(STATEMENT_SCHEMA)
    for stmt in (result, full):
        assert list(validator.iter_errors(stmt)) == []
    assert result["predicateType"] == TEST_RESULT_PREDICATE
    assert full["predicateType"] == VERDICT_PREDICATE
    assert result["subject"] == full["subject"] == [
        {"name": "ghcr.io/acme/shop", "digest": {"sha256": "ab" * 32}}]
    assert full["predicate"]["verdict"] == "GO"
    # the schema does refuse what the spec forbids
    assert list(validator.iter_errors({**result, "subject": []}))
    assert list(validator.iter_errors({**result, "predicate": {**result["predicate"],
                                                                "result": "OK"}}))


def test_statements_parse_with_the_in_toto_protobufs(keys) -> None:
    pytest.importorskip("in_toto_attestation")
    from google.protobuf import json_format
    from in_toto_attestation.predicates.test_result.v0.test_result_pb2 import TestResult
    from in_toto_attestation.v1.statement import Statement
    from in_toto_attestation.v1.statement_pb2 import Statement as StatementProto

    private, public = keys
    result, full = _statements(attest(signed_verdict(nogo_verdict()), private), public)
    for stmt in (result, full):
        # json_format.Parse refuses unknown fields: the field names are the spec's
        proto = json_format.Parse(json.dumps(stmt), StatementProto())
        Statement.copy_from_pb(proto).validate()
    predicate = json_format.ParseDict(result["predicate"], TestResult())
    assert predicate.result == "FAILED"
    assert list(predicate.failed_tests) == ["tests/test_api.py::test_checkout"]
    assert predicate.url == "https://github.com/acme/shop/actions/runs/77"
    assert [c.name for c in predicate.configuration] == ["policy:policy.toml", "suite"]
    assert predicate.configuration[0].digest["sha256"] == "1" * 64


def test_result_mapping() -> None:
    v = go_verdict()
    assert result_predicate(v)["result"] == "WARNED"  # a GO with a warning
    v["warnings"] = []
    p = result_predicate(v)
    assert p["result"] == "PASSED" and "url" not in p
    assert "tests/test_api.py::test_search" in p["warnedTests"]  # flaky
    assert "tests/test_api.py::test_health" in p["passedTests"]
    assert result_predicate(nogo_verdict())["result"] == "FAILED"


@pytest.mark.parametrize(("subject", "name", "digest"), [
    (IMAGE, "ghcr.io/acme/shop", "ab" * 32),
    # not an image digest: the sha256 of the subject string itself
    ("1.4.2", "1.4.2", hashlib.sha256(b"1.4.2").hexdigest()),
    ("shop@sha256:ABC", "shop@sha256:ABC", hashlib.sha256(b"shop@sha256:ABC").hexdigest()),
])
def test_subject_descriptor(subject: str, name: str, digest: str) -> None:
    assert subject_descriptor(subject) == {"name": name, "digest": {"sha256": digest}}


def test_attest_needs_a_subject(keys) -> None:
    v = go_verdict()
    with pytest.raises(AttestationError, match="no provenance subject"):
        attest(v, keys[0])


def test_keygen_modes_and_refusals(tmp_path: Path, capsys) -> None:
    old = os.umask(0)
    try:
        assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    finally:
        os.umask(old)
    out = capsys.readouterr().out
    private, public = tmp_path / "k" / "staging-signing.key", tmp_path / "k" / "staging-signing.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    load_private_key(private.read_bytes(), "k")
    keyid = key_id(load_public_key(public.read_bytes(), "k"))
    assert keyid in out
    for form in secret_forms(private.read_bytes()):
        assert form not in out
    # never overwrites silently
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["keygen", "--out", str(tmp_path / "k"), "--force"]) == 0
    assert key_id(load_public_key(public.read_bytes(), "k")) != keyid


def test_wrong_keys_are_refused_without_showing_them() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with pytest.raises(AttestationError, match="an Ed25519 key is needed"):
        load_private_key(ec_pem, "k.pem")
    garbage = b"-----BEGIN PRIVATE KEY-----\nTk9UQUtFWQ==\n-----END PRIVATE KEY-----\n"
    with pytest.raises(AttestationError) as info:
        load_private_key(garbage, "k.pem")
    assert "Tk9UQUtFWQ" not in str(info.value)
    with pytest.raises(AttestationError, match="not a PEM public key"):
        load_public_key(b"nope", "pub.pem")


def test_secret_forms_cover_pem_body_and_raw_seed() -> None:
    private_pem, _ = generate_key_pair()
    key = load_private_key(private_pem, "k")
    from cryptography.hazmat.primitives import serialization

    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    forms = secret_forms(private_pem)
    assert raw.hex() in forms and base64.b64encode(raw).decode() in forms
    body = "".join(private_pem.decode().splitlines()[1:-1])
    assert body in forms


def test_docs_securesystemslib_script_verifies_and_refuses(keys, tmp_path: Path) -> None:
    """docs/examples/verify_with_securesystemslib.py, as a user runs it."""
    import subprocess
    import sys

    pytest.importorskip("securesystemslib")
    from cryptography.hazmat.primitives import serialization

    script = Path(__file__).parent.parent / "docs" / "examples" / "verify_with_securesystemslib.py"
    private, public = keys
    (tmp_path / "k.pub").write_bytes(public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    envelope = tmp_path / ENVELOPE_FILE
    envelope.write_text(attest(signed_verdict(), private)[ENVELOPE_FILE])
    done = subprocess.run([sys.executable, str(script), str(envelope), str(tmp_path / "k.pub")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"verified: {TEST_RESULT_PREDICATE}",
        f"subject: ghcr.io/acme/shop sha256:{'ab' * 32}",
        "result: WARNED"]
    data = json.loads(envelope.read_text())
    data["payload"] = base64.b64encode(base64.b64decode(data["payload"]).replace(
        b"WARNED", b"PASSED")).decode()
    envelope.write_text(json.dumps(data))
    done = subprocess.run([sys.executable, str(script), str(envelope), str(tmp_path / "k.pub")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout.startswith("REFUSED")
