"""Browser journeys (pytest-playwright) in the release gate: whole runs against loopback
servers with a real headless Chromium."""

from __future__ import annotations

import base64
import re
import zipfile
from pathlib import Path

import pytest
from browser_tests import CHROMIUM, browser_module
from servers import LoopbackServer

from pytest_staging.browser.chromium import find_system_chromium

pytestmark = browser_module()

#: Only the integration gate is needed: the other two may stay empty.
POLICY = "[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"
SECRET = "browser-token-7f3a9c"


def html(body: str, title: str = "Shop") -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, (
        f"<!doctype html><title>{title}</title>{body}").encode()


def shop(server: LoopbackServer, *, broken: bool = False) -> None:
    """A page with a button; ``broken`` ships the script whose click handler throws."""
    script = ("document.querySelector('#buy').addEventListener('click', () => {"
              + ("document.querySelector('#gone').textContent = 'x';" if broken else "")
              + "document.querySelector('#status').textContent = 'added'; });")
    server.routes["/shop"] = lambda req: html(
        '<button id="buy">Add to cart</button><p id="status"></p>'
        '<script src="/shop.js"></script>')
    server.routes["/shop.js"] = lambda req: (200, {"Content-Type": "text/javascript"},
                                             script.encode())


JOURNEY = """
from playwright.sync_api import expect

def test_add_to_cart(page):
    page.goto("/shop")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#status")).to_have_text("added", timeout=2000)
"""


@pytest.fixture
def browser_run(pytester: pytest.Pytester, run_staging):
    """run_staging with the integration-only policy (and a fixed artifacts folder)."""
    pytester.makefile(".toml", policy=POLICY)

    def run(*args: str, url: str | None = None):
        return run_staging("--staging-policy=policy.toml", *args, url=url)

    return run


def test_working_page_is_go(pytester: pytest.Pytester, browser_run, server: LoopbackServer,
                            mode: list[str]) -> None:
    shop(server)
    pytester.makepyfile(test_journey=JOURNEY)
    run = browser_run(*mode, url=server.url)
    assert run.ret == 0, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "GO"
    assert [(t["nodeid"], t["gate"], t["outcome"]) for t in verdict["tests"]] == [
        ("test_journey.py::test_add_to_cart[chromium]", "integration", "passed")]
    assert any(r.path == "/shop.js" for r in server.requests)


def test_ui_defect_is_no_go_with_screenshot_and_trace(
        pytester: pytest.Pytester, browser_run, server: LoopbackServer, mode: list[str]) -> None:
    shop(server, broken=True)
    page = server.routes["/shop"]

    def echo(req):  # an application that shows the token it got: the trace keeps the page
        status, headers, body = page(req)
        token = next(v for k, v in req.headers.items() if k.lower() == "authorization")
        return status, headers, body + f'<p id="who">token: {token}</p>'.encode()

    server.routes["/shop"] = echo
    pytester.makepyfile(test_journey=JOURNEY)
    run = browser_run(*mode, "--tracing=retain-on-failure",
                      f"--staging-header=Authorization: Bearer {SECRET}", url=server.url)
    assert run.ret == 1, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    assert "test_add_to_cart[chromium] failed" in verdict["reasons"][0]
    [failure] = verdict["gates"]["integration"]["failures"]
    [item] = [e for e in failure["evidence"] if e.get("kind") == "browser"]
    assert item["url"] == server.url + "shop"
    assert any("Cannot set properties of null" in t for t in item["console_errors"]), item
    assert (run.report_dir / "browser" / ".pytest-staging-artifacts").is_file()
    screenshot = run.report_dir / item["screenshot"]
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert item["screenshot_data"] == (
        "data:image/png;base64," + base64.b64encode(screenshot.read_bytes()).decode())
    page = (run.report_dir / "verdict.html").read_text()
    assert f'<img class="shot" src="{item["screenshot_data"]}"' in page
    # The trace pytest-playwright kept is linked, and the header value is masked inside it.
    trace = run.report_dir / item["trace"]
    assert f'href="{item["trace"]}"' in page
    with zipfile.ZipFile(trace) as archive:
        blob = b"".join(archive.read(name) for name in archive.namelist())
    assert SECRET.encode() not in blob
    assert b"token: Bearer ***" in blob or b"token: ***" in blob
    originals = list(pytester.path.glob("test-results/*/trace.zip"))
    assert originals and all(SECRET.encode() not in p.read_bytes() for p in originals)
    for written in run.report_dir.rglob("*"):
        if written.is_file():
            assert SECRET.encode() not in written.read_bytes(), written
    assert SECRET not in run.output
    assert "staging: browser evidence" in run.output and "console error: uncaught" in run.output
    assert "  - browser: `" in (run.report_dir / "verdict.md").read_text()


