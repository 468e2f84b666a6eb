"""The oracle: from a scenario (and what the harness saw happen), may the run be GO?

Written from the scenario and the documented rules (docs/no-go.md, CONTRACT section 5), never
from the plugin's code: no import of ``pytest_staging`` here. ``World`` holds what the harness
itself observed and the scenario cannot say in advance: which signals reached a live process
(from the process timeline), whether the target answered a health poll below 500 or was
redeployed (the target's own log), and pytest's last-failed cache for ``--lf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .scenario import BUILTIN_GATES, VERSION, Case, Module, Scenario, TestFn

#: Outcomes of a test that ran to completion.
PASSED = ("passed", "flaky")
FAILED = ("failed", "error")
NOT_RUN = ("skipped", "xfailed", "xpassed")
STOP = "stop"


@dataclass(frozen=True)
class World:
    """What the harness saw, independently of the plugin."""

    #: Signals sent while the process was alive (not yet exited) at the moment of sending.
    signals_alive: tuple[str, ...] = ()
    #: The target answered a health poll below 500.
    health_ok: bool = False
    #: The target was redeployed (its version changed) during the run.
    deployed: bool = False
    #: pytest's .pytest_cache lastfailed node ids before the run (``--lf`` only).
    lastfailed: frozenset[str] | None = None


@dataclass(frozen=True)
class Instance:
    nodeid: str
    fn_nodeid: str
    module: Module
    fn: TestFn
    case: Case
    gate: str
    blocks: bool  # in a blocking gate and not advisory
    markers: frozenset[str]


@dataclass
class Expectation:
    """The oracle's judgement of one run."""

    #: Why GO is impossible, as (rule, detail); empty: GO is expected.
    no_go: list[tuple[str, str]] = field(default_factory=list)
    #: Something collected was left out of the run (GO must then be marked partial).
    left_out: bool = False
    #: node id -> outcomes the verdict may record for it when the run is GO.
    outcomes: dict[str, set[str]] = field(default_factory=dict)
    #: Modules skipped at collection whose absence a GO must warn about (issue 20 item 10).
    collection_skipped: list[str] = field(default_factory=list)
    #: The gates the run selected.
    gates: list[str] = field(default_factory=list)

    @property
    def go_allowed(self) -> bool:
        return not self.no_go


@dataclass(frozen=True)
class GateLaw:
    blocking: bool
    min_tests: int
    max_skipped: int | None


def gate_laws(s: Scenario) -> dict[str, GateLaw]:
    """Each declared gate's rules, from the policy as written (defaults from the docs:
    blocking, min_tests 1 when blocking else 0, no max_skipped)."""
    rules = {r.name: r for r in s.policy.rules}
    laws = {}
    for name in s.declared_gates():
        rule = rules.get(name)
        blocking = rule.blocking if rule and rule.blocking is not None else True
        min_tests = rule.min_tests if rule and rule.min_tests is not None else int(blocking)
        laws[name] = GateLaw(blocking, min_tests, rule.max_skipped if rule else None)
    return laws


def default_gate(s: Scenario) -> str:
    return s.policy.default_gate or "integration"


def kind_markers(case: Case) -> set[str]:
    marks = {"hunt_kind"}
    if case.kind == "skip_mark":
        marks.add("skip")
    elif case.kind.startswith("skipif"):
        marks.add("skipif")
    elif case.kind.startswith("xfail_") and case.kind != "xfail_body":
        marks.add("xfail")
    if case.reruns is not None:
        marks.add("flaky")
    return marks


