"""Whether this machine can run the storefront's browser journeys (the demo skips them when
it cannot; a real suite lets pytest-staging fail them with what to install)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from pytest_staging.browser.chromium import find_system_chromium


def skip_reason() -> str:
    """Why the journeys cannot run here, or "" when they can."""
    if importlib.util.find_spec("pytest_playwright") is None:
        return "browser journeys need pytest-playwright: pip install 'pytest-staging[browser]'"
    if os.environ.get("STAGING_BROWSER_WS"):
        return ""  # a remote browser server runs them (docs/scaling-out.md, browser farm)
    if os.environ.get("STAGING_BROWSER_PATH") or find_system_chromium():
        return ""
    downloads = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
                     or Path.home() / ".cache" / "ms-playwright")
    if any(downloads.glob("chromium*")):
        return ""
    return ("browser journeys need a Chromium: apt-get install chromium (or set "
            "STAGING_BROWSER_PATH)")
