"""``pytest-staging diff`` never reports a fix that did not happen (issue 24 item 4): a
finding, metric, test or reason missing because its gate or its test did not run is "not
measured", never resolved, fixed, removed, added or a metric change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servers import LoopbackServer, free_port, json_answer
from verdict_samples import clone, go_verdict, nogo_verdict

from pytest_staging.cli import main
from pytest_staging.diff import diff_verdicts, has_changes, render_diff_markdown

#: Security advisory, so the run with findings is still GO; fast readiness for the down run.
POLICY = """
[target]
wait = 0.3
interval = 0.1
[gates.security]
blocking = false
[gates.performance]
blocking = false
"""
SUITE = """
def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_orders(staging):
    assert staging.get("/health").status_code == 200
"""


def _run(pytester: pytest.Pytester, url: str, report: str, *args: str) -> dict:
    pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--staging-url={url}",
                                 "--staging-policy", "policy.toml",
                                 "--staging-report-dir", report, *args)
    return json.loads((pytester.path / report / "verdict.json").read_text())


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_go_then_staging_down_resolves_nothing(pytester: pytest.Pytester,
                                               server: LoopbackServer, mode: list[str],
                                               capsys) -> None:
    """The issue's case, as real runs: a GO with security findings and metrics, then a run
    whose target was down."""
    server.routes["/"] = lambda req: json_answer({"ok": True}, **{"Set-Cookie": "sid=1"})
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_app=SUITE)
    good = _run(pytester, server.url, "good", *mode)
    assert good["verdict"] == "GO", good["reasons"]
    findings = good["gates"]["security"]["findings"]
    assert findings and all(f.get("nodeid", "").startswith("staging-security::")
                            for f in findings)
    assert good["gates"]["security"]["metrics"]
    down = _run(pytester, f"http://127.0.0.1:{free_port()}/", "down", *mode)
    assert down["verdict"] == "NO-GO"

    d = diff_verdicts(good, down)
    assert d["resolved_findings"] == [] and d["fixed"] == [] and d["removed_tests"] == []
    assert d["metric_changes"] == [] and d["resolved_reasons"] == []
    nm = d["not_measured"]
    assert len(nm["findings"]) == len(findings)
    assert {t["nodeid"] for t in nm["tests"]} == {t["nodeid"] for t in good["tests"]}
    assert nm["metrics"] and all(m["side"] == "new" for m in nm["metrics"])
    assert set(nm["gates"]["new"]) == {"integration", "security", "performance"}
    md = render_diff_markdown(d)
    assert "Resolved findings" not in md and "metric changes" not in md.lower()
    assert "Fixed tests" not in md
    assert "### Not measured in the new run (" in md
    # The other way round: nothing is "new" or "added" against a run that measured nothing.
    back = diff_verdicts(down, good)
    assert back["new_findings"] == [] and back["added_tests"] == []
    assert back["metric_changes"] == []
    assert all(not t["new_test"] for t in back["newly_failing"])
    assert "new test)" not in render_diff_markdown(back)
    # The JSON of the command carries it too.
    capsys.readouterr()
    assert main(["diff", str(pytester.path / "good"), str(pytester.path / "down"),
                 "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["resolved_findings"] == [] and data["not_measured"]["findings"]


def test_partial_run_resolves_only_what_its_tests_measured(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """A finding resolves when the test that found it ran again: the headers check ran in the
    new (partial) run and the header is now sent; the cookie check did not run."""
    server.routes["/"] = lambda req: json_answer({"ok": True}, **{"Set-Cookie": "sid=1"})
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_app=SUITE)
    old = _run(pytester, server.url, "old", "-p", "no:xdist")
    rules = {f["rule"]: f["nodeid"] for f in old["gates"]["security"]["findings"]}
    assert "csp-missing" in rules and any(n.endswith("cookies") for n in rules.values())
    server.always_headers["Content-Security-Policy"] = "default-src 'self'"
    new = _run(pytester, server.url, "new", "-p", "no:xdist", "-k", "headers or health")
    assert new["selection"]["partial"] is True
    d = diff_verdicts(old, new)
    resolved = {f["rule"] for f in d["resolved_findings"]}
    assert "csp-missing" in resolved
    unmeasured = {f["rule"]: f for f in d["not_measured"]["findings"]}
    # Found by checks that did not run this time (cookies, exposure): not measured.
    assert "cookie-no-httponly" in unmeasured
    assert all(f["nodeid"] != "staging-security::headers" for f in unmeasured.values())
    assert not resolved & set(unmeasured)
    assert "tests/test_app.py::test_orders" not in d["removed_tests"]
    assert any(t["nodeid"].endswith("test_orders") for t in d["not_measured"]["tests"])


def test_a_failing_test_that_did_not_run_is_not_fixed() -> None:
    old = nogo_verdict()
    for outcome in ("skipped", "xfailed", "incomplete"):
        new = clone(old)
        new["tests"][-1]["outcome"] = outcome
        d = diff_verdicts(old, new)
        assert d["fixed"] == [], outcome
        assert d["not_measured"]["tests"] == [{
            "nodeid": "tests/test_api.py::test_checkout", "gate": "integration",
            "before": "failed", "now": outcome, "side": "new"}]
        assert "was failed; now " + outcome in render_diff_markdown(d)
    new = clone(old)
    new["tests"][-1]["outcome"] = "passed"
    assert [t["nodeid"] for t in diff_verdicts(old, new)["fixed"]] == [
        "tests/test_api.py::test_checkout"]


def test_metrics_of_a_gate_that_did_not_run() -> None:
    old, new = go_verdict(), go_verdict()
    perf = new["gates"]["performance"]
    perf["metrics"] = {}
    new["tests"][-1]["outcome"] = "skipped"  # the load test did not run
    d = diff_verdicts(old, new)
    assert d["metric_changes"] == []
    assert {m["metric"] for m in d["not_measured"]["metrics"]} == {
        "performance.requests", "performance.rps", "performance.p95_ms",
        "performance.error_rate"}
    assert "4 metric(s) of performance (values of the old run)" in render_diff_markdown(d)
    # When the gate ran whole, a metric that vanished is a change, as before.
    new["tests"][-1]["outcome"] = "passed"
    d = diff_verdicts(old, new)
    assert {m["metric"] for m in d["metric_changes"]} == {
        "performance.requests", "performance.rps", "performance.p95_ms",
        "performance.error_rate"}
    assert d["not_measured"]["metrics"] == []


def test_findings_without_a_test_need_their_whole_gate() -> None:
    """An older verdict's findings name no test: resolved only when their gate ran whole."""
    old = nogo_verdict()
    new = go_verdict()
    new["tests"] = [t for t in new["tests"] if t["gate"] != "security"]
    d = diff_verdicts(old, new)
    assert d["resolved_findings"] == []
    assert [f["rule"] for f in d["not_measured"]["findings"]] == ["B105"]
    assert "security" in d["not_measured"]["gates"]["new"]
    assert [f["rule"] for f in diff_verdicts(old, go_verdict())["resolved_findings"]] == [
        "B105"]


def test_reasons_of_a_gate_that_did_not_run_are_not_resolved() -> None:
    old = nogo_verdict()
    new = clone(old)
    new["reasons"] = ["target not ready after 1.0s (3 attempts): http://x/: connection refused"]
    new["target"]["ready_after"] = None
    d = diff_verdicts(old, new)
    assert d["resolved_reasons"] == []
    assert d["not_measured"]["reasons"] == old["reasons"]
    assert "reason no longer checked: integration: 1 blocking test failed" in \
        render_diff_markdown(d)


def test_not_measured_alone_is_a_change(tmp_path: Path) -> None:
    old, new = go_verdict(), go_verdict()
    new["tests"] = new["tests"][:-1]
    new["selection"]["partial"] = True
    d = diff_verdicts(old, new)
    assert d["removed_tests"] == []
    assert has_changes(d)
    assert "No changes." not in render_diff_markdown(d)