def instances(s: Scenario) -> list[Instance]:
    """Every test instance pytest collects, in collection order (a module named twice with
    --keep-duplicates: twice)."""
    declared = set(s.declared_gates())
    laws = gate_laws(s)
    out: list[Instance] = []
    modules = sorted(s.modules, key=lambda m: m.name)
    copies = {m.name: 1 for m in modules}
    if s.flags.duplicate and s.flags.keep_duplicates:
        copies[s.flags.duplicate] = 2
    for module in modules:
        if module.mode not in ("normal", "skip_marker"):
            continue
        for _ in range(copies[module.name]):
            for fn in module.tests:
                fn_nodeid = "::".join(p for p in (module.name, fn.cls, fn.name) if p)
                colliding = fn.parametrized and len({c.id for c in fn.cases}) < len(fn.cases)
                for i, case in enumerate(fn.cases):
                    if not fn.parametrized:
                        nodeid = fn_nodeid
                    elif colliding:
                        nodeid = f"{fn_nodeid}[{case.id}{i}]"
                    else:
                        nodeid = f"{fn_nodeid}[{case.id}]"
                    # Closest gate marker wins: the case's or function's, the class's, the
                    # module's; else the default gate.
                    gate = ""
                    for level in (case.marks + fn.marks, fn.cls_marks, module.marks):
                        named = [m for m in level if m in declared]
                        if named:
                            gate = named[0]
                            break
                    gate = gate or default_gate(s)
                    markers = set(case.marks + fn.marks + fn.cls_marks + module.marks)
                    markers |= kind_markers(case)
                    if fn.parametrized:
                        markers.add("parametrize")
                    if module.mode == "skip_marker":
                        markers.add("skip")
                    blocks = laws[gate].blocking and "advisory" not in markers
                    out.append(Instance(nodeid, fn_nodeid, module, fn, case, gate, blocks,
                                        frozenset(markers)))
    return out


def _expr_matches(expr: tuple[str, ...], has: set[str] | frozenset[str]) -> bool:
    op = expr[0]
    if op == "one":
        return expr[1] in has
    if op == "not":
        return expr[1] not in has
    return expr[1] in has or expr[2] in has


def selected(s: Scenario, inst: Instance, world: World, lf_hits: bool) -> bool:
    f = s.flags
    gates = list(f.gates) or s.declared_gates()
    if inst.gate not in gates:
        return False
    if f.keyword is not None and not _expr_matches(f.keyword, {inst.fn.token}):
        return False
    if f.markexpr is not None and not _expr_matches(f.markexpr, inst.markers):
        return False
    if any(inst.nodeid.startswith(prefix) for prefix in f.deselect):
        return False
    return not (f.lf and lf_hits and inst.nodeid not in (world.lastfailed or ()))


def retries_of(s: Scenario, case: Case) -> int:
    if case.reruns is not None:  # its own @pytest.mark.flaky wins
        return case.reruns
    if s.flags.retries_cli is not None:
        return s.flags.retries_cli
    return s.policy.flaky_retries or 0


def base_outcome(s: Scenario, inst: Instance) -> str:
    """The final outcome of one instance that runs, from its kind alone."""
    if inst.module.mode == "skip_marker":
        return "skipped"
    kind = inst.case.kind
    if kind in ("pass", "skipif_false", "deploy"):
        return "passed"
    if kind == "staging":
        return "failed" if s.target.fault == "api500" else "passed"
    if kind in ("fail", "xfail_strict_passes"):
        return "failed"
    if kind in ("setup_error", "teardown_error"):
        return "error"
    if kind in ("skip_body", "skip_mark", "skipif_true", "importorskip_body"):
        return "skipped"
    if kind in ("xfail_fails", "xfail_body", "xfail_strict_fails"):
        return "xfailed"
    if kind == "xfail_passes":
        return "xpassed"
    if kind == "flaky":
        return "flaky" if (inst.case.arg or 0) <= retries_of(s, inst.case) else "failed"
    if kind in ("exit", "os_exit"):
        return STOP
    raise ValueError(f"unknown kind {kind}")


