"""JUnit XML: the verdict on the suite's ``--junitxml`` file (controller). The per-test
``staging_flaky`` property of a test that passed on a rerun is set by ``report_hooks`` on every
process that runs tests. The XML itself is written by ``reports.junit``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_staging.controller import Controller


class JunitHooks:
    """On the controller, with ``--junitxml``: the verdict onto the suite, after pytest's
    junitxml plugin has written the file."""

    def __init__(self, controller: Controller, path: str) -> None:
        self.controller = controller
        self.path = path

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.annotate(session.config)

    def annotate(self, config: pytest.Config) -> None:
        """Put the verdict on the JUnit file (again, when a late fact changed the verdict)."""
        verdict = self.controller.verdict
        if verdict is None or not os.path.isfile(self.path):
            return
        try:
            from pytest_staging.reports.junit import annotate_junit

            annotate_junit(self.path, verdict)
        except Exception as exc:  # the verdict is already written; say so, never crash
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"pytest-staging: could not add the verdict to "
                                    f"{self.path}: {type(exc).__name__}: {exc}", red=True)


def register(config: pytest.Config, controller: Controller) -> None:
    """Register the controller's JUnit hooks (the per-test flaky property is set by
    ``report_hooks.ReportHooks`` on every process that runs tests)."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        config.pluginmanager.register(JunitHooks(controller, os.path.abspath(xmlpath)),
                                      "staging-junit")
