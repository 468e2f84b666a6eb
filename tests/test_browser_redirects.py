"""Browser journeys: the staging-only headers and trace context never follow a staging
redirect to another origin (headless Chromium, pytest-playwright, two loopback origins: the
staging target and a "third party" on another port that records what it receives)."""

from __future__ import annotations

import gzip
import re

import pytest
from browser_tests import browser_module
from servers import LoopbackServer, Request
from test_trace_context import header

pytestmark = browser_module()

POLICY = "[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"
SECRET = "redirect-token-5d1e8b"
STATUSES = (301, 302, 303, 307, 308)
#: A real 1x1 GIF: the browser must decode it for naturalWidth to be 1.
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
       b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")

JOURNEY = """
import pytest
from playwright.sync_api import expect

THIRD = {third!r}


@pytest.mark.parametrize("status", {statuses!r})
def test_navigation(page, status):
    page.goto(f"/nav/{{status}}")
    expect(page.locator("#where")).to_have_text("third party")
    assert page.url == f"{{THIRD}}land?via={{status}}"


@pytest.mark.parametrize("status", {statuses!r})
def test_fetch_and_image(page, status):
    page.goto(f"/page/{{status}}")
    expect(page.locator("#xhr")).to_have_text("third-party data")
    expect(page.locator("#js")).to_have_text("compressed script ran")
    page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth == 1)")


def test_a_hop_back_to_staging(page):
    page.goto("/back")
    expect(page.locator("#where")).to_have_text("staging final")
"""


def html(body: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, (
        f"<!doctype html><title>t</title>{body}").encode()


def serve(staging: LoopbackServer, third: LoopbackServer) -> None:
    """Staging redirects a navigation, a fetch() and an <img> to the third party with each
    redirect status; the third party answers them (with CORS for the fetch)."""
    for status in STATUSES:
        staging.routes[f"/nav/{status}"] = (
            lambda req, s=status: (s, {"Location": f"{third.url}land?via={s}"}, b""))
        staging.routes[f"/img/{status}"] = (
            lambda req, s=status: (s, {"Location": f"{third.url}pix.gif?via={s}"}, b""))
        staging.routes[f"/xhr/{status}"] = (
            lambda req, s=status: (s, {"Location": f"{third.url}data?via={s}"}, b""))
        staging.routes[f"/page/{status}"] = lambda req, s=status: html(
            f'<p id="xhr"></p><p id="js"></p><img src="/img/{s}">'
            f'<script>fetch("/xhr/{s}").then(r => r.text()).then(t => '
            f'document.querySelector("#xhr").textContent = t)</script>'
            '<script src="/app.js"></script>')
    # A compressed answer goes through Playwright's client to the browser intact.
    staging.routes["/app.js"] = lambda req: (
        200, {"Content-Type": "text/javascript", "Content-Encoding": "gzip"},
        gzip.compress(b'document.querySelector("#js").textContent = "compressed script ran";'))
    staging.routes["/back"] = lambda req: (302, {"Location": "/final"}, b"")
    staging.routes["/final"] = lambda req: html('<p id="where">staging final</p>')
    third.routes["/land"] = lambda req: html('<p id="where">third party</p>')
    third.routes["/pix.gif"] = lambda req: (200, {"Content-Type": "image/gif"}, GIF)
    third.routes["/data"] = lambda req: (
        200, {"Content-Type": "text/plain", "Access-Control-Allow-Origin": "*"},
        b"third-party data")


def carries_our_secret(request: Request) -> bool:
    return any(SECRET in value for value in request.headers.values())


def test_staging_redirects_to_another_origin_carry_nothing_of_ours(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer,
        mode: list[str]) -> None:
    third = LoopbackServer().start()
    try:
        serve(server, third)
        pytester.makefile(".toml", policy=POLICY)
        pytester.makepyfile(test_journey=JOURNEY.format(third=third.url,
                                                        statuses=list(STATUSES)))
        run = run_staging("--staging-policy=policy.toml", *mode,
                          f"--staging-header=Authorization: Bearer {SECRET}",
                          url=server.url)
        assert run.ret == 0, run.output
        assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
        trace_ids = {test["trace_id"] for test in run.verdict["tests"]}
        assert len(trace_ids) == len(run.verdict["tests"]) == 2 * len(STATUSES) + 1
    finally:
        third.stop()

    # Every redirect reached the third party: a navigation, a fetch() and an image each.
    reached = {(r.path.split("?")[0], r.path.partition("via=")[2]) for r in third.requests}
    assert reached >= {(path, str(s)) for s in STATUSES
                       for path in ("/land", "/pix.gif", "/data")}, reached
    # ... and none of them got our token or our trace context.
    for request in third.requests:
        assert not carries_our_secret(request), (request.path, request.headers)
        assert header(request, "authorization") is None, request.path
        assert header(request, "traceparent") is None, request.path
        assert header(request, "tracestate") is None, request.path

    # The staging hops themselves did get them: each redirect was judged at staging.
    for prefix in ("/nav/", "/img/", "/xhr/", "/page/", "/app.js"):
        hops = [r for r in server.requests if r.path.startswith(prefix)]
        assert hops, prefix
        for request in hops:
            assert header(request, "authorization") == f"Bearer {SECRET}", request.path
            match = TRACEPARENT.match(header(request, "traceparent") or "")
            assert match and match.group(1) in trace_ids, (request.path, request.headers)
    assert {r.path for r in server.requests if r.path.startswith("/nav/")} == {
        f"/nav/{s}" for s in STATUSES}

    # The cost (docs/browser-journeys.md): Playwright routes no redirect hop, so a staging
    # redirect back to staging is followed by the browser itself, without our headers.
    [back] = [r for r in server.requests if r.path == "/back"]
    assert header(back, "authorization") == f"Bearer {SECRET}"
    [final] = [r for r in server.requests if r.path == "/final"]
    assert header(final, "authorization") is None
    assert header(final, "traceparent") is None
