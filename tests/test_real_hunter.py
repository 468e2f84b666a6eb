"""The real-run false-GO hunter (tests/real_hunt/): its oracle on hand-made scenarios, its model
of what pytest collects checked against pytest itself, and a fixed-seed slice of real runs
(``bench/hunt.py`` runs the long campaign)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from real_hunt.oracle import World, instances, judge
from real_hunt.runner import Run, run_scenario, run_seed
from real_hunt.scenario import (
    Case,
    Flags,
    GateRule,
    Module,
    Policy,
    Scenario,
    Signals,
    Target,
    TestFn,
    generate,
)
from real_hunt.suite import write_suite

HEALTHY = World(health_ok=True)


def one_per_gate(*extra: TestFn) -> Scenario:
    """A passing test in each built-in gate, plus ``extra`` (unmarked: integration)."""
    tests = tuple(TestFn(f"g{i}x", (Case(None, "pass"),), False, (gate,))
                  for i, gate in enumerate(("integration", "security", "performance")))
    return Scenario(seed=0, modules=(Module("test_m0.py", "normal", tests + extra),),
                    policy=Policy(wait=1.0), flags=Flags(), target=Target())


def rules(s: Scenario, world: World = HEALTHY) -> set[str]:
    return {rule for rule, _ in judge(s, world).no_go}


def test_oracle_go_only_with_evidence_for_every_blocking_gate() -> None:
    assert rules(one_per_gate()) == set()
    lone = dataclasses.replace(one_per_gate(), modules=(
        Module("test_m0.py", "normal", (TestFn("a1x", (Case(None, "pass"),), False),)),))
    assert rules(lone) == {"min-tests"}
    allowed = dataclasses.replace(lone, policy=Policy(wait=1.0, rules=(
        GateRule("security", min_tests=0), GateRule("performance", blocking=False))))
    assert rules(allowed) == set()


def test_oracle_failures_block_unless_advisory() -> None:
    fail = TestFn("f1x", (Case(None, "fail"),), False)
    assert rules(one_per_gate(fail)) == {"blocking-failure"}
    advisory = dataclasses.replace(fail, marks=("advisory",))
    assert rules(one_per_gate(advisory)) == set()
    strict = TestFn("x1x", (Case(None, "xfail_strict_passes"),), False)
    assert rules(one_per_gate(strict)) == {"blocking-failure"}
    loose = TestFn("x2x", (Case(None, "xfail_passes"),), False)
    assert rules(one_per_gate(loose)) == set()


def test_oracle_flaky_policy_and_reruns() -> None:
    flaky = TestFn("r1x", (Case(None, "flaky", arg=1, reruns=1),), False)
    s = one_per_gate(flaky)
    assert rules(s) == set()  # flaky.policy defaults to warn
    assert rules(dataclasses.replace(s, policy=Policy(wait=1.0, flaky_policy="fail"))) \
        == {"flaky-fail"}
    exhausted = TestFn("r2x", (Case(None, "flaky", arg=2, reruns=1),), False)
    assert rules(one_per_gate(exhausted)) == {"blocking-failure"}


def test_oracle_run_and_world_facts() -> None:
    s = one_per_gate()
    assert rules(s, World(health_ok=False)) == {"target-not-ready"}
    assert rules(s, World(health_ok=True, signals_alive=("SIGTERM",))) == {"signal"}
    deploy = TestFn("d1x", (Case(None, "deploy"),), False)
    drift = one_per_gate(deploy)
    redeployed = World(health_ok=True, deployed=True)
    assert rules(drift, redeployed) == set()  # nothing asked for the version
    checked = dataclasses.replace(drift, flags=Flags(expect_version="1.0.0"))
    assert rules(checked, redeployed) == {"redeploy"}
    stop = TestFn("e1x", (Case(None, "os_exit", arg=0),), False)
    assert rules(one_per_gate(stop)) == {"test-ends-run"}
    fail = TestFn("f1x", (Case(None, "fail"),), False, ("advisory",))
    assert rules(dataclasses.replace(one_per_gate(fail), flags=Flags(exitfirst=True))) \
        == {"maxfail"}


def test_oracle_partial_selection() -> None:
    s = one_per_gate()
    narrowed = dataclasses.replace(s, flags=Flags(keyword=("not", "g2x")))
    exp = judge(narrowed, HEALTHY)
    assert exp.left_out and {r for r, _ in exp.no_go} == {"min-tests"}
    gate_only = dataclasses.replace(s, flags=Flags(gates=("integration",)))
    exp = judge(gate_only, HEALTHY)
    assert exp.left_out and exp.go_allowed
    assert list(exp.outcomes) == ["test_m0.py::test_g0x"]


def test_generate_is_deterministic_and_covers_its_dimensions() -> None:
    assert generate(7) == generate(7)
    seen = set()
    for seed in range(300):
        seen.update(d.split(":")[0] + ":" + d.split(":")[1].split("=")[0]
                    for d in generate(seed).dimensions())
    for dim in ("fault:down", "fault:slow_within", "fault:slow_beyond", "fault:health500",
                "fault:api500", "fault:version_drift", "flag:-x", "flag:--maxfail", "flag:-k",
                "flag:-m", "flag:--lf", "flag:--deselect", "flag:--setup-only",
                "flag:--collect-only", "flag:--staging-gate", "flag:--keep-duplicates",
                "mode:n2", "mode:serial", "signal:SIGINT", "signal:SIGTERM", "signal:SIGHUP",
                "signal:two", "kind:exit", "kind:os_exit", "kind:flaky", "module:importorskip",
                "module:skip_module", "module:broken", "policy:min_tests", "policy:max_skipped",
                "policy:flaky", "conftest:exitstatus-wrapper", "suite:colliding-ids"):
        assert dim in seen, dim


@pytest.mark.parametrize("seed", [3, 11, 40, 95])
def test_oracle_collects_what_pytest_collects(seed: int, tmp_path: Path) -> None:
    """The oracle's model of collection (node ids, colliding parametrize ids, classes,
    --keep-duplicates) is what pytest itself collects (the plugin off)."""
    s = generate(seed)
    s = dataclasses.replace(s, modules=tuple(
        dataclasses.replace(m, mode="normal") if m.mode != "normal" else m for m in s.modules))
    write_suite(s, tmp_path)
    args = ["."]
    if s.flags.duplicate:
        args.append(s.flags.duplicate)
    if s.flags.keep_duplicates:
        args.append("--keep-duplicates")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:staging", "-p",
                           "no:cacheprovider", "--collect-only", "-q", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected, done.stdout + done.stderr
    assert sorted(collected) == sorted(i.nodeid for i in instances(s))


#: A fixed slice of the campaign (bench/hunt.py), serial unless said: a full GO (verify
#: accepts it); a partial GO with a conftest rewriting the exit status (trylast); a GO on a
#: target whose API answers 500 with --keep-duplicates; a GO under -n 2; a NO-GO for a
#: redeploy during the run (--staging-expect-version, --deselect, --staging-fail-on=warn); a
#: NO-GO after a real earlier run, with --lf, -k, -m and a wrapper rewriting the exit status.
SLICE = [20143, 20133, 20140, 20373, 20084, 20087]


def assert_no_break(run: Run) -> None:
    assert run.verdict is not None
    broken = [f.line() for f in run.findings if f.severity not in ("known", "info")]
    assert broken == [], "\n".join(broken)


@pytest.mark.parametrize("seed", SLICE)
def test_fixed_seed_real_runs_break_no_invariant(seed: int, tmp_path: Path) -> None:
    assert_no_break(run_seed(seed, tmp_path))


def signalled(name: str, ignored: tuple[str, ...], pause: float) -> Scenario:
    """One passing test per gate, the first pausing ``pause`` s; ``name`` sent 0.05 s into
    the first test's call (the process group, as a terminal's Ctrl-C)."""
    s = one_per_gate()
    first = s.modules[0].tests[0]
    slow = dataclasses.replace(first, cases=(Case(None, "pass", sleep=pause),))
    return dataclasses.replace(
        s, seed=900_000 + len(ignored),
        modules=(dataclasses.replace(s.modules[0], tests=(slow, *s.modules[0].tests[1:])),),
        signals=Signals((name,), (0.05,), group=True, anchor="test", ignored=ignored))


def test_a_signal_mid_test_is_a_no_go(tmp_path: Path) -> None:
    run = run_scenario(signalled("SIGTERM", (), pause=2.0), tmp_path)
    assert run.world.signals_alive == ("SIGTERM",)
    assert run.verdict_name == "NO-GO"
    assert_no_break(run)


def test_a_signal_the_run_ignores_leaves_its_go(tmp_path: Path) -> None:
    run = run_scenario(signalled("SIGHUP", ("SIGHUP",), pause=0.5), tmp_path)
    assert [alive for _, _, alive in run.sent] == [True]
    assert run.verdict_name == "GO"
    assert_no_break(run)


def test_hunter_finds_a_planted_false_go(tmp_path: Path) -> None:
    """The checks can fail: a GO the oracle forbids (here: a run whose target never became
    ready, with a GO planted by hand as if the plugin had written it) is reported."""
    from real_hunt.runner import check, planted_go

    s = dataclasses.replace(one_per_gate(), signals=Signals())
    report = tmp_path / "report"
    report.mkdir()
    run = Run(s, ["pytest"], ret=0, verdict=planted_go("this-run"))
    run.world = World(health_ok=False)
    run.expectation = judge(s, run.world)
    klasses = {f.klass for f in check(run, report)}
    assert "GO although: target-not-ready" in klasses
