"""Signed in-toto attestations of a verdict: Ed25519 keys, Statements and DSSE envelopes.

Two files are written beside ``verdict.json`` when a signing key is configured:

``verdict.intoto.json``
    One DSSE envelope (``payloadType`` ``application/vnd.in-toto+json``) whose payload is an
    in-toto Statement v1 with the standard **test-result** predicate
    (``https://in-toto.io/attestation/test-result/v0.1``). This is the file generic tools read.
``verdict.intoto.jsonl``
    The in-toto *bundle* (JSON Lines, one DSSE envelope per line, as the attestation spec
    defines bundles): line 1 is the same test-result envelope, line 2 an envelope whose
    Statement carries the whole verdict under our predicate type ``VERDICT_PREDICATE``.

A Statement has exactly one predicate type, so the full verdict cannot share the test-result
Statement without breaking the spec; one envelope per Statement, grouped in a bundle, is the
standard layout. Both Statements have the same subject.

The subject is what was tested: an image reference ``name@sha256:<hex>`` gives
``{"name": name, "digest": {"sha256": hex}}``; anything else (a version string, a URL) gives
``{"name": subject, "digest": {"sha256": sha256(subject as UTF-8)}}`` because Statement v1
requires a digest on every subject.

Signatures: Ed25519 over DSSE's pre-authentication encoding, through ``cryptography``. The
``keyid`` is the sha256 (hex) of the public key's DER SubjectPublicKeyInfo.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

# cryptography is imported where a key is used: an active run without a signing key (most
# runs) does not pay for it.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
TEST_RESULT_PREDICATE = "https://in-toto.io/attestation/test-result/v0.1"
VERDICT_PREDICATE = "https://pytest-staging.invalid/attestation/verdict/v1"
ENVELOPE_FILE = "verdict.intoto.json"
BUNDLE_FILE = "verdict.intoto.jsonl"
ENV_SIGNING_KEY = "STAGING_SIGNING_KEY"
PRIVATE_KEY_FILE = "staging-signing.key"
PUBLIC_KEY_FILE = "staging-signing.pub"
#: An attestation file larger than this is refused unread (a verdict is a few MB at most).
MAX_FILE_BYTES = 64 * 1024 * 1024

_IMAGE_REF = re.compile(r"^(?P<name>[^@\s]+)@sha256:(?P<hex>[0-9a-f]{64})$")


class AttestationError(ValueError):
    """A key, envelope or Statement that cannot be used; the message is one line."""


# -- keys ------------------------------------------------------------------------------------
def generate_key_pair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as ``(private PEM (PKCS#8), public PEM (SPKI))``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def write_key_pair(directory: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write a new key pair into ``directory``: the private key with mode 0600 (created so,
    never widened), the public key 0644. Refuses to overwrite unless ``force``."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / PRIVATE_KEY_FILE, directory / PUBLIC_KEY_FILE
    if not force:
        for path in (private_path, public_path):
            if path.exists():
                raise AttestationError(f"{path} exists (pass --force to replace it)")
    private, public = generate_key_pair()
    with _open_0600(private_path, force) as handle:
        handle.write(private)
    public_path.write_bytes(public)
    return private_path, public_path


def _open_0600(path: Path, force: bool) -> Any:
    if force:
        path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    return os.fdopen(fd, "wb")


def load_private_key(pem: bytes, where: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM; AttestationError naming ``where`` (never the key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # The message of the underlying error could quote the input: never shown.
        raise AttestationError(f"{where}: not an unencrypted PEM private key") from None
    except Exception:  # cryptography's unsupported-algorithm and friends
        raise AttestationError(f"{where}: not a usable PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AttestationError(f"{where}: an Ed25519 key is needed, found "
                               f"{type(key).__name__.lstrip('_')}")
    return key


def load_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, or AttestationError naming ``where``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except Exception:
        raise AttestationError(f"{where}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AttestationError(f"{where}: an Ed25519 public key is needed, found "
                               f"{type(key).__name__.lstrip('_')}")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    """sha256 (hex) of the DER SubjectPublicKeyInfo: a stable name for the key."""
    from cryptography.hazmat.primitives import serialization

    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def secret_forms(pem: bytes) -> set[str]:
    """Every textual form of a private key that must never appear in an output: the PEM,
    each base64 line of its body, the body joined, and the raw 32-byte seed in hex and
    base64 (when the PEM parses)."""
    text = pem.decode("ascii", "replace")
    forms = {text.strip()}
    body = [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith("-----")]
    forms.update(body)
    forms.add("".join(body))
    try:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(pem, password=None)
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        forms.update({raw.hex(), base64.b64encode(raw).decode(),
                      base64.urlsafe_b64encode(raw).decode().rstrip("=")})
    except Exception:
        pass
    return {f for f in forms if len(f) >= 16}


# -- DSSE ------------------------------------------------------------------------------------
def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding:
    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` (lengths in ASCII decimal bytes)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign_envelope(payload: bytes, key: Ed25519PrivateKey,
                  payload_type: str = PAYLOAD_TYPE) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` signed with ``key``."""
    signature = key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": key_id(key.public_key()),
                        "sig": base64.b64encode(signature).decode("ascii")}],
    }


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise AttestationError(f"envelope {what} is not a base64 string")
    try:
        # DSSE allows standard or URL-safe base64; strict: no stray characters.
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        raise AttestationError(f"envelope {what} is not valid base64") from None


