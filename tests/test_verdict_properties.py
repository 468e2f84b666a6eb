"""Property tests of the pure parts: decide() never says GO when any input signals trouble,
every verdict validates, and what crosses the xdist boundary survives execnet's serializer."""

from __future__ import annotations

import dataclasses
from typing import Any

import execnet
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytest_staging import verdict as v
from pytest_staging.schema import validation_errors
from pytest_staging.verdict import OUTCOMES, GateSpec, RunFacts, TargetFacts, decide

# Aliased: a module-level name starting with "Test" would be collected as a test class.
Record = v.TestRecord

GATES = ("integration", "security", "performance", "smoke")
PROFILE = settings(max_examples=150, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])

line = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
words = st.text("abcdefghijklmnopqrstuvwxyz_/.:-0123456789", min_size=1, max_size=20)
versions = st.one_of(st.none(), st.sampled_from(["1.0.0", "1.0.1", "2.0.0"]))

builtins_data = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
              st.floats(allow_nan=False, allow_infinity=False), line),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(words, inner, max_size=4)),
    max_leaves=12,
)

evidence = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST"]), "url": words,
    "status": st.one_of(st.none(), st.integers(100, 599)),
    "latency_ms": st.floats(0, 1e5), "request_headers": st.dictionaries(words, line, max_size=3),
    "response_headers": st.dictionaries(words, line, max_size=3), "body": line, "error": line,
})

records = st.builds(
    Record,
    nodeid=words.map(lambda w: f"test_x.py::{w}"),
    gate=st.sampled_from(GATES),
    outcome=st.sampled_from(OUTCOMES),
    duration=st.floats(0, 100),
    blocking=st.booleans(),
    flaky=st.booleans(),
    message=line,
    evidence=st.lists(evidence, max_size=2),
)

checks = st.fixed_dictionaries({"name": words, "passed": st.booleans(),
                                "blocking": st.booleans(), "detail": line})


@st.composite
def run_facts(draw: st.DrawFn) -> RunFacts:
    gates = [GateSpec(name=g, blocking=draw(st.booleans()), min_tests=draw(st.integers(0, 3)),
                      max_skipped=draw(st.one_of(st.none(), st.integers(0, 2))))
             for g in draw(st.lists(st.sampled_from(GATES), min_size=1, max_size=4, unique=True))]
    names = [g.name for g in gates]
    tests = draw(st.lists(records, max_size=8, unique_by=lambda t: t.nodeid))
    tests = [dataclasses.replace(t, gate=draw(st.sampled_from(names))) for t in tests]
    expected = draw(versions)
    target = TargetFacts(
        url="http://127.0.0.1:8000/", reachable=draw(st.booleans()), ready=draw(st.booleans()),
        not_ready_reason=draw(line), off_target=draw(st.sampled_from(["", "redirects away"])),
        expected_version=expected, version_start=draw(versions), version_end=draw(versions),
        version_error=draw(line))
    gate_data = {name: {"checks": draw(st.lists(checks, max_size=2)),
                        "metrics": draw(st.dictionaries(words, builtins_data, max_size=2))}
                 for name in names if draw(st.booleans())}
    return RunFacts(
        run_id="abc", started="2026-01-01T00:00:00Z", finished="2026-01-01T00:00:01Z",
        duration=draw(st.floats(0, 1e4)),
        exit_status=draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5])),
        complete=draw(st.booleans()),
        interrupted=draw(st.sampled_from(["", "", "SIGTERM"])),
        signals=draw(st.lists(st.sampled_from(["SIGINT", "SIGTERM"]), max_size=2)),
        output_errors=draw(st.lists(st.just("cannot write verdict.md"), max_size=1)),
        internal_error=draw(st.sampled_from(["", "", "boom"])),
        usage_errors=draw(st.lists(st.just("bad key"), max_size=1)),
        plugin_errors=draw(st.lists(st.just("hook: KeyError: x"), max_size=1)),
        collection_errors=draw(st.lists(st.just("test_b.py: SyntaxError"), max_size=1)),
        workers=draw(st.integers(0, 4)),
        workers_lost=draw(st.lists(st.just("gw1: crashed"), max_size=1)),
        target=target, gates=gates, tests=tests, gate_data=gate_data,
        flaky_policy=draw(st.sampled_from(["warn", "fail"])),
        versions={"python": "3.11", "xdist": None},
    )


