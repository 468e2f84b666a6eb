"""The false-GO hunter: random runs (outcomes per phase, duplicates, missing phases, reruns,
workers, signals, partial selections, policies) fed through the per-node-id bookkeeping and
``decide()``. On every example: GO only with positive evidence for everything counted, judged
by an oracle written from the raw reports, independently of the code under test."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_staging.outcomes import OutcomeBook, PhaseReport
from pytest_staging.selection import selection
from pytest_staging.verdict import GateSpec, RunFacts, TargetFacts, TestRecord, decide

PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GATES = ("integration", "security", "smoke")
PHASE_OUTCOMES = {"setup": ("passed", "passed", "passed", "failed", "skipped", "rerun"),
                  "call": ("passed", "passed", "passed", "failed", "skipped", "rerun"),
                  "teardown": ("passed", "passed", "passed", "failed")}


@dataclass
class Plan:
    """A test as the hunter drew it: what was expected and which reports arrived."""

    nodeid: str
    gate: str
    blocking: bool
    expected: dict[str, int]
    reports: list[PhaseReport]


@st.composite
def attempt(draw: st.DrawFn, nodeid: str, instance: str) -> list[PhaseReport]:
    """One setup/call/teardown sequence, possibly cut short or with a phase missing."""
    out: list[PhaseReport] = []
    xfail = draw(st.booleans()) and draw(st.booleans())
    for when in ("setup", "call", "teardown"):
        if draw(st.integers(0, 9)) == 0:  # the phase report never arrives
            continue
        outcome = draw(st.sampled_from(PHASE_OUTCOMES[when]))
        out.append(PhaseReport(nodeid, when, outcome, instance, xfail=xfail,
                               message="boom" if outcome == "failed" else ""))
        if outcome == "rerun":
            if when != "teardown" and draw(st.booleans()):  # rerunfailures >= 14 sends it
                out.append(PhaseReport(nodeid, "teardown", "passed", instance))
            break
        if when == "setup" and outcome != "passed":
            out.append(PhaseReport(nodeid, "teardown", "passed", instance))
            break
    return out


@st.composite
def plan(draw: st.DrawFn, index: int, instances: tuple[str, ...], each: bool) -> Plan:
    nodeid = f"test_x.py::t{index}"
    expected: dict[str, int] = {}
    copies = draw(st.integers(1, 2))  # --keep-duplicates
    for inst in (instances if each else ("",)):
        expected[inst] = copies
    reports: list[PhaseReport] = []
    for inst in instances if each else (draw(st.sampled_from(instances)),):
        for _ in range(draw(st.integers(0, copies + 1))):
            reports += draw(attempt(nodeid, inst if each or inst else ""))
    return Plan(nodeid, draw(st.sampled_from(GATES)), draw(st.booleans()), expected, reports)


@st.composite
def runs(draw: st.DrawFn) -> tuple[RunFacts, list[Plan]]:
    each = draw(st.booleans())
    instances = ("gw0", "gw1") if each or draw(st.booleans()) else ("",)
    plans = [draw(plan(i, instances, each)) for i in range(draw(st.integers(0, 6)))]
    book = OutcomeBook()
    for p in plans:
        for inst, n in p.expected.items():
            for _ in range(n):
                book.expect(p.nodeid, inst)
    # Reports of different tests interleave under xdist; each node id keeps its own book, so
    # only the order within one test matters.
    for p in plans:
        for report in p.reports:
            book.add(report)
    gates = [GateSpec(name=g, blocking=draw(st.booleans()), min_tests=draw(st.integers(0, 2)),
                      max_skipped=draw(st.one_of(st.none(), st.integers(0, 2))))
             for g in GATES]
    meta = {p.nodeid: p for p in plans}
    tests = []
    for nodeid, tbook in book.tests.items():
        outcome, message, flaky = tbook.final()
        tests.append(TestRecord(nodeid=nodeid, gate=meta[nodeid].gate, outcome=outcome,
                                blocking=meta[nodeid].blocking, flaky=flaky, message=message))
    deselected = draw(st.integers(0, 2))
    facts = RunFacts(
        run_id="r", started="s", complete=True, exit_status=draw(st.sampled_from([0, 1])),
        signals=draw(st.lists(st.sampled_from(["SIGINT", "SIGTERM", "SIGHUP"]), max_size=2)),
        target=TargetFacts(url="http://127.0.0.1/", reachable=True, ready=True),
        gates=gates, tests=tests, flaky_policy=draw(st.sampled_from(["warn", "fail"])),
        selection=selection(filters=[], deselected=deselected, examples=[],
                            gates_selected=list(GATES), gates_declared=list(GATES),
                            gates_blocking=[g.name for g in gates if g.blocking]))
    return facts, plans


def evidence_problems(facts: RunFacts, plans: list[Plan]) -> list[str]:
    """Why GO would be false, from the raw reports alone."""
    problems = []
    if facts.signals:
        problems.append("signal")
    specs = {g.name: g for g in facts.gates}
    passed_blocking = dict.fromkeys(specs, 0)
    for p in plans:
        blocks = p.blocking and specs[p.gate].blocking
        kept: dict[str, list[list[PhaseReport]]] = {}
        current: dict[str, list[PhaseReport]] = {}
        for r in p.reports:
            seq = current.get(r.instance)
            if r.when == "setup" or seq is None or any(x.when == "teardown" for x in seq):
                seq = current[r.instance] = []
                kept.setdefault(r.instance, []).append(seq)
            seq.append(r)
        counted = {i: [s for s in seqs if not any(x.outcome == "rerun" for x in s)]
                   for i, seqs in kept.items()}
        for inst, n in p.expected.items():
            have = (sum(len(s) for s in counted.values()) if inst == ""
                    else len(counted.get(inst, [])))
            if have < n:
                problems.append(f"{p.nodeid} instance {inst!r} never completed")
        for seqs in counted.values():
            for seq in seqs:
                phases = {x.when: x.outcome for x in seq}
                failed = "failed" in phases.values()
                if failed and blocks:
                    problems.append(f"{p.nodeid} failed")
                if not failed and "teardown" not in phases:
                    problems.append(f"{p.nodeid} has no teardown")
                if not failed and phases.get("setup") == "passed" and "call" not in phases:
                    problems.append(f"{p.nodeid} was never called")
        # An upper bound of the tests decide() may count as passed for min_tests.
        if p.blocking and any(x.when == "call" and x.outcome == "passed"
                              for seqs in counted.values() for s in seqs for x in s):
            passed_blocking[p.gate] += 1
    for name, spec in specs.items():
        if spec.blocking and passed_blocking[name] < spec.min_tests:
            problems.append(f"gate {name} has too little evidence")
    return problems


@PROFILE
@given(runs())
def test_no_go_without_positive_evidence(run: tuple[RunFacts, list[Plan]]) -> None:
    facts, plans = run
    verdict = decide(facts)
    problems = evidence_problems(facts, plans)
    if problems:
        assert verdict["verdict"] == "NO-GO", problems
    assert (verdict["verdict"] == "GO") == (not verdict["reasons"])
    # every test that had no final outcome is named, never counted as passed
    for test in verdict["tests"]:
        if test["outcome"] == "incomplete":
            assert any(test["nodeid"] in r or "more" in r for r in verdict["reasons"])


def test_the_hunter_can_find_a_go() -> None:
    """The oracle is not vacuous: a clean run is GO."""
    book = OutcomeBook()
    book.expect("t.py::a")
    for when in ("setup", "call", "teardown"):
        book.add(PhaseReport("t.py::a", when, "passed"))
    outcome, _message, flaky = book.tests["t.py::a"].final()
    assert (outcome, flaky) == ("passed", False)
    facts = RunFacts(run_id="r", started="s", complete=True,
                     target=TargetFacts(url="u", reachable=True, ready=True),
                     gates=[GateSpec("integration")],
                     tests=[TestRecord(nodeid="t.py::a", gate="integration", outcome=outcome)])
    assert decide(facts)["verdict"] == "GO"
    assert evidence_problems(facts, [Plan("t.py::a", "integration", True, {"": 1}, [
        PhaseReport("t.py::a", w, "passed") for w in ("setup", "call", "teardown")])]) == []


def test_rerun_then_pass_is_flaky_and_a_failure_of_any_copy_counts() -> None:
    book = OutcomeBook()
    book.expect("t.py::a")
    book.add(PhaseReport("t.py::a", "setup", "passed"))
    book.add(PhaseReport("t.py::a", "call", "rerun"))
    book.add(PhaseReport("t.py::a", "teardown", "passed"))  # rerunfailures 16 reports it
    for when in ("setup", "call", "teardown"):
        book.add(PhaseReport("t.py::a", when, "passed"))
    assert book.tests["t.py::a"].final()[::2] == ("passed", True)
    book.expect("t.py::b")
    book.expect("t.py::b")
    for outcome in ("failed", "passed"):
        for when in ("setup", "call", "teardown"):
            book.add(PhaseReport("t.py::b", when, outcome if when == "call" else "passed"))
    assert book.tests["t.py::b"].final()[0] == "failed"
    book.expect("t.py::c", "gw0")
    book.expect("t.py::c", "gw1")
    for when in ("setup", "call", "teardown"):
        book.add(PhaseReport("t.py::c", when, "passed", "gw0"))
    assert book.tests["t.py::c"].final()[0] == "incomplete"
