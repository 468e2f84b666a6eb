"""verdict.html: self-contained, escaped, and it reads right in a real browser."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from verdict_samples import go_verdict, nogo_verdict

from pytest_staging.reports.html import build_view, flatten_metrics, render_html

XSS = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
    "google-chrome")


def hostile_verdict() -> dict:
    v = nogo_verdict()
    fail = v["gates"]["integration"]["failures"][0]
    fail["nodeid"] = f"tests/test_x.py::test_{XSS}"
    fail["message"] = f"AssertionError: {XSS}"
    fail["evidence"][0]["body"] = (
        "<script>document.documentElement.setAttribute('data-pwned', '1')</script>"
        "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">")
    fail["evidence"][0]["response_headers"]["X-Evil"] = "<b>bold</b>"
    v["reasons"].append(f"integration: {XSS}")
    v["tests"].append({"nodeid": f"tests/test_x.py::test_{XSS}", "gate": "integration",
                       "outcome": "passed", "duration": 0.1, "blocking": True, "flaky": True})
    return v


def test_banner_and_reasons_come_first() -> None:
    page = render_html(nogo_verdict())
    banner = page.index('id="verdict"')
    assert page.index("NO-GO", banner) < page.index('id="reasons"') < page.index('id="gates"')
    assert "integration: 1 blocking test failed" in page
    assert 'class="banner nogo"' in page
    go = render_html(go_verdict())
    assert 'class="banner go"' in go and 'id="reasons"' not in go


def test_self_contained_no_external_assets_no_scripts() -> None:
    page = render_html(hostile_verdict())
    assert "<script" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    assert "default-src 'none'" in page  # CSP: even a missed escape could not run


def test_hostile_text_is_escaped() -> None:
    page = render_html(hostile_verdict())
    assert html.escape(XSS, quote=False) in page
    assert "<img src=x" not in page and "<b>bold</b>" not in page


def test_sections_present() -> None:
    page = render_html(nogo_verdict())
    for section in ("gates", "failures", "security", "performance", "flaky", "destructive",
                    "run"):
        assert f'id="{section}"' in page, section
    assert "grade" in page and ">D</span>" in page
    assert "POST" in page and "/api/checkout" in page and "[redacted]" in page
    assert "tests/test_admin.py::test_wipe_database" in page
    assert "p95_ms &lt;= 500" in page and "broken" in page


def test_partial_or_placeholder_verdict_renders_as_nogo() -> None:
    page = render_html({"schema": "pytest-staging/verdict@1", "verdict": "NO-GO",
                        "reasons": ["run in progress"], "run": {"finished": None}})
    assert "run in progress" in page and 'class="banner nogo"' in page
    assert "not finished" in page
    # a verdict with no verdict field at all is never shown as GO
    page = render_html({"gates": {"integration": "garbage"}, "tests": "garbage"})
    assert 'class="banner nogo"' in page and "no reason recorded" in page


def test_gate_order_and_counts() -> None:
    v = go_verdict()
    v["gates"] = {"smoke": v["gates"]["integration"], **v["gates"]}
    rows = build_view(v)["gates"]
    assert [r["name"] for r in rows] == ["integration", "security", "performance", "smoke"]
    assert rows[0]["counts"]["flaky"] == 1


def test_flatten_metrics() -> None:
    assert flatten_metrics({"a": 1, "b": {"c": 2.5, "d": {"e": "x"}}, "f": {}}) == [
        ("a", 1), ("b.c", 2.5), ("b.d.e", "x"), ("f", {})]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_headless_chromium_renders_banner_and_shows_script_as_text(tmp_path: Path) -> None:
    page = tmp_path / "verdict.html"
    page.write_text(render_html(hostile_verdict()), encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=90, check=True).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    # the browser parsed the page: the banner is there, and the hostile id is text, not a tag
    assert re.search(r'<div class="banner nogo" id="verdict">\s*<div class="word">NO-GO</div>',
                     dom)
    assert "test_&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<script" not in dom
    assert "data-pwned=" not in dom.split("<head>")[0]
