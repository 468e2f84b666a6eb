"""``pytest-staging verify``: exit 0 only for a fresh, valid, signed GO for the right version.

Verdicts are signed with ``KEY`` (``keyed``) unless a test is about what verify does with an
unsigned one: by default nothing unauthenticated is accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from verdict_samples import clone, go_verdict, nogo_verdict

from pytest_staging.cli import main
from pytest_staging.durations import format_duration, parse_duration
from pytest_staging.signing import signed
from pytest_staging.verify import VerifyError, verify

KEY = "verify-test-key-0123456789"


def write(path: Path, verdict: dict[str, Any]) -> Path:
    path.write_text(json.dumps(verdict, indent=2), encoding="utf-8")
    return path


def write_signed(path: Path, verdict: dict[str, Any]) -> Path:
    """``verdict`` signed with ``KEY`` after any edit the test made, as a run would sign it."""
    return write(path, signed(verdict, KEY))


def run_verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, (out + err).splitlines()


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGING_VERDICT_KEY", raising=False)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STAGING_VERDICT_KEY", KEY)
    return KEY


def test_go_exits_0(tmp_path: Path, capsys, keyed) -> None:
    code, lines = run_verify(capsys, str(write_signed(tmp_path / "v.json", go_verdict())))
    assert code == 0
    assert len(lines) == 1 and lines[0].startswith("GO:")
    assert "NOT AUTHENTICATED" not in lines[0]


def test_unsigned_go_without_key_is_refused(tmp_path: Path, capsys, no_key) -> None:
    """Nothing checked, nothing trusted: anyone who can write the artifact could write a GO."""
    path = str(write(tmp_path / "v.json", go_verdict()))
    code, lines = run_verify(capsys, path)
    assert code == 3
    assert lines == ["pytest-staging verify: authentication: no signature was checked "
                     "(STAGING_VERDICT_KEY is unset or empty, no --public-key): set "
                     "STAGING_VERDICT_KEY to the run's HMAC key, pass --public-key FILE, or "
                     "pass --allow-unsigned to accept an unauthenticated verdict"]
    # --no-signature-check skips a signature; it never stands in for one
    assert run_verify(capsys, path, "--no-signature-check")[1] == lines


def test_empty_key_variable_authenticates_nothing(tmp_path: Path, capsys,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_VERDICT_KEY", "")
    code, lines = run_verify(capsys, str(write(tmp_path / "v.json", go_verdict())))
    assert code == 3 and len(lines) == 1
    assert lines[0].startswith("pytest-staging verify: authentication: no signature was checked")


def test_allow_unsigned_says_so_on_the_go_line_and_in_explain(tmp_path: Path, capsys,
                                                              no_key) -> None:
    path = str(write(tmp_path / "v.json", go_verdict()))
    code, lines = run_verify(capsys, path, "--allow-unsigned")
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith(f"GO: {path} verified but NOT AUTHENTICATED (--allow-unsigned: "
                               "no signature checked) (")
    code, lines = run_verify(capsys, path, "--allow-unsigned", "--explain")
    assert code == 0
    assert "  ok   authentication: NOT AUTHENTICATED: no signature checked (--allow-unsigned)" \
        in lines


def test_allow_unsigned_never_overrides_a_check_that_can_be_made(tmp_path: Path, capsys,
                                                                 keyed) -> None:
    """With a key here, a verdict must carry a matching signature, --allow-unsigned or not."""
    code, lines = run_verify(capsys, str(write(tmp_path / "v.json", go_verdict())),
                             "--allow-unsigned")
    assert code == 3 and lines == ["pytest-staging verify: signature: verdict is not signed "
                                   "but STAGING_VERDICT_KEY is set"]
    path = write(tmp_path / "w.json", signed(go_verdict(), "another-key"))
    code, lines = run_verify(capsys, str(path), "--allow-unsigned")
    assert code == 3 and lines[0].startswith("pytest-staging verify: signature: verdict does "
                                             "not match its signature")


def test_signed_verdict_without_key_needs_allow_unsigned(tmp_path: Path, capsys,
                                                         no_key) -> None:
    """A signature that cannot be checked here is refused; --allow-unsigned accepts the
    verdict knowingly and says the signature was not checked."""
    path = str(write_signed(tmp_path / "v.json", go_verdict()))
    code, lines = run_verify(capsys, path)
    assert code == 3 and lines[0].startswith(
        "pytest-staging verify: signature: the verdict is HMAC-signed but STAGING_VERDICT_KEY "
        "is unset or empty here")
    code, lines = run_verify(capsys, path, "--no-signature-check")
    assert code == 3 and lines[0].startswith(
        "pytest-staging verify: authentication: no signature was checked (STAGING_VERDICT_KEY "
        "is unset or empty, no --public-key; it carries an HMAC signature, not checked here)")
    code, lines = run_verify(capsys, path, "--allow-unsigned", "--explain")
    assert code == 0
    assert ("  ok   authentication: NOT AUTHENTICATED: no signature checked; it carries an "
            "HMAC signature, not checked here (--allow-unsigned)") in lines


def test_verdict_with_signature_removed_is_refused(tmp_path: Path, capsys, keyed,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    v = signed(go_verdict(), KEY)
    del v["signature"]
    path = str(write(tmp_path / "v.json", v))
    assert run_verify(capsys, path)[1] == ["pytest-staging verify: signature: verdict is not "
                                           "signed but STAGING_VERDICT_KEY is set"]
    monkeypatch.delenv("STAGING_VERDICT_KEY")
    assert run_verify(capsys, path)[1][0].startswith(
        "pytest-staging verify: authentication: no signature was checked")


def test_api_refuses_unauthenticated_verdicts_by_default() -> None:
    """``verify()`` has the command's defaults: the Python API is no way around the rule."""
    with pytest.raises(VerifyError) as info:
        verify(go_verdict())
    assert info.value.check == "authentication"
    verify(signed(go_verdict(), KEY), key=KEY)
    verify(go_verdict(), allow_unsigned=True)
    with pytest.raises(VerifyError, match="needs the verdict's path"):
        verify(go_verdict(), public_key=object())