HEADINGS = """
from playwright.sync_api import expect

def test_heading(page):
    page.goto("/two")
    expect(page.locator("h2")).to_have_text("Deals", timeout=1500)

def test_buy(page):
    page.goto("/two")
    page.locator("#buy").click(timeout=1500)
"""


def test_a_browser_failure_s_reason_names_its_cause(
        pytester: pytest.Pytester, browser_run, server: LoopbackServer) -> None:
    """Issue 24.7: Playwright puts the cause below its first line ("Locator expected to have
    text" / "Error: strict mode violation: ... resolved to 2 elements"); a time-out's call log
    says what it waited for. The reason keeps both, and no module path of Playwright's."""
    server.routes["/two"] = lambda req: html("<h2>Deals</h2><h2>News</h2>")
    pytester.makepyfile(test_two=HEADINGS)
    run = browser_run("-p", "no:xdist", url=server.url)
    assert run.ret != 0
    reasons = run.verdict["reasons"]
    assert ("integration: test_two.py::test_heading[chromium] failed: AssertionError: Locator "
            "expected to have text 'Deals': strict mode violation: locator(\"h2\") resolved "
            "to 2 elements") in reasons, reasons
    assert ("integration: test_two.py::test_buy[chromium] failed: TimeoutError: Locator.click: "
            "Timeout 1500ms exceeded (waiting for locator(\"#buy\"))") in reasons, reasons
    assert not any("_impl" in r for r in reasons)


def test_headers_reach_the_staging_origin_only(pytester: pytest.Pytester, browser_run,
                                               server: LoopbackServer) -> None:
    other = LoopbackServer().start()  # another origin (port): a CDN, an analytics host
    try:
        other.routes["/pixel.gif"] = lambda req: (200, {"Content-Type": "image/gif"}, b"GIF89a")
        server.routes["/login"] = lambda req: (200, {"Set-Cookie": "sid=c00k1e; Path=/"}, b"")
        server.routes["/shop"] = lambda req: html(f'<img src="{other.url}pixel.gif">')
        pytester.makepyfile(test_journey="""
def test_page(page):
    page.goto("/login")
    page.goto("/shop", wait_until="networkidle")
""")
        run = browser_run("-p", "no:xdist", "--staging-header=X-Team: checkout",
                          f"--staging-header=Authorization: Bearer {SECRET}", url=server.url)
        assert run.ret == 0, run.output
        [page] = [r for r in server.requests if r.path == "/shop"]
        assert page.headers["X-Team"] == "checkout"
        assert page.headers["Authorization"] == f"Bearer {SECRET}"
        assert page.headers["Cookie"] == "sid=c00k1e"  # the browser's own headers stay
        [pixel] = other.requests
        assert "Authorization" not in pixel.headers and "X-Team" not in pixel.headers
    finally:
        other.stop()


def test_tls_options_reach_the_browser(pytester: pytest.Pytester, browser_run,
                                       tls_server: LoopbackServer, tls_ca,
                                       tmp_path: Path) -> None:
    shop(tls_server)
    pytester.makepyfile(test_journey=JOURNEY)
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    if find_system_chromium() and not __import__("shutil").which("certutil"):
        pytest.skip("no certutil: apt-get install libnss3-tools (.ci/run does)")
    trusted = browser_run("-p", "no:xdist", f"--staging-ca-bundle={bundle}", url=tls_server.url)
    assert trusted.ret == 0, trusted.output
    assert trusted.verdict["verdict"] == "GO"
    insecure = browser_run("-p", "no:xdist", "--staging-insecure", url=tls_server.url)
    assert insecure.ret == 0, insecure.output
    assert "TLS certificate verification disabled by --staging-insecure" in (
        insecure.verdict["warnings"])


DESTRUCTIVE = """
import pytest

@pytest.mark.destructive
def test_wipe_the_cart(page):
    page.goto("/shop")
    page.evaluate("fetch('/production/api/cart', {method: 'DELETE'}).catch(() => null)")
    page.wait_for_timeout(300)

def test_reads(page):
    page.goto("/shop")
"""


