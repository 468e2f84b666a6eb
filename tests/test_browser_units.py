"""The browser integration's plain parts, without a browser: which executable, the CA's NSS
database, trace redaction, and what verdict.html accepts from browser evidence."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from pytest_staging.browser import chromium, evidence
from pytest_staging.redact import Redactor
from pytest_staging.reports.html import build_view, render_html


def test_configured_browser_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert chromium.choose_executable("/opt/chrome", {}, None) == "/opt/chrome"
    # A channel or an executable_path from the user's own launch args: Playwright's choice.
    assert chromium.choose_executable(None, {"channel": "chrome"}, None) is None
    assert chromium.choose_executable(None, {"executable_path": "/x"}, None) is None
    downloaded = tmp_path / "chrome"
    downloaded.write_text("")
    assert chromium.choose_executable(None, {}, str(downloaded)) is None
    with pytest.raises(chromium.BrowserSetupError, match="apt-get install chromium"):
        chromium.choose_executable(None, {}, str(tmp_path / "not-downloaded"))


def test_system_chromium_found_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("chromium", "chromium-headless-shell"):
        exe = tmp_path / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    # The headless shell first: smaller and faster to start.
    assert chromium.choose_executable(None, {}, None) == str(tmp_path / "chromium-headless-shell")


def test_ca_bundle_becomes_a_trusted_nss_database(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    if shutil.which("certutil") is None:
        pytest.skip("no certutil: apt-get install libnss3-tools (.ci/run does)")
    first, second = trustme.CA(), trustme.CA()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(first.cert_pem.bytes() + b"\n" + second.cert_pem.bytes())
    home = chromium.make_trust_home(str(bundle), tmp_path / "home")
    listed = subprocess.run(["certutil", "-d", f"sql:{home / '.pki' / 'nssdb'}", "-L"],
                            capture_output=True, text=True, check=True).stdout
    assert re.findall(r"(staging-ca-\d+)\s+C,,", listed) == ["staging-ca-1", "staging-ca-2"]
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(chromium.BrowserSetupError, match="no PEM certificate"):
        chromium.make_trust_home(str(empty), tmp_path / "home2")


def test_no_certutil_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(chromium.BrowserSetupError, match="libnss3-tools"):
        chromium.make_trust_home(str(tmp_path / "ca.pem"), tmp_path / "home")


def test_trace_is_redacted_in_every_text_member(tmp_path: Path) -> None:
    trace = tmp_path / "trace.zip"
    png = b"\x89PNG\r\n\x1a\n\xff\xfe token-12345"
    with zipfile.ZipFile(trace, "w") as archive:
        archive.writestr("trace.network", '{"name":"Authorization","value":"Bearer token-12345"}')
        archive.writestr("resources/body.json", '{"echo": "token-12345"}')
        archive.writestr("resources/shot.png", png)
    evidence.redact_trace(trace, Redactor(["token-12345"]))
    with zipfile.ZipFile(trace) as archive:
        assert b"token-12345" not in archive.read("trace.network")
        assert archive.read("resources/body.json") == b'{"echo": "***"}'
        assert archive.read("resources/shot.png") == png  # pixels cannot be redacted


def test_trace_masks_the_run_s_own_header_values_however_short(tmp_path: Path) -> None:
    """A --staging-header value too short to mask in free text ("X-Debug: 1") is still masked
    where the trace records it as that header's value (issue 20.4)."""
    trace = tmp_path / "trace.zip"
    network = ('{"headers":[{"name":"x-debug","value":"1"},{"name": "X-Tenant", "value": '
               '"acme\\"x"},{"name":"accept","value":"1"}]}')
    with zipfile.ZipFile(trace, "w") as archive:
        archive.writestr("trace.network", network)
    evidence.redact_trace(trace, Redactor(secret_headers=["X-Debug", "x-tenant"]))
    with zipfile.ZipFile(trace) as archive:
        assert archive.read("trace.network").decode() == (
            '{"headers":[{"name":"x-debug","value":"***"},{"name": "X-Tenant", "value": '
            '"***"},{"name":"accept","value":"1"}]}')


def test_safe_name_is_a_unique_plain_folder_name() -> None:
    one = evidence.safe_name("tests/test_a.py::test_x[../../etc]")
    assert "/" not in one and ".." not in one
    assert one != evidence.safe_name("tests/test_a.py::test_x[../../etd]")


def _verdict(item: dict) -> dict:
    return {"verdict": "NO-GO", "reasons": ["x"], "gates": {"integration": {
        "status": "failed", "failures": [{"nodeid": "t.py::test_a", "outcome": "failed",
                                          "message": "m", "blocking": True,
                                          "evidence": [item]}]}}}


def test_html_embeds_only_inline_images_and_relative_links() -> None:
    good = {"method": "GET", "url": "http://h/", "status": None, "kind": "browser",
            "screenshot_data": "data:image/png;base64,iVBORw0KGgo=",
            "screenshot": "browser/t/page-1.png", "trace": "browser/t/trace.zip",
            "console_errors": ["<b>boom</b>"]}
    page = render_html(_verdict(good))
    assert '<img class="shot" src="data:image/png;base64,iVBORw0KGgo="' in page
    assert 'href="browser/t/trace.zip"' in page and "&lt;b&gt;boom&lt;/b&gt;" in page
    bad = {**good, "screenshot_data": "javascript:alert(1)", "trace": "../../etc/passwd",
           "screenshot": "https://evil.example/x.png"}
    [failure] = build_view(_verdict(bad))["failures"]
    [browser] = failure["browser"]
    assert (browser["image"], browser["trace"], browser["screenshot"]) == ("", "", "")
    assert failure["evidence"] == []  # the browser item is not shown as an HTTP exchange


@pytest.mark.parametrize(("url", "origin"), [
    ("https://user:pw@Staging.Example/app/?token=x", "https://staging.example"),
    ("https://staging.example:443/", "https://staging.example"),
    ("http://127.0.0.1:8080/shop/", "http://127.0.0.1:8080"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
])
def test_the_staging_origin_as_permissions_name_it(url: str, origin: str) -> None:
    pytest.importorskip("playwright")
    from pytest_staging.browser.fixtures import permission_origin

    assert permission_origin(url) == origin