def test_report_dir_means_its_verdict_json(tmp_path: Path, capsys, keyed) -> None:
    write_signed(tmp_path / "verdict.json", go_verdict())
    assert run_verify(capsys, str(tmp_path))[0] == 0


def test_nogo_exits_1_with_first_reason(tmp_path: Path, capsys, keyed) -> None:
    """A NO-GO on a failed blocking test: judgement failed, exit 1. The sample predates the
    judgement field: its facts judge it (an older verdict still verifies)."""
    v = nogo_verdict()
    assert "judgement" not in v
    code, lines = run_verify(capsys, str(write_signed(tmp_path / "v.json", v)))
    assert code == 1
    assert len(lines) == 1
    assert "verdict: NO-GO (failed): integration: 1 blocking test failed" in lines[0]


def test_signed_go_verifies(tmp_path: Path, capsys, keyed) -> None:
    code, lines = run_verify(capsys, str(write(tmp_path / "v.json", signed(go_verdict(), KEY))))
    assert code == 0, lines
    assert KEY not in "\n".join(lines)


def test_unsigned_refused_when_key_set(tmp_path: Path, capsys, keyed) -> None:
    code, lines = run_verify(capsys, str(write(tmp_path / "v.json", go_verdict())))
    assert code == 3  # refused: could not judge
    assert lines == ["pytest-staging verify: signature: verdict is not signed but "
                     "STAGING_VERDICT_KEY is set"]


@pytest.mark.parametrize("region", [b'"reasons": []', b'"verdict": "GO"'])
def test_every_one_byte_edit_is_refused_when_keyed(tmp_path: Path, capsys, keyed,
                                                   region: bytes) -> None:
    """Flip each byte of the ``reasons`` / ``verdict`` field of a signed GO: always refused
    (exit 3, never a GO and never "failed")."""
    raw = json.dumps(signed(go_verdict(), KEY), indent=2).encode()
    assert raw.count(region) == 1
    at = raw.index(region)
    path = tmp_path / "verdict.json"
    for i in range(at, at + len(region)):
        edited = bytearray(raw)
        edited[i] = ord("x") if raw[i] != ord("x") else ord("y")
        path.write_bytes(bytes(edited))
        code, lines = run_verify(capsys, str(path))
        assert code == 3, (i, bytes(edited[at:at + len(region)]))
        assert len(lines) == 1 and KEY not in lines[0]


def test_one_byte_edit_of_signed_nogo_reason_is_a_signature_failure(
        tmp_path: Path, capsys, keyed) -> None:
    v = signed(nogo_verdict(), KEY)
    path = write(tmp_path / "v.json", v)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"1 blocking test failed", b"0 blocking test failed", 1))
    code, lines = run_verify(capsys, str(path))
    assert code == 3  # an edited NO-GO is no evidence of anything: refused
    assert lines[0].startswith("pytest-staging verify: signature: verdict does not match")