def test_destructive_browser_test_refused_on_sensitive_target(
        pytester: pytest.Pytester, browser_run, server: LoopbackServer, mode: list[str]) -> None:
    shop(server)
    pytester.makefile(".toml", policy=POLICY + '[target]\nsensitive_url = "127\\\\.0\\\\.0"\n')
    pytester.makepyfile(test_d=DESTRUCTIVE)
    run = browser_run(*mode, url=server.url)
    assert run.ret == 0, run.output
    assert run.verdict["destructive_skipped"] == ["test_d.py::test_wipe_the_cart[chromium]"]
    assert not [r for r in server.requests if r.method == "DELETE"]


def test_destructive_browser_test_cannot_reach_a_sensitive_url(
        pytester: pytest.Pytester, browser_run, server: LoopbackServer, mode: list[str]) -> None:
    shop(server)
    pytester.makefile(".toml", policy=POLICY + '[target]\nsensitive_url = "/production/"\n')
    pytester.makepyfile(test_d=DESTRUCTIVE)
    run = browser_run(*mode, url=server.url)
    assert run.ret == 1, run.output
    assert not [r for r in server.requests if r.method == "DELETE"]
    [reason] = run.verdict["reasons"]
    assert ("test_wipe_the_cart[chromium] failed: destructive guard: browser request(s) to a "
            "URL matching sensitive_url: refused 1; first") in reason
    assert f"{server.url}production/api/cart" in reason
    # A staging redirect to a sensitive URL is refused before the browser follows it.
    server.routes["/go"] = lambda req: (302, {"Location": "/production/home"}, b"")
    pytester.makepyfile(test_d="""
import pytest

@pytest.mark.destructive
def test_follow(page):
    page.goto("/go")
""")
    run = browser_run("-p", "no:xdist", url=server.url)
    assert run.ret == 1, run.output
    assert ("destructive guard: browser request(s) to a URL matching sensitive_url: refused "
            f"1; first {server.url}production/home") in run.verdict["reasons"][0]
    assert not [r for r in server.requests if r.path == "/production/home"]
    # Another origin's redirect hop to a sensitive URL is never routed: it cannot be
    # stopped, but it fails the test.
    other = LoopbackServer().start()
    try:
        other.routes["/away"] = lambda req: (302, {"Location": f"{server.url}production/x"},
                                             b"")
        pytester.makepyfile(test_d=f"""
import pytest

@pytest.mark.destructive
def test_follow(page):
    page.goto("{other.url}away")
""")
        run = browser_run("-p", "no:xdist", url=server.url)
    finally:
        other.stop()
    assert run.ret == 1, run.output
    assert ("destructive guard: browser request(s) to a URL matching sensitive_url: 1 reached "
            "by a redirect before it could be stopped") in run.verdict["reasons"][0]


def test_base_url_is_the_staging_url(pytester: pytest.Pytester, browser_run,
                                     server: LoopbackServer) -> None:
    pytest.importorskip("pytest_base_url")
    pytester.makepyfile(test_base="""
def test_base(base_url):
    print("BASE", base_url)  # judged by the outer test, run by run
""")
    run = browser_run("-p", "no:xdist", "-s", url=server.url)
    assert run.ret == 0, run.output
    assert f"BASE {server.url}" in run.output
    # --base-url alone is the staging URL; pytest-playwright's own fallback fixture agrees.
    for extra in ((), ("-p", "no:base_url")):
        run = browser_run("-p", "no:xdist", "-s", *extra, f"--base-url={server.url}")
        assert run.ret == 0, run.output
        assert run.verdict["target"]["url"] == server.url
        assert f"BASE {server.url}" in run.output


def test_base_url_naming_another_target_is_a_usage_error(pytester: pytest.Pytester,
                                                         browser_run,
                                                         server: LoopbackServer) -> None:
    pytester.makepyfile(test_base="def test_base(base_url):\n    pass\n")
    run = browser_run("--base-url=http://127.0.0.1:9/", url=server.url)
    assert run.ret == 4, run.output
    assert run.verdict["verdict"] == "NO-GO"
    assert re.search(r"usage error: --base-url http://127\.0\.0\.1:9/ names a different target",
                     run.verdict["reasons"][0])
    same = browser_run(f"--base-url={server.url.rstrip('/')}", url=server.url)
    assert same.ret == 0, same.output


