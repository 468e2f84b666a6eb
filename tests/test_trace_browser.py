"""Browser journeys carry the test's trace to the staging origin only (headless Chromium,
pytest-playwright, two loopback origins)."""

from __future__ import annotations

import pytest
from browser_tests import browser_module
from servers import LoopbackServer
from test_trace_context import POLICY, header, spans

pytestmark = browser_module()

JOURNEY = """
def test_page(page):
    page.goto("/shop", wait_until="networkidle")
    assert page.evaluate("fetch('/api/cart').then(r => r.status)") == 200
    assert page.evaluate("fetch('/api/own', {headers: {traceparent: "
                         "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'}})"
                         ".then(r => r.status)") == 200
"""


def html(body: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, (
        f"<!doctype html><title>Shop</title>{body}").encode()


def test_browser_requests_carry_the_test_s_trace_to_staging_only(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer) -> None:
    other = LoopbackServer().start()  # another origin: a CDN, an analytics host
    try:
        other.routes["/pixel.gif"] = lambda req: (200, {"Content-Type": "image/gif"}, b"GIF89a")
        server.routes["/shop"] = lambda req: html(f'<img src="{other.url}pixel.gif">'
                                                  '<script src="/shop.js"></script>')
        server.routes["/shop.js"] = lambda req: (200, {"Content-Type": "text/javascript"},
                                                 b"void 0;")
        server.routes["/api/cart"] = lambda req: (200, {"Content-Type": "application/json"},
                                                  b"{}")
        server.routes["/api/own"] = server.routes["/api/cart"]
        pytester.makefile(".toml", policy=POLICY)
        pytester.makepyfile(test_journey=JOURNEY)
        run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
        assert run.ret == 0, run.output
        [test] = run.verdict["tests"]
        browser = [r for r in server.requests if r.path in ("/shop", "/shop.js", "/api/cart")]
        assert {r.path for r in browser} == {"/shop", "/shop.js", "/api/cart"}
        ids = spans(browser)  # every one a valid traceparent and our tracestate
        assert {trace for trace, _ in ids} == {test["trace_id"]}
        assert len({span for _, span in ids}) == len(ids)
        # The page's own traceparent (a frontend's tracing) wins.
        [own] = [r for r in server.requests if r.path == "/api/own"]
        assert header(own, "traceparent") == ("00-4bf92f3577b34da6a3ce929d0e0e4736-"
                                              "00f067aa0ba902b7-01")
        [pixel] = other.requests
        assert header(pixel, "traceparent") is None and header(pixel, "tracestate") is None
    finally:
        other.stop()
