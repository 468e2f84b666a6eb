"""One rule for what a gate needs, in the run and in ``pytest-staging verify``.

``decide()`` and verify's checks (re-derivation, required gates) judge a gate by the same
function (``verdict.gate_shortfall`` / ``gate_unmet``) and a GO by the same evidence rule
(``verdict.blocking_evidence``): a verdict the run calls GO is accepted by verify and a verdict
verify refuses was never a GO, apart from what only the deploy side knows (key, age, binding).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_staging.cli import main
from pytest_staging.schema import validation_errors
from pytest_staging.selection import selection
from pytest_staging.signing import signed
from pytest_staging.verdict import (
    OUTCOMES,
    GateSpec,
    RunFacts,
    TargetFacts,
    TestRecord,
    decide,
    gate_shortfall,
    gate_unmet,
)
from pytest_staging.verify import VerifyError, VerifyOptions, first_failure, run_checks, verify

KEY = "gate-rule-test-key-0c0c"
GATES = ("integration", "security", "performance", "smoke")
FINISHED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
NOW = FINISHED + timedelta(minutes=5)


def judged(specs: list[GateSpec], tests: list[TestRecord], *,
           selected: list[str] | None = None, gate_data: dict[str, Any] | None = None,
           flaky_policy: str = "warn", exit_status: int = 0, fail_on: str = "error",
           deselected: int = 0) -> RunFacts:
    """The facts of a finished run against a ready target, as the controller gathers them: the
    selected gates' specs, and the selection record of the policy's declared gates."""
    chosen = selected if selected is not None else [s.name for s in specs]
    return RunFacts(
        run_id="r1", started=(FINISHED - timedelta(seconds=9)).isoformat(),
        finished=FINISHED.isoformat(), duration=9.0, exit_status=exit_status, complete=True,
        target=TargetFacts(url="http://127.0.0.1:8080/", reachable=True, ready=True,
                           ready_after=0.1),
        gates=[s for s in specs if s.name in chosen],
        tests=[t for t in tests if t.gate in chosen], gate_data=gate_data or {},
        flaky_policy=flaky_policy, fail_on=fail_on,
        selection=selection(filters=[], deselected=deselected, examples=[],
                            gates_selected=chosen, gates_declared=[s.name for s in specs],
                            gates_blocking=[s.name for s in specs if s.blocking]))


def on_disk(verdict: dict[str, Any]) -> dict[str, Any]:
    """What the deploy job reads: the signed verdict after a JSON round trip."""
    return json.loads(json.dumps(signed(verdict, KEY)))


def deploy_side(verdict: dict[str, Any], **options: Any) -> VerifyError | None:
    """``pytest-staging verify`` with the run's key, as the README's deploy job runs it (a
    partial run with the consent it needs: --allow-partial and --skip-gate for each blocking
    gate it did not select); the first refusal, or None."""
    sel = verdict.get("selection") or {}
    if sel.get("partial"):
        options.setdefault("allow_partial", True)
        options.setdefault("skip_gates", [g for g in sel.get("gates_blocking", [])
                                          if g not in sel.get("gates_selected", [])])
    return first_failure(run_checks(on_disk(verdict), VerifyOptions(key=KEY, now=NOW,
                                                                     **options)))


# -- the property: run GO <=> verify accepts -----------------------------------------------------
# Weighted towards clean runs, so that GO verdicts (and empty gates in them) are common: an
# equivalence tested on NO-GO runs alone would prove little.
def mostly(value: Any, others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(value), st.just(value), st.just(value), others)


records = st.builds(
    TestRecord, nodeid=st.integers(0, 10**6).map(lambda i: f"t.py::t{i}"),
    gate=st.sampled_from(GATES), outcome=mostly("passed", st.sampled_from(OUTCOMES)),
    blocking=mostly(True, st.booleans()), flaky=mostly(False, st.booleans()))
checks = st.fixed_dictionaries({"name": st.sampled_from(["p95 <= 200ms", "grade >= B"]),
                                "passed": mostly(True, st.booleans()),
                                "blocking": st.booleans(),
                                "detail": st.just("observed vs required")})


@st.composite
def runs(draw: st.DrawFn) -> RunFacts:
    names = draw(st.lists(st.sampled_from(GATES), min_size=1, max_size=4, unique=True))
    specs = [GateSpec(n, blocking=draw(mostly(True, st.just(False))),
                      min_tests=draw(st.sampled_from([0, 0, 1, 2])),
                      max_skipped=draw(mostly(None, st.integers(0, 1))))
             for n in names]
    selected = draw(st.one_of(st.just(names), st.lists(st.sampled_from(names), min_size=1,
                                                       unique=True)))
    # Tests of the gates not selected are dropped, as the run deselects them.
    tests = [dataclasses.replace(t, gate=draw(st.sampled_from(selected + names)))
             for t in draw(st.lists(records, min_size=1, max_size=6,
                                    unique_by=lambda t: t.nodeid))]
    gate_data = {n: {"checks": draw(st.lists(checks, max_size=2))}
                 for n in names if draw(st.booleans())}
    return judged(specs, tests, selected=selected, gate_data=gate_data,
                  flaky_policy=draw(st.sampled_from(["warn", "fail"])),
                  exit_status=draw(st.sampled_from([0, 1, 5])),
                  fail_on=draw(mostly("error", st.just("warn"))),
                  deselected=draw(mostly(0, st.just(2))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_run_go_if_and_only_if_verify_accepts(facts: RunFacts) -> None:
    verdict = decide(facts)
    assert validation_errors(verdict) == []
    refusal = deploy_side(verdict)
    if verdict["verdict"] == "GO":
        assert refusal is None, (str(refusal), verdict["gates"])
    else:
        assert refusal is not None, verdict["reasons"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_a_forged_go_of_a_nogo_run_is_refused(facts: RunFacts) -> None:
    """The converse from the other side: whatever the run's facts, a file that says GO where
    decide() says NO-GO is refused by verify's own reading of the same facts."""
    verdict = decide(facts)
    if verdict["verdict"] == "GO":
        return
    forged = dict(verdict, verdict="GO", judgement="passed", reasons=[])
    assert deploy_side(forged) is not None


