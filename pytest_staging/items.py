"""Per-test machinery, on every process that runs tests (serial run or xdist worker):
gate assignment, gate selection, the destructive guard, and what each report carries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from pytest_staging import record as gate_record
from pytest_staging.client import StagingSession, format_evidence
from pytest_staging.compat import map_failure_text
from pytest_staging.failure_text import short_http_failure, without_import_machinery
from pytest_staging.gate_assignment import GATE_KEY, assign, assigned, run_last
from pytest_staging.printable import sanitize_report
from pytest_staging.redact import Redactor, redact_data
from pytest_staging.settings import Settings
from pytest_staging.wire import ReportPayload, ensure_payload

CLIENT_KEY = pytest.StashKey[StagingSession]()
DESTRUCTIVE_KEY = pytest.StashKey[bool]()


@dataclass(eq=False)  # a plugin must stay hashable: pluginmanager.get_plugins() is a set
class ItemHooks:
    """Hooks for the process that collects and runs the tests."""

    settings: Settings
    redactor: Redactor
    #: Whether the target (or its redirect chain) matches sensitive_url; asked at collection.
    is_sensitive: Callable[[], bool]
    #: Why no test may run (the target is not ready), or "" when they may.
    blocked: Callable[[], str] = lambda: ""
    collected: int = 0

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        policy = self.settings.policy
        if self.blocked():
            # Running tests against an unready target only adds minutes of timeouts.
            config.hook.pytest_deselected(items=list(items))
            items[:] = []
            return
        selected = set(self.settings.gates_selected)
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            assignment = assign(item, policy.gates, policy.default_gate)
            gate, names = assignment.gate, assignment.markers
            item.stash[GATE_KEY] = (gate, assignment.blocking)
            if gate not in selected:
                dropped.append(item)
                continue
            item.user_properties.append(("staging_gate", gate))
            item.user_properties.append(("staging_blocking", str(assignment.blocking).lower()))
            retries = policy["flaky.retries"]
            if retries and "flaky" not in names:
                # pytest-rerunfailures' own marker: it reruns, the controller sees "rerun".
                item.add_marker(pytest.mark.flaky(reruns=retries))
            if ("destructive" in names and self.is_sensitive()
                    and not self.settings.allow_destructive):
                item.stash[DESTRUCTIVE_KEY] = True
                item.add_marker(pytest.mark.skip(
                    reason="destructive test not run: the target matches sensitive_url "
                           "(--staging-allow-destructive overrides)"))
            keep.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        # Load tests measure the target: run them after every other gate so nothing overlaps.
        items.sort(key=run_last)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.collected += sum(1 for x in report.result if isinstance(x, pytest.Item))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """On an xdist worker: items that vanished without pytest_deselected, for the
        controller's record of what the run left out."""
        output = getattr(session.config, "workeroutput", None)
        if output is not None and self.collected:
            deselected = int(output.get("staging_deselected", 0))
            output["staging_dropped"] = max(self.collected - deselected - len(session.items),
                                            0)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """On an xdist worker: what was left out travels to the controller (workeroutput)."""
        output = getattr(items[0].config, "workeroutput", None) if items else None
        if output is None:
            return
        output["staging_deselected"] = int(output.get("staging_deselected", 0)) + len(items)
        examples = output.setdefault("staging_deselected_examples", [])
        examples.extend(i.nodeid for i in items[:max(20 - len(examples), 0)])

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector
                                   ) -> Iterator[None]:
        report: pytest.CollectReport = yield
        if report.failed and report.longrepr is not None:
            text = str(report.longrepr)
            short = without_import_machinery(text)
            if short != text:
                report.longrepr = short
        return report  # type: ignore[return-value]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield
        if (report.failed and call.excinfo is not None
                and isinstance(call.excinfo.value, requests.RequestException)):
            report.longrepr = short_http_failure(call.excinfo)
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
        payload.destructive = item.stash.get(DESTRUCTIVE_KEY, False)
        data = gate_record.take(item)
        if data:
            payload.data = self.redactor_data(data)
        client = item.stash.get(CLIENT_KEY, None)
        if report.failed and client is not None and client.exchanges:
            evidence = client.evidence(self.redactor)
            payload.evidence = [*evidence, *payload.evidence]
            report.sections.append(("staging: last HTTP exchanges", format_evidence(evidence)))
        self.redact_report(report)
        sanitize_report(report)  # control characters from the target print as escapes

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

