"""What sending the browser's staging requests one hop at a time costs (``forward`` in
``pytest_staging/browser/fixtures.py``).

    python bench/browser_route.py [--loads 8] [--resources 30]

One headless Chromium, one loopback staging server, two ways of adding the staging headers,
alternating load by load (a shared machine's load lands on both alike):

- ``continue``: the old way, ``route.fallback(headers=...)``: Chromium sends the request and
  follows redirects itself, with our headers on every hop (another origin's too);
- ``forward``: the plugin's route handler itself (``BrowserHooks.forward``): Playwright's HTTP
  client sends the request with ``max_redirects=0`` and the browser gets the answer by
  ``route.fulfill``.

Measured: the load of a page with ``--resources`` sub-resources from staging (images, scripts,
stylesheets; ms per ``page.goto(..., wait_until="load")``, a new page each time; routing
turns the browser's HTTP cache off, so every load sends them all), and a page with 4 images
that each take 1 s to answer (they must load in parallel: ~1 s, not 4 s).
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402
from servers import LoopbackServer  # noqa: E402

from pytest_staging.browser.chromium import find_system_chromium  # noqa: E402
from pytest_staging.browser.evidence import PageWatcher  # noqa: E402
from pytest_staging.browser.fixtures import BrowserHooks  # noqa: E402

HEADERS = {"Authorization": "Bearer bench-token"}
SLOW_IMAGES = 4
SLOW_SECONDS = 1.0
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
       b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def staging(resources: int) -> LoopbackServer:
    server = LoopbackServer().start()
    tags = []
    for n in range(resources):
        kind = n % 3
        if kind == 0:
            tags.append(f'<img src="/r/{n}.gif">')
            server.routes[f"/r/{n}.gif"] = lambda req: (200, {"Content-Type": "image/gif"}, GIF)
        elif kind == 1:
            tags.append(f'<script src="/r/{n}.js"></script>')
            server.routes[f"/r/{n}.js"] = lambda req, n=n: (
                200, {"Content-Type": "text/javascript"}, f"window.r{n} = {n};".encode())
        else:
            tags.append(f'<link rel="stylesheet" href="/r/{n}.css">')
            server.routes[f"/r/{n}.css"] = lambda req, n=n: (
                200, {"Content-Type": "text/css"}, f".r{n} {{ color: red }}".encode())
    page = ("<!doctype html><title>bench</title>" + "".join(tags)).encode()
    server.routes["/page"] = lambda req: (200, {"Content-Type": "text/html"}, page)

    def slow(req: Any) -> tuple[int, dict[str, str], bytes]:
        time.sleep(SLOW_SECONDS)
        return 200, {"Content-Type": "image/gif"}, GIF

    slow_tags = "".join(f'<img src="/slow/{n}.gif">' for n in range(SLOW_IMAGES))
    slow_page = f"<!doctype html><title>slow</title>{slow_tags}".encode()
    server.routes["/slow"] = lambda req: (200, {"Content-Type": "text/html"}, slow_page)
    for n in range(SLOW_IMAGES):
        server.routes[f"/slow/{n}.gif"] = slow
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=8, help="page loads per way [8]")
    parser.add_argument("--resources", type=int, default=30, help="sub-resources [30]")
    args = parser.parse_args()
    chromium = os.environ.get("STAGING_BROWSER_PATH") or find_system_chromium()
    server = staging(args.resources)
    origin = server.url.rstrip("/")
    # The real handler, on the two attributes it reads of its hooks.
    hooks = SimpleNamespace(headers=HEADERS, sensitive=None)

    def continue_way(route: Any) -> None:
        route.fallback(headers={**route.request.headers, **HEADERS})

    def forward_way(route: Any) -> None:
        BrowserHooks.forward(hooks, route, PageWatcher())  # type: ignore[arg-type]

    ways = {"continue": continue_way, "forward": forward_way}
    times: dict[str, list[float]] = {way: [] for way in ways}
    slow: dict[str, list[float]] = {way: [] for way in ways}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        contexts = {}
        for way, handler in ways.items():
            context = browser.new_context(base_url=server.url)
            context.grant_permissions(["local-network-access"], origin=origin)
            context.route(lambda url: url.startswith(server.url), handler)
            contexts[way] = context
        for context in contexts.values():  # warm up: driver, connections, code paths
            page = context.new_page()
            page.goto("/page")
            page.close()
        for _ in range(args.loads):
            for way, context in contexts.items():
                page = context.new_page()
                started = time.perf_counter()
                page.goto("/page", wait_until="load")
                times[way].append((time.perf_counter() - started) * 1000)
                page.close()
        for _ in range(2):
            for way, context in contexts.items():
                page = context.new_page()
                started = time.perf_counter()
                page.goto("/slow", wait_until="load")
                page.wait_for_function(
                    "[...document.images].every(i => i.complete && i.naturalWidth == 1)")
                slow[way].append(time.perf_counter() - started)
                page.close()
        browser.close()
    server.stop()
    staging_requests = len(server.requests)
    print(f"{'way':<10} {'median ms/load':>15} {'min':>8} {'max':>8}   "
          f"{SLOW_IMAGES} x {SLOW_SECONDS:.0f} s images (s)")
    for way in ways:
        print(f"{way:<10} {statistics.median(times[way]):>15.1f} {min(times[way]):>8.1f} "
              f"{max(times[way]):>8.1f}   {', '.join(f'{s:.2f}' for s in slow[way])}")
    print(json.dumps({"resources": args.resources, "loads": args.loads,
                      "ms_per_load": {w: [round(t, 1) for t in times[w]] for w in ways},
                      "slow_images_s": {w: [round(s, 2) for s in slow[w]] for w in ways},
                      "staging_requests": staging_requests}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
