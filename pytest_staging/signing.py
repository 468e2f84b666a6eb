"""Signing verdicts: canonical JSON and HMAC-SHA256.

The signature covers the whole verdict except the ``signature`` field itself, serialised as
canonical JSON (sorted keys, compact separators, ASCII only), so the writer and ``pytest-staging
verify`` agree byte for byte whatever the indentation of the file on disk. The key is only ever
read from the environment and never appears in any output.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any

from pytest_staging.canonical import canonical_json

DEFAULT_KEY_ENV = "STAGING_VERDICT_KEY"
SIGNATURE_FIELD = "signature"


def signed_bytes(verdict: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: the canonical JSON (``canonical.canonical_json``,
    strict) of ``verdict`` without its top-level ``signature`` field."""
    body = {k: v for k, v in verdict.items() if k != SIGNATURE_FIELD}
    return canonical_json(body, strict=True)


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else key


def sign(verdict: Mapping[str, Any], key: str | bytes) -> str:
    """Return the HMAC-SHA256 hex digest of the canonical JSON of ``verdict``."""
    if not key:
        raise ValueError("empty signing key")
    return hmac.new(_key_bytes(key), signed_bytes(verdict), hashlib.sha256).hexdigest()


def signed(verdict: Mapping[str, Any], key: str | bytes) -> dict[str, Any]:
    """Return a copy of ``verdict`` with its ``signature`` field set."""
    out = {k: v for k, v in verdict.items() if k != SIGNATURE_FIELD}
    out[SIGNATURE_FIELD] = sign(out, key)
    return out


def verify_signature(verdict: Mapping[str, Any], key: str | bytes) -> bool:
    """Return True when ``verdict`` carries a signature that matches ``key``.

    An unsigned verdict, a signature that is not a string, or any edit to the signed content
    returns False. The comparison is constant-time.
    """
    given = verdict.get(SIGNATURE_FIELD)
    if not isinstance(given, str) or not given:
        return False
    try:
        expected = sign(verdict, key)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, given.lower())


def key_from_env(name: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the signing key from env var ``name`` (default ``STAGING_VERDICT_KEY``).

    An unset or empty variable means "no key" and returns None.
    """
    env = os.environ if environ is None else environ
    value = env.get(name or DEFAULT_KEY_ENV, "")
    return value or None
