"""Collection, on every process that runs tests (serial run or xdist worker): the gate of each
test applied (``gate_assignment``), gate selection, the destructive guard, the flaky reruns
marker, and on xdist workers what was deselected or dropped. What each report carries (gate
data, evidence, redaction) is ``report_hooks.ReportHooks``, which ``ItemHooks`` extends so the
core registers one plugin object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pytest_staging.gate_assignment import GATE_KEY, assign, run_last
from pytest_staging.report_hooks import DESTRUCTIVE_KEY, ReportHooks
from pytest_staging.shard_hooks import left_out


@dataclass(eq=False)  # a plugin must stay hashable: pluginmanager.get_plugins() is a set
class ItemHooks(ReportHooks):
    """Hooks for the process that collects and runs the tests (settings and redactor come
    from ``ReportHooks``)."""

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

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """On an xdist worker: items that vanished without pytest_deselected, for the
        controller's record of what the run left out."""
        output = getattr(session.config, "workeroutput", None)
        if output is not None and self.collected:
            deselected = int(output.get("staging_deselected", 0))
            output["staging_dropped"] = max(self.collected - deselected - len(session.items)
                                            - left_out(session.config), 0)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """On an xdist worker: what was left out travels to the controller (workeroutput)."""
        output = getattr(items[0].config, "workeroutput", None) if items else None
        if output is None:
            return
        output["staging_deselected"] = int(output.get("staging_deselected", 0)) + len(items)
        examples = output.setdefault("staging_deselected_examples", [])
        examples.extend(i.nodeid for i in items[:max(20 - len(examples), 0)])