def judge(s: Scenario, world: World) -> Expectation:
    """May this run be GO? Every rule below is one line of docs/no-go.md."""
    exp = Expectation()
    no_go = exp.no_go
    f = s.flags
    laws = gate_laws(s)
    exp.gates = list(f.gates) or s.declared_gates()

    if f.collect_only:
        no_go.append(("collect-only", "--collect-only runs no test"))
    if f.setup_only:
        no_go.append(("setup-only", "--setup-only calls no test"))
    if world.signals_alive:
        no_go.append(("signal", "signal(s) reached the live process: "
                      + ", ".join(world.signals_alive)))
    if not world.health_ok:
        no_go.append(("target-not-ready",
                      f"target never answered its health check below 500 ({s.target.fault})"))
    broken = [m.name for m in s.modules if m.mode == "broken"]
    if broken:
        no_go.append(("collection-error", f"collection error in {', '.join(broken)}"))

    everything = instances(s)
    lf_hits = bool(world.lastfailed) and any(i.nodeid in world.lastfailed  # type: ignore[operator]
                                            for i in everything)
    chosen = [i for i in everything if selected(s, i, world, lf_hits)]
    exp.left_out = len(chosen) < len(everything) or bool(
        set(s.declared_gates()) - set(exp.gates))
    filtered = any((f.keyword, f.markexpr, f.deselect, f.lf))
    if default_gate(s) in exp.gates and not filtered:
        exp.collection_skipped = sorted(m.name for m in s.modules
                                        if m.mode in ("skip_module", "importorskip"))

    outcomes = [(i, base_outcome(s, i)) for i in chosen]
    for inst, outcome in outcomes:
        accept = {"flaky": {"passed"}, "error": {"error", "failed"},
                  "failed": {"failed", "error"}}.get(outcome, {outcome})
        exp.outcomes.setdefault(inst.nodeid, set()).update(accept)
    stoppers = [i for i, o in outcomes if o == STOP]
    if stoppers and not (f.collect_only or f.setup_only):
        no_go.append(("test-ends-run", f"{stoppers[0].nodeid} ends the run "
                                        f"({stoppers[0].case.kind} {stoppers[0].case.arg})"))
    failures = sum(1 for _, o in outcomes if o in FAILED)
    maxfail = 1 if f.exitfirst else f.maxfail
    if maxfail and failures >= maxfail and not (f.collect_only or f.setup_only):
        no_go.append(("maxfail", f"-x/--maxfail={maxfail}: the run stops after {failures} "
                                 "failure(s)"))
    warnings = []
    for inst, outcome in outcomes:
        if outcome in FAILED:
            if inst.blocks:
                no_go.append(("blocking-failure", f"{inst.nodeid} {outcome}"))
            else:
                warnings.append(f"would have blocked: {inst.nodeid}")
        elif outcome == "flaky":
            if inst.blocks and s.policy.flaky_policy == "fail":
                no_go.append(("flaky-fail", f"{inst.nodeid} passed only on retry"))
            else:
                warnings.append(f"flaky: {inst.nodeid}")
    ran = sum(1 for _, o in outcomes if o in PASSED + FAILED)
    if ran == 0:
        no_go.append(("no-test-ran", "no selected test ran"))
    elif not any(i.blocks and o in PASSED + FAILED for i, o in outcomes):
        # verdict.decide(): a GO rests on at least one blocking test of a blocking gate that
        # ran (blocking_evidence); advisory tests report and never vouch for a release.
        no_go.append(("no-blocking-test", f"no blocking test ran: the {ran} test(s) that ran "
                                          "are advisory"))
    for gate in exp.gates:
        law = laws[gate]
        if not law.blocking:
            continue
        mine = [(i, o) for i, o in outcomes if i.gate == gate and i.blocks]
        passes = sum(1 for _, o in mine if o in PASSED)
        if passes < law.min_tests:
            no_go.append(("min-tests", f"gate {gate}: {passes} blocking test(s) passed, "
                                       f"min_tests {law.min_tests}"))
        skipped = sum(1 for _, o in mine if o in NOT_RUN)
        vanished = len(exp.collection_skipped) if gate == default_gate(s) else 0
        if law.max_skipped is not None and skipped + vanished > law.max_skipped:
            rule = "max-skipped" if skipped > law.max_skipped else "max-skipped-collection"
            no_go.append((rule, f"gate {gate}: {skipped} blocking test(s) and {vanished} "
                                f"module(s) skipped, max_skipped {law.max_skipped}"))
        if skipped + vanished:
            warnings.append(f"gate {gate}: {skipped + vanished} skipped")
    version_checked = f.expect_version is not None or s.policy.version_path is not None
    if f.expect_version is not None and f.expect_version != VERSION:
        no_go.append(("version-mismatch", f"expected version {f.expect_version}, deployed "
                                          f"{VERSION}"))
    if world.deployed and version_checked:
        no_go.append(("redeploy", "the target was redeployed during the run"))
    if exp.left_out:
        warnings.append("partial run")
    if f.fail_on_warn and warnings:
        no_go.append(("fail-on-warn", f"--staging-fail-on=warn and a warning: {warnings[0]}"))
    return exp


__all__ = ["BUILTIN_GATES", "Expectation", "Instance", "World", "instances", "judge"]
