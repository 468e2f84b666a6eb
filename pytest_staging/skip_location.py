"""Skip reasons that point at the test, not at pytest-staging's own files.

pytest shows where ``pytest.skip()`` was called: for a check that skips inside the plugin
(the transport check of a plain-HTTP target) that is a path deep in site-packages, which tells
a user nothing and looks like a crash. The test's own name is the useful location.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

_OWN = str(Path(__file__).resolve().parent)


class SkipLocation:
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield
        longrepr = report.longrepr
        if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
            path = str(Path(str(longrepr[0])).resolve())
            if path.startswith(_OWN):
                report.longrepr = (item.nodeid, None, longrepr[2])  # type: ignore[assignment]
        return report  # type: ignore[return-value]


def register(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipLocation(), "staging-skip-location")
