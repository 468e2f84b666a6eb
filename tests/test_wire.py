"""The payload a report carries to the controller survives pytest's own report serialization
(what xdist sends) and execnet's serializer, and nothing else of ours rides on the report."""

from __future__ import annotations

import execnet
import pytest

from pytest_staging.wire import ATTR, ReportPayload, WireHooks, attach, payload_of


def test_payload_round_trip_through_the_report_hooks(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    config.pluginmanager.register(WireHooks(), "staging-wire-test")
    report = pytest.TestReport(nodeid="t.py::a", location=("t.py", 1, "a"), keywords={},
                               outcome="failed", longrepr="boom", when="call")
    sent = ReportPayload(gate="security", blocking=False, destructive=True,
                         data={"checks": [{"name": "p95", "passed": False}]},
                         evidence=[{"method": "GET", "url": "u", "status": 500}],
                         plugin_error="")
    attach(report, sent)
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    assert data[ATTR] == sent.to_dict()
    wire = execnet.loads(execnet.dumps(data))  # builtins only, or this raises
    back = config.hook.pytest_report_from_serializable(config=config, data=wire)
    assert payload_of(back) == sent
    assert back.outcome == "failed" and back.when == "call"


def test_a_report_without_payload_stays_without() -> None:
    report = pytest.TestReport(nodeid="t.py::a", location=("t.py", 1, "a"), keywords={},
                               outcome="passed", longrepr=None, when="call")
    assert payload_of(report) is None
    assert ReportPayload.from_dict({"gate": "x", "unknown": 1}) == ReportPayload(gate="x")