# -- the rule, example by example ---------------------------------------------------------------
def passed(nodeid: str, gate: str, *, blocking: bool = True) -> TestRecord:
    return TestRecord(nodeid, gate, outcome="passed", blocking=blocking)


def test_the_rule_itself() -> None:
    assert gate_shortfall(GateSpec("a", min_tests=1), 0) == "ran 0 test(s), needs at least 1"
    assert gate_shortfall(GateSpec("a", min_tests=0), 0) is None
    assert gate_shortfall(GateSpec("a", blocking=False, min_tests=3), 0) is None
    assert gate_unmet("a", {"status": "failed", "blocking": True, "min_tests": 0, "ran": 4}) \
        == "is failed"
    assert gate_unmet("a", {"status": "empty", "blocking": True, "min_tests": 2, "ran": 1}) \
        == "ran 1 test(s), needs at least 2"


def test_an_empty_blocking_gate_with_min_tests_0_is_go_in_the_run_and_in_verify() -> None:
    """The 18-in-100 case: the policy allows the gate to be empty; both sides agree."""
    specs = [GateSpec("integration"), GateSpec("security", min_tests=0)]
    verdict = decide(judged(specs, [passed("t.py::a", "integration")]))
    assert verdict["verdict"] == "GO"
    assert verdict["gates"]["security"]["status"] == "empty"
    assert deploy_side(verdict) is None
    results = run_checks(on_disk(verdict), VerifyOptions(key=KEY, now=NOW))
    gates = next(r for r in results if r.check == "gates")
    # counted for what it is: empty, not passed
    assert gates.detail == ("gates passed: integration, security (empty, min_tests = 0) "
                            "(blocking gates of the policy)")
    # a deploy job that demands evidence of the gate says so explicitly
    assert str(deploy_side(verdict, require_gates=["security"])) == (
        "gates: required gate security is empty with 0 test(s) run (--require-gate)")


def test_no_blocking_test_is_no_go_in_the_run_and_refused_by_verify() -> None:
    """Every blocking gate may be empty (min_tests = 0) and is: only an advisory test ran."""
    specs = [GateSpec("integration", min_tests=0), GateSpec("smoke", blocking=False)]
    facts = judged(specs, [passed("t.py::a", "integration", blocking=False),
                           passed("t.py::s", "smoke")])
    verdict = decide(facts)
    assert verdict["reasons"] == [
        "no blocking test ran: the 2 test(s) that ran are advisory (they report, never block); "
        "make a gate blocking or add a blocking test"]
    forged = on_disk(dict(verdict, verdict="GO", judgement="passed", reasons=[]))
    with pytest.raises(VerifyError, match="its own facts give NO-GO: no blocking test ran"):
        verify(forged, key=KEY, now=NOW)
    # the gate check alone refuses it too (a Python caller that turned re-derivation off)
    with pytest.raises(VerifyError) as info:
        verify(forged, key=KEY, now=NOW, rederive=False)
    assert str(info.value) == ("gates: no blocking test ran: nothing in this verdict could have "
                               "blocked a bad release (only advisory gates or tests ran)")