def test_no_chromium_is_one_line(pytester: pytest.Pytester, browser_run,
                                 server: LoopbackServer, monkeypatch, tmp_path: Path) -> None:
    shop(server)
    pytester.makepyfile(test_journey=JOURNEY)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))  # no download either
    run = browser_run("-p", "no:xdist", url=server.url)
    assert run.ret == 1, run.output
    [test] = run.verdict["tests"]
    assert test["outcome"] == "error"
    assert run.verdict["reasons"] == [
        "integration: test_journey.py::test_add_to_cart[chromium] errored: Failed: no Chromium "
        "for the "
        "browser tests: install one (Debian/Ubuntu: apt-get install chromium; or python -m "
        "playwright install chromium) or pass --staging-browser-path PATH"]
    assert "Traceback" not in run.output and "During handling" not in run.output
    bad = browser_run("-p", "no:xdist", f"--staging-browser-path={tmp_path / 'nope'}",
                      url=server.url)
    assert bad.ret == 4
    assert "not an executable file" in bad.verdict["reasons"][0]
    explicit = browser_run("-p", "no:xdist", f"--staging-browser-path={CHROMIUM}",
                           url=server.url)
    assert explicit.ret == 0, explicit.output


def test_playwright_disabled_is_one_line(pytester: pytest.Pytester, browser_run,
                                         server: LoopbackServer) -> None:
    pytester.makepyfile(test_journey=JOURNEY)
    # A browser/ folder pytest-staging did not make (no marker) is never cleared.
    theirs = pytester.path / "staging-report" / "browser" / "keep.txt"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("mine")
    run = browser_run("-p", "no:xdist", "-p", "no:playwright", url=server.url)
    assert theirs.read_text() == "mine"
    assert run.ret == 1, run.output
    assert run.verdict["reasons"] == [
        "integration: test_journey.py::test_add_to_cart errored: Failed: browser tests need "
        "pytest-playwright, which this run disabled (-p no:playwright)"]


def test_inactive_run_leaves_playwright_alone(pytester: pytest.Pytester, run_staging,
                                              server: LoopbackServer) -> None:
    shop(server)
    # No staging URL: pytest-staging adds nothing, so the user's conftest names the browser.
    pytester.makeconftest(f"""
import pytest

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {{**browser_type_launch_args, "executable_path": {CHROMIUM!r}}}
""")
    pytester.makepyfile(test_journey=f"""
def test_page(page, base_url):
    assert not base_url  # pytest-base-url: None or its empty ini default
    page.goto("{server.url}shop")
    assert page.title() == "Shop"
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist",
                                           timeout=120)
    assert result.ret == 0, result.stdout.str()
    assert not (pytester.path / "staging-report").exists()


def test_conftest_error_with_base_url_replaces_an_old_go(pytester: pytest.Pytester,
                                                         run_staging,
                                                         server: LoopbackServer) -> None:
    pytest.importorskip("pytest_base_url")
    report = pytester.path / "staging-report"
    report.mkdir()
    (report / "verdict.json").write_text('{"verdict": "GO"}')
    pytester.makeconftest("raise RuntimeError('broken conftest')")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    run = run_staging(f"--base-url={server.url}")
    assert run.ret != 0
    assert run.verdict["verdict"] == "NO-GO"
    assert "broken conftest" in run.verdict["reasons"][0]


def test_url_credentials_become_http_credentials(pytester: pytest.Pytester, browser_run,
                                                 server: LoopbackServer) -> None:
    shop(server)
    pytester.makepyfile(test_journey="""
import pytest

def test_a_http(staging):
    assert staging.get("/health").ok

@pytest.mark.performance
def test_b_load(staging):
    assert staging.get("/health").ok
""" + JOURNEY + """

def test_base_url_has_no_credentials(base_url):
    print("BASE", base_url)
""")
    url = server.url.replace("http://", f"http://deploy:{SECRET}@")
    run = browser_run("-p", "no:xdist", "-s", "-v", url=url)
    assert run.ret == 0, run.output
    # Browser tests run first (done before any load test), load tests last.
    order = re.findall(r"^test_journey\.py::(\S+)", run.stdout, re.MULTILINE)
    assert order == ["test_add_to_cart[chromium]", "test_a_http",
                     "test_base_url_has_no_credentials", "test_b_load"], order
    assert f"BASE {server.url}" in run.output
    expected = "Basic " + base64.b64encode(f"deploy:{SECRET}".encode()).decode()
    assert [r.headers.get("Authorization") for r in server.requests if r.path == "/shop"] == [
        expected]
    assert SECRET not in run.output
