"""What each test report carries, on every process that runs tests: its gate and blocking
flag, the gate data a test recorded, the staging client's last exchanges as evidence, the
destructive-skip flag (all on ``wire.ReportPayload``); secrets masked and control characters
made visible before pytest prints, writes or sends it; short failure text for a request the
target did not answer and for a module that fails to import."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_staging import record as gate_record
from pytest_staging.client import StagingSession, format_evidence
from pytest_staging.compat import map_failure_text
from pytest_staging.failure_text import short_http_failure, without_import_machinery
from pytest_staging.gate_assignment import assign_unimported, assigned
from pytest_staging.printable import sanitize_report
from pytest_staging.redact import Redactor, redact_data, strip_credentials
from pytest_staging.request_problems import request_failed
from pytest_staging.settings import Settings
from pytest_staging.skip_location import relocate_skip
from pytest_staging.wire import ReportPayload, ensure_payload

#: The test's ``staging`` client (set by the fixture), for its exchanges as evidence.
CLIENT_KEY = pytest.StashKey[StagingSession]()
#: Set at collection on a destructive test skipped because the target is sensitive.
DESTRUCTIVE_KEY = pytest.StashKey[bool]()


@dataclass(eq=False)  # a plugin must stay hashable: pluginmanager.get_plugins() is a set
class ReportHooks:
    """Report hooks for the process that runs the tests."""

    settings: Settings
    redactor: Redactor

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector
                                   ) -> Iterator[None]:
        report: pytest.CollectReport = yield
        if report.failed and report.longrepr is not None:
            text = str(report.longrepr)
            short = without_import_machinery(text)
            if short != text:
                report.longrepr = short
        elif report.skipped:
            # A module (or a folder, by its conftest) skipped at collection: its tests count
            # as skipped in their gate. The gate travels with the report (xdist too).
            payload = ensure_payload(report)
            try:
                path = Path(collector.path) if isinstance(collector, pytest.Module) else None
                policy = self.settings.policy
                found = assign_unimported(path, policy.gates, policy.default_gate)
                payload.gate, payload.blocking = found.gate, found.blocking
            except Exception as exc:  # the controller turns this into NO-GO
                payload.plugin_error = (f"collection report of {report.nodeid}: "
                                        f"{type(exc).__name__}: {exc}").splitlines()[0]
        return report  # type: ignore[return-value]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield
        # One wrapper per report for all of this (three reports per test): the skip location,
        # the flaky property, the payload, redaction.
        if report.outcome == "skipped":
            relocate_skip(item, report)
        elif report.outcome == "failed":
            if call.excinfo is not None and isinstance(call.excinfo.value,
                                                       requests.RequestException):
                report.longrepr = short_http_failure(call.excinfo)
                reason = self.request_reason(call.excinfo.value)
                if reason:
                    ensure_payload(report).reason = reason
        elif (report.outcome == "passed" and report.when == "call"
              and getattr(item, "execution_count", 1) > 1):
            # Passed on a rerun (pytest-rerunfailures): the JUnit property staging_flaky=true,
            # carried by the report, so xdist-safe.
            item.user_properties.append(("staging_flaky", "true"))
        if report.when == "call" and getattr(item, "execution_count", 1) > 1:
            # The JUnit property staging_reruns: attempts before this one. pytest < 8 writes
            # one test case per rerun test, so the count cannot come from folding duplicates
            # (reports/junit.py fold_reruns); the last attempt's value is the one that stays.
            item.user_properties[:] = [p for p in item.user_properties
                                       if p[0] != "staging_reruns"]
            item.user_properties.append(
                ("staging_reruns", str(getattr(item, "execution_count", 1) - 1)))
        gate, blocking = assigned(item, self.settings.policy.default_gate)
        payload = ensure_payload(report)
        payload.gate, payload.blocking = gate, blocking
        try:
            self.annotate(item, report, payload)
        except Exception as exc:  # the controller turns this into NO-GO
            payload.plugin_error = (
                f"report of {item.nodeid}: {type(exc).__name__}: {exc}".splitlines()[0])
        return report  # type: ignore[return-value]

    def annotate(self, item: pytest.Item, report: pytest.TestReport,
                 payload: ReportPayload) -> None:
        """Fill the report's payload (gate data, evidence, destructive skip); redact it."""
        stash = item.stash
        if DESTRUCTIVE_KEY in stash:
            payload.destructive = stash[DESTRUCTIVE_KEY]
        data = gate_record.take(item)
        if data:
            payload.data = self.redactor_data(data)
        if report.outcome == "failed":
            client = stash.get(CLIENT_KEY, None)
            if client is not None and client.exchanges:
                evidence = client.evidence(self.redactor)
                payload.evidence = [*evidence, *payload.evidence]
                report.sections.append(("staging: last HTTP exchanges",
                                        format_evidence(evidence)))
        if report.longrepr is None and not report.sections:
            return  # a passed phase that printed nothing: no text to redact or escape
        self.redact_report(report)
        sanitize_report(report)  # control characters from the target print as escapes

    def request_reason(self, exc: requests.RequestException) -> str:
        """``ConnectionError: cannot GET https://staging/api/orders: connection refused``:
        the reason of a failed request in the words of staging being down, where urllib3's
        own text puts the cause last (a reason cut to one line loses it)."""
        request = getattr(exc, "request", None)
        url = str(getattr(request, "url", "") or "")
        if not url:
            return ""
        shown = strip_credentials(self.redactor.url(url))
        return self.redactor.text(f"{type(exc).__name__}: "
                                  f"{request_failed(str(request.method or 'GET'), shown, exc)}")

    def redactor_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return redact_data(data, self.redactor)  # type: ignore[return-value]

    def redact_report(self, report: pytest.TestReport) -> None:
        """Mask secrets in the failure text and captured output before anything prints them."""
        if not self.redactor.secrets:
            return
        if report.longrepr is not None:
            report.longrepr = map_failure_text(report.longrepr, self.redactor.text)
            text = str(report.longrepr)
            if self.redactor.text(text) != text:  # a shape compat does not know: flatten it
                report.longrepr = self.redactor.text(text)
        report.sections = [(title, self.redactor.text(body)) for title, body in report.sections]