def test_allow_partial_keeps_the_blocking_gates_of_the_policy() -> None:
    """--staging-gate smoke (advisory): partial, and nothing blocking ran."""
    specs = [GateSpec("integration"), GateSpec("security"),
             GateSpec("smoke", blocking=False, min_tests=0)]
    tests = [passed("t.py::a", "integration"), passed("t.py::b", "security"),
             passed("t.py::s", "smoke")]
    verdict = decide(judged(specs, tests, selected=["smoke"]))
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"][0].startswith("no blocking test ran")
    forged = on_disk(dict(verdict, verdict="GO", judgement="passed", reasons=[]))
    for options in ({"allow_partial": True},
                    {"allow_partial": True, "skip_gates": ["integration", "security"]}):
        with pytest.raises(VerifyError):
            verify(forged, key=KEY, now=NOW, **options)
    with pytest.raises(VerifyError) as info:
        verify(forged, key=KEY, now=NOW, rederive=False, allow_partial=True)
    assert str(info.value) == ("gates: required gate integration did not run (blocking gates "
                               "of the policy)")
    with pytest.raises(VerifyError) as info:
        verify(forged, key=KEY, now=NOW, rederive=False, allow_partial=True,
               skip_gates=["integration", "security"])
    assert str(info.value).startswith("gates: no blocking test ran")

    # a partial run of one blocking gate: accepted once the others are named away
    verdict = decide(judged(specs, tests, selected=["integration"]))
    assert verdict["verdict"] == "GO" and verdict["selection"]["partial"] is True
    assert str(deploy_side(verdict, skip_gates=[])) == (
        "gates: required gate security did not run (blocking gates of the policy)")
    assert deploy_side(verdict, skip_gates=["security"]) is None
    # --require-gate adds to the policy's gates, it never replaces them
    assert str(deploy_side(verdict, skip_gates=[], require_gates=["integration"])) == (
        "gates: required gate security did not run (blocking gates of the policy)")


@pytest.mark.parametrize(("args", "expected"), [
    (("--skip-gate", "security"), "usage: --skip-gate only applies with --allow-partial"),
    (("--allow-partial", "--skip-gate", "securty"), "usage: --skip-gate securty is not one of "
                                                    "the blocking gates of the policy: "
                                                    "integration, security"),
    (("--allow-partial", "--skip-gate", "security", "--require-gate", "security"),
     "usage: --skip-gate security and --require-gate security: give one of them"),
    (("--allow-partial", "--skip-gate", ""), "usage: --skip-gate is empty"),
])
def test_skip_gate_misuse_is_refused_in_one_line(tmp_path, capsys, monkeypatch, args,
                                                 expected) -> None:
    monkeypatch.setenv("STAGING_VERDICT_KEY", KEY)
    specs = [GateSpec("integration"), GateSpec("security")]
    verdict = decide(judged(specs, [passed("t.py::a", "integration")], selected=["integration"]))
    verdict["run"]["finished"] = datetime.now(timezone.utc).isoformat()
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(signed(verdict, KEY)))
    capsys.readouterr()
    assert main(["verify", str(path), *args]) == 2  # a usage error (docs/exit-codes.md)
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"pytest-staging verify: {expected}")
    assert main(["verify", str(path), "--allow-partial", "--skip-gate", "security"]) == 0
    out = capsys.readouterr().out
    assert "gates passed: integration (blocking gates of the policy); not required: security " \
           "(--skip-gate)" in out


def test_a_history_problem_never_blocks_in_the_run_nor_in_verify() -> None:
    """A store that could not be used is a warning that never blocks, not even under
    ``--staging-fail-on=warn``; verify's re-derivation must give the same GO (it once read the
    problem back as an ordinary warning and refused a GO the run had made)."""
    facts = judged([GateSpec("integration")], [passed("t.py::a", "integration")],
                   fail_on="warn")
    facts = dataclasses.replace(facts, history={
        "problems": ["history store h.db: cannot read it (file is not a database)"]})
    verdict = decide(facts)
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert verdict["warnings"] == ["history store h.db: cannot read it (file is not a database)"]
    assert deploy_side(verdict) is None
    assert validation_errors(verdict) == []