def troubles(facts: RunFacts) -> list[str]:
    """Every input that must keep the verdict from GO, written independently of decide()."""
    found = []
    t = facts.target
    specs = {g.name: g for g in facts.gates}
    if facts.interrupted or facts.signals:
        found.append("interrupted")
    if facts.output_errors:
        found.append("reports not written")
    if facts.internal_error:
        found.append("internal error")
    if facts.usage_errors or facts.plugin_errors:
        found.append("usage/plugin error")
    if facts.workers_lost:
        found.append("lost worker")
    if facts.collection_errors:
        found.append("collection error")
    if not facts.complete:
        found.append("incomplete")
    if facts.exit_status not in (0, 1, 5):
        found.append("exit status")
    if not t.ready or t.off_target:
        found.append("target")
    if t.expected_version is not None and (t.version_start != t.expected_version
                                           or t.version_end != t.expected_version):
        found.append("version")
    if None not in (t.version_start, t.version_end) and t.version_start != t.version_end:
        found.append("version drift")
    for test in facts.tests:
        spec = specs.get(test.gate)
        blocking_gate = spec.blocking if spec else True
        if test.outcome in ("failed", "error") and test.blocking and blocking_gate:
            found.append(f"blocking failure {test.nodeid}")
        if test.outcome == "incomplete":
            found.append(f"no final outcome {test.nodeid}")
        if (test.flaky and test.outcome == "passed" and facts.flaky_policy == "fail"
                and test.blocking and blocking_gate):
            found.append("flaky")
    for gate in facts.gates:
        ran = sum(t.outcome in ("passed", "failed", "error") for t in facts.tests
                  if t.gate == gate.name and t.blocking)
        if gate.blocking and ran < gate.min_tests:
            found.append(f"empty blocking gate {gate.name}")
        skipped = sum(t.outcome in ("skipped", "xfailed", "xpassed") for t in facts.tests
                      if t.gate == gate.name and t.blocking)
        if gate.blocking and gate.max_skipped is not None and skipped > gate.max_skipped:
            found.append(f"too many skips in {gate.name}")
        for check in facts.gate_data.get(gate.name, {}).get("checks", []):
            if not check["passed"] and check["blocking"] and gate.blocking:
                found.append("failed blocking check")
    if not any(t.outcome in ("passed", "failed", "error") for t in facts.tests):
        found.append("no test ran")
    # GO needs evidence: at least one blocking test of a blocking gate ran (a test of a gate
    # the run did not declare counts as blocking, as decide() treats it).
    if not any(t.outcome in ("passed", "failed", "error") and t.blocking
               and (specs[t.gate].blocking if t.gate in specs else True) for t in facts.tests):
        found.append("no blocking test ran")
    return found


@PROFILE
@given(run_facts())
def test_never_go_when_anything_signals_trouble(facts: RunFacts) -> None:
    verdict = decide(facts)
    problems = troubles(facts)
    if problems:
        assert verdict["verdict"] == "NO-GO", problems
    assert (verdict["verdict"] == "GO") == (verdict["reasons"] == [])
    for reason in verdict["reasons"]:
        assert isinstance(reason, str) and reason


@st.composite
def clean_run_facts(draw: st.DrawFn) -> RunFacts:
    """Runs with nothing against them but what never blocks: advisory failures, non-blocking
    gates, skips, passing or non-blocking checks, a flaky pass under the warn policy."""
    gates = [GateSpec(name=g, blocking=draw(st.booleans()), min_tests=draw(st.integers(0, 1)))
             for g in draw(st.lists(st.sampled_from(GATES), min_size=1, max_size=4, unique=True))]
    blocking = {g.name: g.blocking for g in gates}
    tests = []
    for i, gate in enumerate(gates):
        for j in range(draw(st.integers(gate.min_tests, 3))):
            tests.append(Record(nodeid=f"t.py::g{i}_{j}", gate=gate.name, outcome="passed",
                                flaky=draw(st.booleans())))
        for j in range(draw(st.integers(0, 2))):
            outcome = draw(st.sampled_from([o for o in OUTCOMES if o != "incomplete"]))
            advisory = outcome in ("failed", "error") and blocking[gate.name]
            tests.append(Record(nodeid=f"t.py::x{i}_{j}", gate=gate.name, outcome=outcome,
                                blocking=not advisory, message=draw(line)))
    version = draw(versions)
    return RunFacts(
        run_id="r", started="s", complete=True, exit_status=draw(st.sampled_from([0, 1, 5])),
        target=TargetFacts(url="http://h/", reachable=True, ready=True,
                           expected_version=version, version_start=version, version_end=version),
        gates=gates, tests=tests, flaky_policy="warn",
        gate_data={g.name: {"checks": [dict(c, passed=c["passed"] or not c["blocking"]
                                            or not g.blocking) for c in draw(
                                                st.lists(checks, max_size=2))]}
                   for g in gates})


@PROFILE
@given(clean_run_facts())
def test_go_needs_a_clean_run(facts: RunFacts) -> None:
    """The converse, so the property above cannot pass by always saying NO-GO."""
    assume(not troubles(facts))
    verdict = decide(facts)
    assert verdict["verdict"] == "GO", verdict["reasons"]


