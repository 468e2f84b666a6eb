"""Canonical JSON and HMAC signing of verdicts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from verdict_samples import clone, go_verdict

from pytest_staging.reports.json_report import render_json
from pytest_staging.signing import (
    key_from_env,
    sign,
    signed,
    signed_bytes,
    verify_signature,
)

KEY = "s3cret-signing-key"


def test_signed_bytes_are_sorted_compact_and_ignore_signature() -> None:
    a = {"b": 1, "a": {"y": [1, 2], "x": "é"}, "signature": "ff"}
    b = {"a": {"x": "é", "y": [1, 2]}, "b": 1}
    assert signed_bytes(a) == signed_bytes(b)
    assert signed_bytes(b) == b'{"a":{"x":"\\u00e9","y":[1,2]},"b":1}'


def test_signature_survives_reindenting_the_file() -> None:
    v = signed(go_verdict(), KEY)
    round_tripped = json.loads(json.dumps(v, indent=4))
    assert verify_signature(round_tripped, KEY)


@pytest.mark.parametrize("edit", [
    lambda v: v.__setitem__("verdict", "NO-GO"),
    lambda v: v["reasons"].append("x"),
    lambda v: v["run"].__setitem__("finished", "2020-01-01T00:00:00+00:00"),
    lambda v: v["target"]["observed_version"].__setitem__("end", "1.2.4"),
    lambda v: v["gates"]["integration"]["counts"].__setitem__("failed", 1),
])
def test_any_edit_breaks_the_signature(edit) -> None:
    v = signed(go_verdict(), KEY)
    edited = clone(v)
    edit(edited)
    assert verify_signature(v, KEY)
    assert not verify_signature(edited, KEY)


def test_wrong_key_missing_or_odd_signature_fail() -> None:
    v = signed(go_verdict(), KEY)
    assert not verify_signature(v, "another-key")
    assert not verify_signature(go_verdict(), KEY)
    odd = clone(v)
    odd["signature"] = 12
    assert not verify_signature(odd, KEY)


def test_sign_is_hex_sha256_and_refuses_empty_key() -> None:
    import hashlib
    import hmac

    verdict = go_verdict()
    sig = sign(verdict, KEY)
    # Computed independently: HMAC-SHA256 over sorted, compact JSON without the signature.
    body = {k: v for k, v in verdict.items() if k != "signature"}
    expected = hmac.new(KEY.encode(), json.dumps(body, sort_keys=True, separators=(",", ":"))
                        .encode(), hashlib.sha256).hexdigest()
    assert sig == expected and len(sig) == 64
    with pytest.raises(ValueError):
        sign(go_verdict(), "")


def test_key_from_env() -> None:
    assert key_from_env(environ={"STAGING_VERDICT_KEY": "k"}) == "k"
    assert key_from_env(environ={"STAGING_VERDICT_KEY": ""}) is None
    assert key_from_env("MY_KEY", environ={"MY_KEY": "m", "STAGING_VERDICT_KEY": "k"}) == "m"
    assert key_from_env("MY_KEY", environ={}) is None


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                      st.floats(allow_nan=False, allow_infinity=False))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                          max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_value, max_size=6))
def test_signature_survives_the_file_round_trip(body: dict) -> None:
    """Signed as the run writes it (render_json), verified as verify reads it (json.loads)."""
    v = signed(body, KEY)
    on_disk = render_json(v)
    assert verify_signature(json.loads(on_disk), KEY)
    if body:
        first = next(iter(body))
        altered = json.loads(on_disk)
        altered[first] = [altered[first], 0]
        assert not verify_signature(altered, KEY)
