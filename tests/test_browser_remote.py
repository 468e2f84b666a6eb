"""Browser journeys on a remote Playwright browser server (``--staging-browser-ws``): a real
``playwright run-server`` on loopback, launching the Debian Chromium it is told to use, in
whole runs, serial and under ``-n 2``. The same headers, guard and evidence as a local browser;
a server that is down, hangs or drops mid-journey is a NO-GO with one line, never a skip; the
endpoint's credentials never reach an output."""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_server import BrowserServer
from browser_tests import CHROMIUM, browser_module
from servers import LoopbackServer, SilentServer, free_port

pytestmark = browser_module()

POLICY = ("[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"
          "[browser]\ntimeout = 10\n")
SECRET = "browser-token-7f3a9c"
WS_PASSWORD = "farm-pass-5d1e"
WS_TOKEN = "farm-token-0b9c44e1"


def html(body: str, title: str = "Shop") -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, (
        f"<!doctype html><title>{title}</title>{body}").encode()


def shop(server: LoopbackServer, *, broken: bool = False) -> None:
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
    expect(page.locator("#status")).to_have_text("added", timeout=5000)
"""


@pytest.fixture
def browser_server(tmp_path: Path) -> Iterator[BrowserServer]:
    server = BrowserServer(tmp_path / "run-server.log")
    yield server
    server.stop()


@pytest.fixture
def marked_chromium(tmp_path: Path) -> tuple[Path, Path]:
    """A Chromium that notes who launched it (its parent's pid) before it becomes Chromium:
    the proof that the browser server launched the browser --staging-browser-path names."""
    marker = tmp_path / "launched-by"
    script = tmp_path / "server-chromium"
    script.write_text(f'#!/bin/sh\necho "$PPID" >> "{marker}"\nexec "{CHROMIUM}" "$@"\n')
    script.chmod(0o755)
    return script, marker


@pytest.fixture
def remote_run(pytester: pytest.Pytester, run_staging):
    pytester.makefile(".toml", policy=POLICY)

    def run(ws: str, *args: str, url: str):
        return run_staging("--staging-policy=policy.toml", f"--staging-browser-ws={ws}", *args,
                           url=url)

    return run


def launched_by_server(marker: Path, server: BrowserServer) -> list[bool]:
    """For each launch the marker noted: was its parent a process of the browser server?"""
    found = []
    for line in marker.read_text().split():
        try:
            found.append(os.getpgid(int(line)) == server.proc.pid)
        except ProcessLookupError:
            found.append(False)
    return found


def no_secret_anywhere(run, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in run.output
        for written in run.report_dir.rglob("*"):
            if written.is_file():
                assert secret.encode() not in written.read_bytes(), written


def test_remote_journey_is_go_with_the_staging_headers(
        pytester: pytest.Pytester, remote_run, server: LoopbackServer,
        browser_server: BrowserServer, marked_chromium: tuple[Path, Path],
        mode: list[str]) -> None:
    other = LoopbackServer().start()  # another origin: never gets the staging header
    try:
        shop(server)
        other.routes["/pixel.gif"] = lambda req: (200, {"Content-Type": "image/gif"}, b"GIF89a")
        server.routes["/landing"] = lambda req: html(f'<img src="{other.url}pixel.gif">')
        pytester.makepyfile(test_journey=JOURNEY + """
def test_landing(page):
    page.goto("/landing", wait_until="networkidle")
""")
        script, marker = marked_chromium
        ws = browser_server.ws.replace("ws://", f"ws://deploy:{WS_PASSWORD}@") + \
            f"?token={WS_TOKEN}"
        run = remote_run(ws, *mode, f"--staging-browser-path={script}",
                         f"--staging-header=Authorization: Bearer {SECRET}", url=server.url)
        assert run.ret == 0, run.output
        verdict = run.verdict
        assert verdict["verdict"] == "GO", verdict["reasons"]
        assert [t["outcome"] for t in verdict["tests"]] == ["passed", "passed"]
        # The browser the server launched is the one --staging-browser-path named (one per
        # pytest process: one serially, one per xdist worker that ran a browser test).
        launches = launched_by_server(marker, browser_server)
        assert launches and all(launches), launches
        assert [r.headers.get("Authorization") for r in server.requests
                if r.path == "/shop"] == [f"Bearer {SECRET}"]
        [pixel] = other.requests
        assert "Authorization" not in pixel.headers
        no_secret_anywhere(run, SECRET, WS_PASSWORD, WS_TOKEN)
    finally:
        other.stop()


def test_remote_ui_defect_leaves_the_same_evidence(
        pytester: pytest.Pytester, remote_run, server: LoopbackServer,
        browser_server: BrowserServer) -> None:
    shop(server, broken=True)
    pytester.makepyfile(test_journey=JOURNEY)
    run = remote_run(browser_server.ws, "-p", "no:xdist", "--tracing=retain-on-failure",
                     f"--staging-browser-path={CHROMIUM}",
                     f"--staging-header=Authorization: Bearer {SECRET}", url=server.url)
    assert run.ret != 0, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    assert "test_add_to_cart[chromium] failed" in verdict["reasons"][0]
    [failure] = verdict["gates"]["integration"]["failures"]
    [item] = [e for e in failure["evidence"] if e.get("kind") == "browser"]
    assert any("Cannot set properties of null" in t for t in item["console_errors"]), item
    assert (run.report_dir / item["screenshot"]).read_bytes().startswith(b"\x89PNG")
    with zipfile.ZipFile(run.report_dir / item["trace"]) as archive:
        blob = b"".join(archive.read(name) for name in archive.namelist())
    assert b'"name":"Authorization","value":"***"' in blob
    no_secret_anywhere(run, SECRET)


def test_remote_destructive_guard(pytester: pytest.Pytester, remote_run, server: LoopbackServer,
                                  browser_server: BrowserServer) -> None:
    shop(server)
    pytester.makefile(".toml", policy=POLICY + '[target]\nsensitive_url = "/production/"\n')
    pytester.makepyfile(test_d="""
import pytest

@pytest.mark.destructive
def test_wipe_the_cart(page):
    page.goto("/shop")
    page.evaluate("fetch('/production/api/cart', {method: 'DELETE'}).catch(() => null)")
    page.wait_for_timeout(300)
""")
    run = remote_run(browser_server.ws, "-p", "no:xdist", f"--staging-browser-path={CHROMIUM}",
                     url=server.url)
    assert run.ret != 0, run.output
    assert not [r for r in server.requests if r.method == "DELETE"]
    [reason] = run.verdict["reasons"]
    assert "destructive guard: browser request(s) to a URL matching sensitive_url: refused 1" \
        in reason


def test_server_down_is_no_go_with_one_line(pytester: pytest.Pytester, remote_run,
                                            server: LoopbackServer, mode: list[str]) -> None:
    shop(server)
    pytester.makepyfile(test_journey=JOURNEY)
    port = free_port()
    ws = f"ws://deploy:{WS_PASSWORD}@127.0.0.1:{port}/?token={WS_TOKEN}"
    run = remote_run(ws, *mode, url=server.url)
    assert run.ret != 0, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    [test] = verdict["tests"]
    assert test["outcome"] == "error"  # never a skip
    assert verdict["reasons"] == [
        "integration: test_journey.py::test_add_to_cart[chromium] errored: Failed: remote "
        f"browser server ws://***@127.0.0.1:{port}/?token=*** could not be used: WebSocket "
        f"error: connect ECONNREFUSED 127.0.0.1:{port}"]
    assert "Traceback" not in run.output and "During handling" not in run.output
    assert not [r for r in server.requests if r.path == "/shop"]
    no_secret_anywhere(run, WS_PASSWORD, WS_TOKEN)


def test_server_that_never_answers_is_no_go_within_the_browser_timeout(
        pytester: pytest.Pytester, remote_run, server: LoopbackServer) -> None:
    pytester.makefile(".toml", policy=POLICY.replace("timeout = 10", "timeout = 2"))
    pytester.makepyfile(test_journey=JOURNEY)
    silent = SilentServer()
    ws = silent.url.replace("http://", "ws://")
    started = time.monotonic()
    try:
        run = remote_run(ws, "-p", "no:xdist", url=server.url)
    finally:
        silent.stop()
    elapsed = time.monotonic() - started
    assert run.ret != 0, run.output
    [reason] = run.verdict["reasons"]
    assert f"remote browser server {ws} could not be used: Timeout 2000ms exceeded" in reason
    assert elapsed < 30, elapsed


def test_server_dropping_mid_journey_is_no_go_naming_it(
        pytester: pytest.Pytester, remote_run, server: LoopbackServer,
        browser_server: BrowserServer, mode: list[str]) -> None:
    shop(server)

    def checkout(req):  # the server goes away while the page is loading
        browser_server.kill()
        time.sleep(0.5)
        return html("<p>paid</p>", "Checkout")

    server.routes["/checkout"] = checkout
    pytester.makepyfile(test_journey="""
def test_a_checkout(page):
    page.goto("/shop")
    page.goto("/checkout")
    page.get_by_text("paid").wait_for()

def test_b_after(page):
    page.goto("/shop")
""")
    run = remote_run(browser_server.ws, *mode, f"--staging-browser-path={CHROMIUM}",
                     url=server.url)
    assert run.ret != 0, run.output
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    outcomes = {t["nodeid"].split("::")[1]: t["outcome"] for t in verdict["tests"]}
    assert outcomes["test_a_checkout[chromium]"] == "failed", outcomes
    assert "skipped" not in outcomes.values()
    reasons = verdict["reasons"]
    assert (f"integration: test_journey.py::test_a_checkout[chromium] failed: remote browser "
            f"server {browser_server.ws} closed the connection during the test (it stopped, or "
            "the network dropped): ") in reasons[0], reasons
    assert all("\n" not in r for r in reasons)
    if "-n" not in mode:  # serially the next test meets the dead connection
        assert outcomes["test_b_after[chromium]"] == "error"
        assert (f"test_b_after[chromium] errored: Failed: remote browser server "
                f"{browser_server.ws} closed the connection before this test") in reasons[1]


def test_server_without_unsafe_ignores_the_browser_path(
        pytester: pytest.Pytester, remote_run, server: LoopbackServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's rule: a server started without --unsafe drops executablePath and launches
    its own download; where there is none, that is a NO-GO line, not a local fallback."""
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "none"))
    safe = BrowserServer(tmp_path / "safe.log", unsafe=False)
    try:
        shop(server)
        pytester.makepyfile(test_journey=JOURNEY)
        run = remote_run(safe.ws, "-p", "no:xdist", f"--staging-browser-path={CHROMIUM}",
                         url=server.url)
    finally:
        safe.stop()
    assert run.ret != 0, run.output
    [reason] = run.verdict["reasons"]
    assert f"remote browser server {safe.ws} could not be used: Executable doesn't exist" \
        in reason, reason
