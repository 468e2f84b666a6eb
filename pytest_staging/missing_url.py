"""An inactive run (no staging URL) of a suite made of staging tests: one usage line, exit 4.

Without a URL every test that asks for ``staging`` would error on its own, one line each, and
pytest would exit 1 as if the target had failed. When every selected test needs the target,
the run cannot mean anything: say once what is missing. A suite that also has tests that do not
need the target (unit tests next to the acceptance suite) still runs them; its staging tests
error with the same one line.

Under xdist the workers collect, and a worker cannot end the run cleanly: there each staging
test errors with the line, and the controller turns a run in which every test did so into
exit 4 with the same usage line.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_staging.settings import NO_URL

#: Fixtures that only make sense with a staging target.
STAGING_FIXTURES = frozenset({"staging", "staging_url", "staging_load", "staging_scan"})


def needs_target(item: pytest.Item) -> bool:
    """Whether ``item`` asks (directly or through other fixtures) for a staging fixture."""
    return not STAGING_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def usage_line(count: int) -> str:
    return (f"pytest-staging: {NO_URL} (or ini staging_url); all {count} selected test(s) "
            "need the staging target")


class MissingUrlHooks:
    """Registered only in an inactive run, on the process that collects."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if config.option.collectonly or not items:
            return
        if all(needs_target(item) for item in items):
            raise pytest.UsageError(usage_line(len(items)))


class XdistMissingUrlHooks:
    """On the xdist controller of an inactive run: every test errored for want of a URL."""

    def __init__(self) -> None:
        self.tests: dict[str, bool] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown" and report.passed:
            return  # only setup tells whether the test could start
        missing = report.when == "setup" and report.failed and NO_URL in str(report.longrepr)
        self.tests[report.nodeid] = self.tests.get(report.nodeid, True) and missing

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.tests and all(self.tests.values()) and int(exitstatus) == 1:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        if self.tests and all(self.tests.values()):
            terminalreporter.write_line(f"ERROR: {usage_line(len(self.tests))}", red=True)


def register(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "dist", "no") != "no" \
            and not hasattr(config, "workerinput"):
        config.pluginmanager.register(XdistMissingUrlHooks(), "staging-missing-url")
        return
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(MissingUrlHooks(), "staging-missing-url")
