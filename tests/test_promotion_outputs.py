"""verdict_outputs.render_outputs: what the controller writes, signed over what is on disk."""

from __future__ import annotations

import json

import pytest
from verdict_samples import go_verdict

from pytest_staging import promotion, verdict_outputs
from pytest_staging.reports import html as html_report
from pytest_staging.signing import verify_signature

KEY = "outputs-test-key-123456"


def test_signed_json_and_html() -> None:
    verdict = go_verdict()
    text, html = verdict_outputs.render_outputs(verdict, lambda s: s, KEY)
    on_disk = json.loads(text)
    assert verify_signature(on_disk, KEY)
    assert on_disk["signature"] == verdict["signature"]
    assert html is not None and "HMAC-SHA256 signed" in html and KEY not in html + text


def test_unsigned_without_key() -> None:
    verdict = go_verdict()
    text, html = verdict_outputs.render_outputs(verdict, lambda s: s, None)
    assert "signature" not in json.loads(text) and "signature" not in verdict
    assert html is not None and "unsigned" in html


def test_signature_covers_the_redacted_text() -> None:
    verdict = go_verdict()
    verdict["warnings"].append("token tok-SECRET-99 leaked")
    text, html = verdict_outputs.render_outputs(
        verdict, lambda s: s.replace("tok-SECRET-99", "[redacted]"), KEY)
    assert "tok-SECRET-99" not in text and html is not None and "tok-SECRET-99" not in html
    assert verify_signature(json.loads(text), KEY)


def test_html_failure_makes_nogo(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(verdict: dict) -> str:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(html_report, "render_html", broken)
    verdict = go_verdict()
    text, html = verdict_outputs.render_outputs(verdict, lambda s: s, KEY)
    assert html is None
    on_disk = json.loads(text)
    assert on_disk["verdict"] == "NO-GO"
    assert on_disk["reasons"] == ["cannot render verdict.html: RuntimeError: template exploded"]
    assert verify_signature(on_disk, KEY)


def test_unsignable_verdict_makes_nogo() -> None:
    verdict = go_verdict()
    verdict["gates"]["performance"]["metrics"]["p99_ms"] = float("nan")
    text, _ = verdict_outputs.render_outputs(verdict, lambda s: s, KEY)
    assert verdict["verdict"] == "NO-GO"
    assert "cannot sign the verdict: ValueError" in verdict["reasons"]
    assert '"verdict": "NO-GO"' in text and "signature" not in verdict


def test_retries_option_rejects_negative_and_non_numbers(pytester: pytest.Pytester) -> None:
    assert promotion.retries_count("2") == 2
    for bad in ("-1", "x", "1.5"):
        result = pytester.runpytest_subprocess("--staging-retries", bad, "-p", "no:cacheprovider")
        assert result.ret == 4
        result.stderr.fnmatch_lines([f"*--staging-retries: expected a whole number >= 0, got "
                                     f"'{bad}'*"])
