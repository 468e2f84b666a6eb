"""Open a page of charts in headless Chromium (Playwright's sync API, the system Chromium) and
report what a person would see: console errors, and for each chart its series and how many of
its canvas pixels are painted."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

MARKS = """() => (window.stagingCharts || []).map(c => {
  const canvas = c.root.querySelector('canvas');
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted++; }
  return {id: c.spec.id, title: c.spec.title, painted: painted,
          series: c.series.slice(1).map(s => s.label),
          values: c.data.slice(1).map(d => d.filter(v => v !== null).length),
          legend: c.root.querySelector('.u-legend').innerText};
})"""


@dataclass
class PageView:
    errors: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    requests: list[str] = field(default_factory=list)

    def chart(self, prefix: str) -> dict[str, Any]:
        found = [c for c in self.charts if c["id"].startswith(prefix)]
        assert found, f"no chart {prefix}: {[c['id'] for c in self.charts]}"
        return found[0]


def open_page(path: Path, screenshot: Path | None = None) -> PageView:
    """Load ``path`` from disk with every network request refused and counted."""
    from playwright.sync_api import sync_playwright

    view = PageView()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: view.errors.append(m.text) if m.type == "error"
                    else None)
            page.on("pageerror", lambda e: view.errors.append(str(e)))

            def refuse(route: Any) -> None:
                if not route.request.url.startswith("file:"):
                    view.requests.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            page.route("**/*", refuse)
            page.goto(path.resolve().as_uri(), timeout=30_000)
            page.wait_for_function("() => window.stagingCharts !== undefined", timeout=30_000)
            view.charts = page.evaluate(MARKS)
            view.text = page.inner_text("body")
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return view