@PROFILE
@given(run_facts())
def test_every_verdict_validates(facts: RunFacts) -> None:
    assert validation_errors(decide(facts)) == []


def _clean_facts() -> RunFacts:
    return RunFacts(
        run_id="r", started="s", complete=True,
        target=TargetFacts(url="http://h/", reachable=True, ready=True),
        gates=[GateSpec("integration")],
        tests=[Record(nodeid="t.py::ok", gate="integration")])


SPOILERS: dict[str, Any] = {
    "interrupted": lambda f: setattr(f, "interrupted", "SIGTERM"),
    "internal error": lambda f: setattr(f, "internal_error", "boom"),
    "lost worker": lambda f: f.workers_lost.append("gw0"),
    "collection error": lambda f: f.collection_errors.append("x.py: boom"),
    "not ready": lambda f: setattr(f.target, "ready", False),
    "version drift": lambda f: (setattr(f.target, "version_start", "1"),
                                setattr(f.target, "version_end", "2")),
    "empty blocking gate": lambda f: f.gates.append(GateSpec("security")),
    "blocking failure": lambda f: setattr(f.tests[0], "outcome", "failed"),
    "error": lambda f: setattr(f.tests[0], "outcome", "error"),
    "incomplete": lambda f: setattr(f, "complete", False),
}


@pytest.mark.parametrize("spoil", SPOILERS.values(), ids=SPOILERS.keys())
def test_each_single_trouble_is_enough(spoil: Any) -> None:
    facts = _clean_facts()
    assert decide(facts)["verdict"] == "GO"
    spoil(facts)
    assert decide(facts)["verdict"] == "NO-GO"


@PROFILE
@given(run_facts())
def test_judgement_follows_the_verdict_and_evidence_wins(facts: RunFacts) -> None:
    """passed iff GO; one more blocking failure anywhere makes any run ``failed``; with no
    failed test and no check left, no run is ``failed``."""
    verdict = decide(facts)
    assert (verdict["judgement"] == "passed") == (verdict["verdict"] == "GO")
    assert verdict["judgement"] in ("passed", "failed", "inconclusive")
    broken = dataclasses.replace(
        facts, gates=[*facts.gates, GateSpec("evidence")],
        tests=[*facts.tests, Record(nodeid="t.py::broken", gate="evidence", outcome="failed")])
    assert decide(broken)["judgement"] == "failed"
    spared = dataclasses.replace(
        facts, gate_data={}, tests=[dataclasses.replace(t, outcome="passed")
                                    if t.outcome in ("failed", "error") else t
                                    for t in facts.tests])
    assert decide(spared)["judgement"] != "failed"


@PROFILE
@given(records)
def test_test_record_survives_execnet(record: Record) -> None:
    data = record.to_dict()
    assert Record.from_dict(execnet.loads(execnet.dumps(data))) == record


@PROFILE
@given(run_facts())
def test_verdict_survives_execnet(facts: RunFacts) -> None:
    verdict = decide(facts)
    assert execnet.loads(execnet.dumps(verdict)) == verdict


def _thresholds() -> Any:
    # Merged: a missing parser is a failure, not a skip.
    from pytest_staging.gates.performance import thresholds

    return thresholds


units = {"ms": ("ms", 1.0), "s": ("s", 1000.0)}


@PROFILE
@given(metric=st.sampled_from(["avg", "p50", "p95", "p99", "fail_ratio", "rps"]),
       op=st.sampled_from(["<", "<=", ">", ">=", "=="]),
       value=st.decimals(min_value=0, max_value=10000, places=2),
       unit=st.sampled_from(["", "ms", "s", "%"]),
       endpoint=st.one_of(st.none(), st.sampled_from(["GET /api/items", "/health"])))
def test_threshold_parsing_round_trips(metric: str, op: str, value: Any, unit: str,
                                       endpoint: str | None) -> None:
    thresholds = _thresholds()
    if metric == "fail_ratio":
        unit = "%"
    elif metric == "rps":
        unit = ""
    elif unit == "%":
        unit = "ms"
    expr = f"{endpoint + ': ' if endpoint else ''}{metric} {op} {value}{unit}"
    parsed = thresholds.parse_threshold(expr)
    assert (parsed.metric, parsed.op, parsed.endpoint) == (metric, op, endpoint)
    scale = {"%": 0.01, "s": 1000.0}.get(unit, 1.0)
    assert parsed.limit == pytest.approx(float(value) * scale)
    # Parsing what it parsed again gives the same threshold.
    assert thresholds.parse_threshold(parsed.expr) == parsed
