"""Skip reasons that point at the test, not at pytest-staging's own files.

pytest shows where ``pytest.skip()`` was called: for a check that skips inside the plugin
(the transport check of a plain-HTTP target) that is a path deep in site-packages, which tells
a user nothing and looks like a crash. The test's own name is the useful location.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_OWN = str(Path(__file__).resolve().parent)


def relocate_skip(item: pytest.Item, report: pytest.TestReport) -> None:
    """A skip raised inside the plugin is shown at the test (called by the core's report
    hook, ``items.ItemHooks``, for skipped reports)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path = str(Path(str(longrepr[0])).resolve())
        if path.startswith(_OWN):
            report.longrepr = (item.nodeid, None, longrepr[2])  # type: ignore[assignment]
