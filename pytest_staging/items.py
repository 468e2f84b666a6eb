"""Per-test machinery, on every process that runs tests (serial run or xdist worker):
gate assignment, gate selection, the destructive guard, and what each report carries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _pytest
import pluggy
import pytest
import requests
import urllib3

from pytest_staging import record as gate_record
from pytest_staging.client import StagingSession, format_evidence
from pytest_staging.printable import sanitize_report
from pytest_staging.redact import Redactor, redact_data
from pytest_staging.settings import Settings
from pytest_staging.skip_location import relocate_skip
from pytest_staging.wire import ReportPayload, ensure_payload

CLIENT_KEY = pytest.StashKey[StagingSession]()
GATE_KEY = pytest.StashKey[tuple[str, bool]]()
DESTRUCTIVE_KEY = pytest.StashKey[bool]()


def gate_of(item: pytest.Item, gates: Any, default: str) -> str:
    """The gate of ``item``: its closest gate marker, else the policy's default gate."""
    for mark in item.iter_markers():
        if mark.name in gates:
            return str(mark.name)
    return default


def one_line(report: pytest.TestReport | pytest.CollectReport, limit: int = 240) -> str:
    """The one line a human needs from a failure: the exception message, not the traceback."""
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = ""
    if crash is not None and getattr(crash, "message", ""):
        text = crash.message
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
    else:
        lines = [ln for ln in str(longrepr or "").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("E ")]
        # The last "E" line is the exception itself (a SyntaxError report starts with its
        # "File ..., line 1" location).
        text = errors[-1] if errors else (lines[-1] if lines else "")
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text.removeprefix("E").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Frames from these packages are noise in the report of a failed HTTP request.
_MACHINERY = tuple(str(Path(m.__file__ or "").parent) for m in (requests, urllib3, _pytest, pluggy))
_OWN = str(Path(__file__).parent)


def short_http_failure(excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
    """The failure of a request the target did not answer, without pages of urllib3 internals:
    the test's own frames and the requests exception, not its chain of causes."""

    def ours(entry: Any) -> bool:
        path = str(entry.path)
        return not (path.startswith(_MACHINERY) or path.startswith(_OWN))

    filtered = excinfo.traceback.filter(ours)
    if len(filtered):
        excinfo.traceback = filtered
    return excinfo.getrepr(style="short", chain=False)


def without_import_machinery(text: str) -> str:
    """pytest's report of a test module that fails to import, minus its "Traceback:" header
    and importlib's frames: the module's own line and the error are what a reader needs."""
    head, sep, frames = text.partition("\nTraceback:\n")
    if not sep:
        return text
    kept: list[str] = []
    skipping = False
    for line in frames.splitlines():
        if line and not line[0].isspace() and not line.startswith("E "):
            skipping = "importlib" in line
        if not skipping:
            kept.append(line)
    return "\n".join([head, *kept])


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
        gates, default_gate = policy.gates, policy.default_gate
        retries = policy["flaky.retries"]
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            # One walk over the markers (closest first) instead of one per question asked.
            gate, names = "", set()
            for mark in item.iter_markers():
                names.add(mark.name)
                if not gate and mark.name in gates:
                    gate = mark.name
            gate = gate or default_gate
            advisory = "advisory" in names
            item.stash[GATE_KEY] = (gate, not advisory)
            if gate not in selected:
                dropped.append(item)
                continue
            item.user_properties.append(("staging_gate", gate))
            item.user_properties.append(("staging_blocking", str(not advisory).lower()))
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
        if "performance" in selected:  # else no kept item is in the performance gate
            items.sort(key=lambda it: it.stash[GATE_KEY][0] == "performance")

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
        # One wrapper per report for all of this (three reports per test): the skip location,
        # the flaky property, the payload, redaction.
        if report.outcome == "skipped":
            relocate_skip(item, report)
        elif report.outcome == "failed":
            if call.excinfo is not None and isinstance(call.excinfo.value,
                                                       requests.RequestException):
                report.longrepr = short_http_failure(call.excinfo)
        elif (report.outcome == "passed" and report.when == "call"
              and getattr(item, "execution_count", 1) > 1):
            # Passed on a rerun (pytest-rerunfailures): carried by the report, so xdist-safe.
            item.user_properties.append(("staging_flaky", "true"))
        gate, blocking = item.stash.get(GATE_KEY, None) or (self.settings.policy.default_gate,
                                                             True)
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

    def redactor_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return redact_data(data, self.redactor)  # type: ignore[return-value]

    def redact_report(self, report: pytest.TestReport) -> None:
        """Mask secrets in the failure text and captured output before anything prints them."""
        if not self.redactor.secrets:
            return
        if report.longrepr is not None:
            report.longrepr = scrub(report.longrepr, self.redactor, set())
            text = str(report.longrepr)
            if self.redactor.text(text) != text:  # a shape scrub() does not know: flatten it
                report.longrepr = self.redactor.text(text)
        report.sections = [(title, self.redactor.text(body)) for title, body in report.sections]


def scrub(value: Any, redactor: Redactor, seen: set[int]) -> Any:
    """Mask secrets inside pytest's failure representation, keeping its structure (so the
    traceback keeps its colours and the short summary its one-line message)."""
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, list):
        value[:] = [scrub(v, redactor, seen) for v in value]
        return value
    if isinstance(value, tuple):
        return tuple(scrub(v, redactor, seen) for v in value)
    if id(value) in seen or not type(value).__module__.startswith("_pytest"):
        return value
    seen.add(id(value))
    for name, attr in list(vars(value).items()):
        object.__setattr__(value, name, scrub(attr, redactor, seen))
    return value