def open_envelope(envelope: Any, public: Ed25519PublicKey) -> bytes:
    """Verify a DSSE envelope with ``public``; return its payload bytes.

    Accepts when one signature verifies over the PAE of the envelope's payload type and payload;
    raises AttestationError otherwise (one line, naming what failed).
    """
    if not isinstance(envelope, Mapping):
        raise AttestationError("not a DSSE envelope (expected a JSON object)")
    payload_type = envelope.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise AttestationError(f"envelope payloadType is {str(payload_type)[:60]!r}, expected "
                               f"{PAYLOAD_TYPE!r}")
    payload = _b64(envelope.get("payload"), "payload")
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise AttestationError("envelope has no signatures")
    message = pae(payload_type, payload)
    from cryptography.exceptions import InvalidSignature

    for entry in signatures[:16]:
        if not isinstance(entry, Mapping):
            continue
        try:
            sig = _b64(entry.get("sig"), "signature")
        except AttestationError:
            continue
        try:
            public.verify(sig, message)
        except InvalidSignature:
            continue
        return payload
    raise AttestationError(f"no signature of the envelope verifies with the public key "
                           f"(keyid {key_id(public)[:16]}...): signed with another key, or "
                           "edited after signing")


# -- Statements ------------------------------------------------------------------------------
def subject_descriptor(subject: str) -> dict[str, Any]:
    """The in-toto ResourceDescriptor of what was tested (see the module docstring)."""
    match = _IMAGE_REF.match(subject)
    if match:
        return {"name": match["name"], "digest": {"sha256": match["hex"]}}
    return {"name": subject,
            "digest": {"sha256": hashlib.sha256(subject.encode("utf-8")).hexdigest()}}


def _test_lists(verdict: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    passed, warned, failed = [], [], []
    for test in verdict.get("tests") or []:
        if not isinstance(test, Mapping):
            continue
        nodeid, outcome = str(test.get("nodeid", "")), test.get("outcome")
        if outcome == "passed":
            (warned if test.get("flaky") else passed).append(nodeid)
        elif outcome in ("failed", "error", "incomplete"):
            (failed if test.get("blocking", True) else warned).append(nodeid)
    return passed, warned, failed


def result_predicate(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The in-toto test-result predicate of a verdict.

    ``result``: FAILED for a NO-GO, WARNED for a GO with warnings, else PASSED.
    ``configuration``: the policy and the suite by digest. ``url``: the CI run (if any).
    """
    prov = verdict.get("provenance") or {}
    if verdict.get("verdict") != "GO":
        result = "FAILED"
    elif verdict.get("warnings"):
        result = "WARNED"
    else:
        result = "PASSED"
    configuration = []
    if prov.get("policy_digest"):
        configuration.append({"name": f"policy:{prov.get('policy_source') or 'policy'}",
                              "digest": {"sha256": prov["policy_digest"]}})
    if prov.get("suite_digest"):
        configuration.append({"name": "suite", "digest": {"sha256": prov["suite_digest"]}})
    passed, warned, failed = _test_lists(verdict)
    predicate: dict[str, Any] = {"result": result, "configuration": configuration}
    url = (prov.get("ci") or {}).get("url")
    if url:
        predicate["url"] = str(url)
    predicate.update({"passedTests": passed, "warnedTests": warned, "failedTests": failed})
    return predicate


def statement(subject: str, predicate_type: str, predicate: Mapping[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1."""
    return {"_type": STATEMENT_TYPE, "subject": [subject_descriptor(subject)],
            "predicateType": predicate_type, "predicate": dict(predicate)}


def _payload(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def attest(verdict: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, str]:
    """``{file name: text}`` of the signed attestations of ``verdict`` (as written, without
    its HMAC ``signature`` field)."""
    body = {k: v for k, v in verdict.items() if k != "signature"}
    subject = str((body.get("provenance") or {}).get("subject") or "")
    if not subject:
        raise AttestationError("the verdict has no provenance subject to attest")
    result = sign_envelope(_payload(statement(subject, TEST_RESULT_PREDICATE,
                                              result_predicate(body))), key)
    full = sign_envelope(_payload(statement(subject, VERDICT_PREDICATE, body)), key)
    return {
        ENVELOPE_FILE: json.dumps(result, indent=2) + "\n",
        BUNDLE_FILE: json.dumps(result, separators=(",", ":")) + "\n"
                     + json.dumps(full, separators=(",", ":")) + "\n",
    }


def read_statement(payload: bytes) -> dict[str, Any]:
    """Parse and shape-check a Statement v1 payload (AttestationError when it is not one)."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AttestationError("the signed payload is not JSON") from None
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
        raise AttestationError(f"the signed payload is not an in-toto Statement "
                               f"({STATEMENT_TYPE})")
    subjects = data.get("subject")
    if (not isinstance(subjects, list) or not subjects
            or not all(isinstance(s, dict) and isinstance(s.get("digest"), dict)
                       and s["digest"] for s in subjects)):
        raise AttestationError("the Statement has no subject with a digest")
    if not isinstance(data.get("predicateType"), str) or not isinstance(
            data.get("predicate"), dict):
        raise AttestationError("the Statement has no predicateType / predicate object")
    return data