def test_flipping_nogo_to_go_is_caught_by_the_signature(tmp_path: Path, capsys, keyed) -> None:
    v = signed(nogo_verdict(), KEY)
    v["verdict"] = "GO"
    v["reasons"] = []
    code, lines = run_verify(capsys, str(write(tmp_path / "v.json", v)))
    assert code == 3
    assert "signature" in lines[0]


def test_wrong_key_refused(tmp_path: Path, capsys, keyed) -> None:
    path = write(tmp_path / "v.json", signed(go_verdict(), "some-other-key"))
    code, lines = run_verify(capsys, str(path))
    assert code == 3 and "signature" in lines[0]


def test_key_env_names_the_variable(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("STAGING_VERDICT_KEY", raising=False)
    monkeypatch.setenv("RELEASE_KEY", KEY)
    path = write(tmp_path / "v.json", signed(go_verdict(), KEY))
    assert run_verify(capsys, str(path), "--key-env", "RELEASE_KEY")[0] == 0
    tampered = clone(signed(go_verdict(), KEY))
    tampered["warnings"] = []
    path2 = write(tmp_path / "v2.json", tampered)
    code, lines = run_verify(capsys, str(path2), "--key-env", "RELEASE_KEY")
    assert code == 3 and "RELEASE_KEY" in lines[0] and KEY not in lines[0]


def test_key_env_unset_variable_fails_closed(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(tmp_path / "v.json", go_verdict())
    code, lines = run_verify(capsys, str(path), "--key-env", "NOT_SET_ANYWHERE")
    assert code == 2  # the deploy job's usage error, like an empty --expect-version
    assert lines == ["pytest-staging verify: usage: --key-env NOT_SET_ANYWHERE names an "
                     "unset or empty variable"]


def test_expect_version(tmp_path: Path, capsys, keyed) -> None:
    path = write_signed(tmp_path / "v.json", go_verdict(version="2.0.1"))
    assert run_verify(capsys, str(path), "--expect-version", "2.0.1")[0] == 0
    code, lines = run_verify(capsys, str(path), "--expect-version", "2.0.2")
    assert code == 3  # a verdict about another version says nothing about this one
    assert lines == ["pytest-staging verify: version: expected 2.0.2, the run observed 2.0.1 "
                     "at its start"]


def test_redeploy_during_run_fails_version_check(tmp_path: Path, capsys, keyed) -> None:
    v = go_verdict(version="2.0.1")
    v["target"]["observed_version"]["end"] = "2.0.2"
    code, lines = run_verify(capsys, str(write_signed(tmp_path / "v.json", v)),
                             "--expect-version", "2.0.1")
    # the file's own facts already contradict its GO, before the version binding
    assert code == 3 and lines == ["pytest-staging verify: rederive: the file says GO but its "
                                   "own facts give NO-GO: version mismatch at end: expected "
                                   "2.0.1, observed 2.0.2"]
    # the version check itself, run on the same file
    with pytest.raises(VerifyError, match=r"observed 2\.0\.2 at its end"):
        verify(signed(v, KEY), key=KEY, rederive=False, expect_version="2.0.1")


def test_no_observed_version_fails_version_check(tmp_path: Path, capsys, keyed) -> None:
    v = go_verdict()
    v["target"]["observed_version"] = {"start": None, "end": None}
    code, lines = run_verify(capsys, str(write_signed(tmp_path / "v.json", v)),
                             "--expect-version", "1.2.3")
    assert code == 3 and "version 1.2.3 expected but not observed" in lines[0]
    with pytest.raises(VerifyError, match="observed no version"):
        verify(signed(v, KEY), key=KEY, rederive=False, expect_version="1.2.3")


def test_max_age(tmp_path: Path, capsys, keyed) -> None:
    old = datetime.now(timezone.utc) - timedelta(hours=3)
    path = write_signed(tmp_path / "v.json", go_verdict(finished=old))
    code, lines = run_verify(capsys, str(path), "--max-age", "1s")
    assert code == 3
    assert len(lines) == 1 and lines[0].startswith("pytest-staging verify: age: finished 3h")
    assert run_verify(capsys, str(path), "--max-age", "2h")[0] == 3
    assert run_verify(capsys, str(path), "--max-age", "1d")[0] == 0
    fresh = write_signed(tmp_path / "fresh.json", go_verdict())
    assert run_verify(capsys, str(fresh), "--max-age", "30m")[0] == 0


def test_finished_in_the_future_is_refused(tmp_path: Path, capsys, keyed) -> None:
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    path = write_signed(tmp_path / "v.json", go_verdict(finished=future))
    code, lines = run_verify(capsys, str(path), "--max-age", "1d")
    assert code == 3 and "in the future" in lines[0]


def test_unfinished_run_fails_age_check(tmp_path: Path, capsys, keyed) -> None:
    v = go_verdict()
    v["run"]["finished"] = None
    code, lines = run_verify(capsys, str(write_signed(tmp_path / "v.json", v)),
                             "--max-age", "1d")
    assert code == 3 and lines[0] == "pytest-staging verify: age: the run has no finish time"


def test_go_with_reasons_or_incomplete_run_is_inconsistent(tmp_path, capsys, keyed) -> None:
    v = go_verdict()
    v["reasons"] = ["something"]
    code, lines = run_verify(capsys, str(write_signed(tmp_path / "a.json", v)))
    assert code == 3 and "reasons" in lines[0]
    # even under a schema that allowed it, the GO check itself refuses
    with pytest.raises(VerifyError, match="inconsistent"):
        verify(signed(v, KEY), key=KEY, schema={})
    v = go_verdict()
    v["run"]["complete"] = False
    with pytest.raises(VerifyError, match="not marked complete"):
        verify(signed(v, KEY), key=KEY, schema={})
    code, lines = run_verify(capsys, str(write_signed(tmp_path / "b.json", v)))
    assert code == 3 and len(lines) == 1


@pytest.mark.parametrize(("content", "expected"), [
    (None, "file: no verdict at"),
    (b"", "is empty"),
    (b"\xff\xfe\x00", "is not UTF-8"),
    (b'{"schema": "pytest-staging/verdict@1", "verdict": "GO", "rea', "malformed or truncated"),
    (b"[1, 2]", "holds a JSON list"),
    (b'{"verdict": NaN}', "non-standard JSON constant NaN"),
])
def test_unreadable_files_fail_with_one_line(tmp_path: Path, capsys, no_key,
                                             content: bytes | None, expected: str) -> None:
    path = tmp_path / "verdict.json"
    if content is not None:
        path.write_bytes(content)
    code, lines = run_verify(capsys, str(path))
    assert code == 3  # no verdict to judge from: could not judge
    assert len(lines) == 1, lines
    assert lines[0].startswith("pytest-staging verify: file: ") and expected in lines[0]


def test_truncated_real_verdict(tmp_path: Path, capsys, keyed) -> None:
    full = json.dumps(signed(go_verdict(), KEY), indent=2).encode()
    for cut in (1, len(full) // 3, len(full) - 2):
        path = tmp_path / f"cut{cut}.json"
        path.write_bytes(full[:cut])
        code, lines = run_verify(capsys, str(path))
        assert code == 3 and len(lines) == 1 and "malformed or truncated" in lines[0]


def test_wrong_schema_version(tmp_path: Path, capsys, no_key) -> None:
    v = go_verdict()
    v["schema"] = "pytest-staging/verdict@2"
    code, lines = run_verify(capsys, str(write(tmp_path / "v.json", v)))
    assert code == 3
    assert lines == ["pytest-staging verify: schema: expected schema 'pytest-staging/verdict@1', "
                     "found 'pytest-staging/verdict@2'"]


def test_schema_invalid_go_is_refused(tmp_path: Path, capsys, no_key) -> None:
    v = go_verdict()
    del v["gates"]["integration"]["counts"]
    v["reasons"] = "not a list"
    code, lines = run_verify(capsys, str(write(tmp_path / "v.json", v)))
    assert code == 3 and len(lines) == 1 and lines[0].startswith("pytest-staging verify: schema:")


def test_bad_max_age_is_a_usage_error(tmp_path: Path, capsys, no_key) -> None:
    path = write(tmp_path / "v.json", go_verdict())
    code = main(["verify", str(path), "--max-age", "soon"])
    assert code == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45),
    ("1.5h", 5400), ("1w", 604800),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "-5m", "1h 30m", "abc"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert format_duration(timedelta(seconds=40)) == "40s"
    assert format_duration(timedelta(hours=3, minutes=2, seconds=9)) == "3h 2m"
    assert format_duration(timedelta(days=2, hours=1)) == "2d 1h"


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    """The installed entry point behaves like main(): exit codes and one line, no traceback."""
    good = write_signed(tmp_path / "good.json", go_verdict())
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "pytest-staging/verd')
    env = {"PATH": str(Path(sys.executable).parent), "STAGING_VERDICT_KEY": KEY}
    ok = subprocess.run(["pytest-staging", "verify", str(good)], capture_output=True,
                        text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    ko = subprocess.run(["pytest-staging", "verify", str(bad)], capture_output=True, text=True,
                        env=env, timeout=60)
    assert ko.returncode == 3
    assert ko.stdout == "" and len(ko.stderr.splitlines()) == 1
    assert "Traceback" not in ko.stderr
