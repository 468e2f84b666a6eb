"""What every module of Chromium journeys starts with: the browser to use and the module's
marks (one home; five test modules wrote it out before)."""

from __future__ import annotations

import os

import pytest

from pytest_staging.browser.chromium import find_system_chromium

#: The browser the journeys run in: $STAGING_BROWSER_PATH, else the system's Chromium.
CHROMIUM = os.environ.get("STAGING_BROWSER_PATH") or find_system_chromium()
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on PATH: apt-get install chromium (.ci/run does)")


def browser_module() -> list[pytest.MarkDecorator]:
    """Called at a module's top: skips the module without pytest-playwright (the [browser]
    extra), and returns its ``pytestmark``: slow, child runs load playwright, Chromium needed."""
    pytest.importorskip("pytest_playwright",
                        reason="needs pytest-playwright: pip install -e '.[browser]'")
    return [pytest.mark.slow, pytest.mark.child_plugins("playwright"), NEEDS_CHROMIUM]
