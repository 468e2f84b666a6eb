"""Collection, on every process that runs tests (serial run or xdist worker): the gate of each
test applied (``gate_assignment``), gate selection, the destructive guard, the flaky reruns
marker, and on xdist workers what was deselected or dropped. What each report carries (gate
data, evidence, redaction) is ``report_hooks.ReportHooks``, which ``ItemHooks`` extends so the
core registers one plugin object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_staging.gate_assignment import GATE_KEY, assign, run_last
from pytest_staging.report_hooks import DESTRUCTIVE_KEY, ReportHooks
from pytest_staging.shard_hooks import left_out
from pytest_staging.wire import payload_of

#: How many collected tests a blocked run (target not ready, our own checks broken) did not
#: run: never deselections (``pytest_deselected`` would make pytest print a negative
#: "selected" count once the gates have added their built-in items), never "dropped".
NOT_RUN_KEY = pytest.StashKey[int]()


def skip_entry(report: pytest.CollectReport, default_gate: str) -> dict[str, Any]:
    """A collection report that skipped (a module's ``importorskip``, a module-level skip, a
    package's conftest) as builtins: ``{"nodeid", "gate", "blocking", "reason"}``, the gate
    from the report's payload (``ReportHooks`` read the module's ``pytestmark``), else the
    default gate; ``plugin_error`` when reading it failed."""
    payload = payload_of(report)
    known = payload is not None and bool(payload.gate)
    longrepr = report.longrepr
    reason = str(longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3
                 else longrepr or "skipped")
    return {"nodeid": report.nodeid or "(rootdir)",
            "gate": payload.gate if known else default_gate,  # type: ignore[union-attr]
            "blocking": bool(payload.blocking) if known else True,  # type: ignore[union-attr]
            "reason": reason.removeprefix("Skipped: "),
            "plugin_error": payload.plugin_error if payload is not None else ""}


def add_builtin_items(session: pytest.Session, items: list[pytest.Item],
                      new: list[pytest.Item]) -> None:
    """A gate's built-in items (``staging-security::headers``, ...), added at collection and
    reported as collected like any test (one collection report of the session), so that
    pytest's "collected N items / M deselected / K selected" counts them: never a negative
    count when ``-k``, ``-m`` or ``--deselect`` leaves some of them out."""
    if not new:
        return
    items.extend(new)
    report = pytest.CollectReport(f"{new[0].nodeid.split('::', 1)[0]}", "passed", None,
                                  list(new))
    session.config.hook.pytest_collectreport(report=report)


@dataclass(eq=False)  # a plugin must stay hashable: pluginmanager.get_plugins() is a set
class ItemHooks(ReportHooks):
    """Hooks for the process that collects and runs the tests (settings and redactor come
    from ``ReportHooks``)."""

    #: Whether the target (or its redirect chain) matches sensitive_url; asked at collection.
    is_sensitive: Callable[[], bool]
    #: Why no test may run (the target is not ready), or "" when they may.
    blocked: Callable[[], str] = lambda: ""
    collected: int = 0
    #: Items removed because the run was blocked (see ``NOT_RUN_KEY``).
    not_run: int = 0
    #: Collection reports that skipped, as ``skip_entry()`` gives them.
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        policy = self.settings.policy
        if self.blocked():
            # Running tests against an unready target only adds minutes of timeouts. Not a
            # deselection: nothing was selected away, the run could not start its tests.
            self.not_run += len(items)
            config.stash[NOT_RUN_KEY] = self.not_run
            output = getattr(config, "workeroutput", None)
            if output is not None:
                output["staging_not_run"] = self.not_run
            items[:] = []
            return
        selected = set(self.settings.gates_selected)
        retries = policy["flaky.retries"]
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
        if report.skipped:
            self.skipped.append(skip_entry(report, self.settings.policy.default_gate))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """On an xdist worker: items that vanished without pytest_deselected, and modules
        skipped at collection, for the controller's record of what the run left out (xdist
        forwards skipped collection reports too, but only one of several that read alike:
        two modules skipped by one helper's ``pytest.skip`` would be one)."""
        output = getattr(session.config, "workeroutput", None)
        if output is None:
            return
        if self.collected:
            deselected = int(output.get("staging_deselected", 0))
            output["staging_dropped"] = max(
                self.collected - deselected - self.not_run - len(session.items)
                - left_out(session.config), 0)
        if self.skipped:
            output["staging_collection_skipped"] = list(self.skipped)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """On an xdist worker: what was left out travels to the controller (workeroutput)."""
        output = getattr(items[0].config, "workeroutput", None) if items else None
        if output is None:
            return
        output["staging_deselected"] = int(output.get("staging_deselected", 0)) + len(items)
        examples = output.setdefault("staging_deselected_examples", [])
        examples.extend(i.nodeid for i in items[:max(20 - len(examples), 0)])
