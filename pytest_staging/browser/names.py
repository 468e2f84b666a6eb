"""Names the light browser glue and the Playwright fixtures share (a leaf module: the glue
imports the fixtures lazily, the fixtures import these, and nothing imports back)."""

from __future__ import annotations

import pytest

#: The browser to launch (``--staging-browser-path``), resolved once per process.
BROWSER_PATH_KEY = pytest.StashKey["str | None"]()
#: Sub-folder of the report dir holding screenshots and traces, one folder per test.
ARTIFACTS_DIR = "browser"
#: Written into that folder: only a folder holding it is removed at the start of a run.
ARTIFACTS_MARKER = ".pytest-staging-artifacts"
