"""What one seed draws: a suite, the pytest flags, a policy, a target fault and signals.

Pure data and ``generate(seed)``, stdlib only: the same seed always gives the same scenario, so
every finding reproduces from its seed (``python bench/hunt.py --seed S --runs 1``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

#: What a test case does. The oracle knows each one's outcome from this table and the scenario
#: alone (``oracle.base_outcome``); ``suite.py`` writes the code that does it.
KINDS: dict[str, int] = {  # kind -> weight
    "pass": 30,
    "staging": 12,        # GET /api/items/N through the staging fixture, asserts 200
    "fail": 6,
    "setup_error": 3,
    "teardown_error": 3,
    "skip_body": 3,       # pytest.skip() in the test
    "skip_mark": 2,       # @pytest.mark.skip
    "skipif_true": 2,
    "skipif_false": 2,    # runs and passes
    "importorskip_body": 1,
    "xfail_fails": 2,     # xfailed
    "xfail_body": 1,      # pytest.xfail() in the test: xfailed
    "xfail_passes": 2,    # xpassed (not strict)
    "xfail_strict_passes": 2,  # XPASS(strict): failed
    "xfail_strict_fails": 1,   # xfailed
    "flaky": 5,           # fails its first `arg` attempts, then passes
    "exit": 1,            # pytest.exit(returncode=arg)
    "os_exit": 1,         # os._exit(arg)
}
#: Kinds whose outcome depends on how often the test ran, or which end the process: never
#: in a module collected twice (--keep-duplicates), so the oracle needs no interleaving.
UNREPEATABLE = ("flaky", "exit", "os_exit", "deploy")
BUILTIN_GATES = ("integration", "security", "performance")
CUSTOM_GATE = "smoke"
SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
FAULTS = {"none": 60, "down": 5, "health500": 4, "slow_within": 7, "slow_beyond": 4,
          "api500": 8, "version_drift": 9, "version_mismatch": 3}
EXIT_REWRITES = ("plain", "trylast", "wrapper", "if5")
VERSION = "1.0.0"
DEPLOYED_VERSION = "2.0.0"


@dataclass(frozen=True)
class Case:
    """One test instance: a parametrize case, or the whole test when not parametrized."""

    id: str | None
    kind: str
    #: Gate or advisory markers on the case itself (pytest.param marks).
    marks: tuple[str, ...] = ()
    #: flaky: attempts that fail; exit/os_exit: the exit code (None: pytest.exit's default).
    arg: int | None = None
    #: flaky: reruns of its own @pytest.mark.flaky (None: the policy's flaky.retries).
    reruns: int | None = None
    sleep: float = 0.0


@dataclass(frozen=True)
class TestFn:
    __test__ = False

    token: str  # unique, appears only in the function's name: what -k matches
    cases: tuple[Case, ...]
    parametrized: bool
    marks: tuple[str, ...] = ()  # function-level gate/advisory markers
    cls: str | None = None
    cls_marks: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"test_{self.token}"


@dataclass(frozen=True)
class Module:
    name: str  # file name, test_mN.py
    #: normal | skip_marker (pytestmark skip: collected, skipped at setup) | skip_module
    #: (pytest.skip(allow_module_level=True)) | importorskip (of a missing module) | broken
    mode: str
    tests: tuple[TestFn, ...]
    marks: tuple[str, ...] = ()  # module pytestmark gate/advisory markers


@dataclass(frozen=True)
class GateRule:
    name: str
    blocking: bool | None = None  # None: not written (default true)
    min_tests: int | None = None
    max_skipped: int | None = None


@dataclass(frozen=True)
class Policy:
    wait: float
    rules: tuple[GateRule, ...] = ()
    declare_custom: bool = False
    default_gate: str | None = None
    flaky_retries: int | None = None
    flaky_policy: str | None = None
    #: [target] version / version_field written explicitly (turns the version check on).
    version_path: str | None = None
    version_field: str | None = None


@dataclass(frozen=True)
class Flags:
    xdist: str = "serial"  # serial (-p no:xdist) | n2 (-n 2) | plain (neither)
    exitfirst: bool = False
    maxfail: int | None = None
    keyword: tuple[str, ...] | None = None  # ("one", t) | ("not", t) | ("or", t1, t2)
    markexpr: tuple[str, ...] | None = None  # ("one", m) | ("not", m) | ("or", m1, m2)
    deselect: tuple[str, ...] = ()  # function node ids (prefixes of their instances)
    lf: bool = False
    setup_only: bool = False
    collect_only: bool = False
    gates: tuple[str, ...] = ()  # --staging-gate
    duplicate: str | None = None  # a module named again on the command line
    keep_duplicates: bool = False
    fail_on_warn: bool = False
    expect_version: str | None = None
    retries_cli: int | None = None  # --staging-retries


@dataclass(frozen=True)
class Target:
    fault: str = "none"
    ready_after: float = 0.0  # slow_*: seconds after the first health poll


@dataclass(frozen=True)
class Signals:
    names: tuple[str, ...] = ()
    #: Seconds after the anchor: the process start ("start"), the moment the suite's conftest
    #: was configured ("configured": pytest and the plugin are loaded by then), or the first
    #: call of a test ("test"; hand-written scenarios only, generate() never draws it).
    delays: tuple[float, ...] = ()
    group: bool = False  # to the process group (a terminal's Ctrl-C, a CI cancel)
    anchor: str = "configured"
    #: Signals the run is started with ignored (nohup: SIGHUP; a script's `cmd &`: SIGINT).
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    seed: int
    modules: tuple[Module, ...]
    policy: Policy
    flags: Flags
    target: Target
    signals: Signals = field(default_factory=Signals)
    exit_rewrite: str | None = None  # a conftest that rewrites session.exitstatus to 0

    def declared_gates(self) -> list[str]:
        return [*BUILTIN_GATES, *([CUSTOM_GATE] if self.policy.declare_custom else [])]

    def dimensions(self) -> list[str]:
        """What this scenario covers, for the campaign's summary."""
        dims = [f"mode:{self.flags.xdist}", f"fault:{self.target.fault}"]
        kinds = {c.kind for m in self.modules for t in m.tests for c in t.cases}
        dims += [f"kind:{k}" for k in sorted(kinds)]
        dims += [f"module:{m.mode}" for m in self.modules if m.mode != "normal"]
        if any(len({c.id for c in t.cases}) < len(t.cases)
               for m in self.modules for t in m.tests if t.parametrized):
            dims.append("suite:colliding-ids")
        if any(t.cls for m in self.modules for t in m.tests):
            dims.append("suite:class-markers")
        if any(m.marks for m in self.modules):
            dims.append("suite:module-markers")
        f = self.flags
        for flag, on in (("-x", f.exitfirst), ("--maxfail", f.maxfail is not None),
                         ("-k", f.keyword is not None), ("-m", f.markexpr is not None),
                         ("--deselect", bool(f.deselect)), ("--lf", f.lf),
                         ("--setup-only", f.setup_only), ("--collect-only", f.collect_only),
                         ("--staging-gate", bool(f.gates)),
                         ("--keep-duplicates", f.keep_duplicates),
                         ("duplicate-arg", f.duplicate is not None and not f.keep_duplicates),
                         ("--staging-fail-on=warn", f.fail_on_warn),
                         ("--staging-expect-version", f.expect_version is not None),
                         ("--staging-retries", f.retries_cli is not None)):
            if on:
                dims.append(f"flag:{flag}")
        p = self.policy
        for rule in p.rules:
            if rule.blocking is False:
                dims.append("policy:non-blocking-gate")
            if rule.min_tests is not None:
                dims.append(f"policy:min_tests={min(rule.min_tests, 2)}")
            if rule.max_skipped is not None:
                dims.append("policy:max_skipped")
        if p.declare_custom:
            dims.append("policy:custom-gate")
        if p.default_gate:
            dims.append(f"policy:default_gate={p.default_gate}")
        if p.flaky_policy:
            dims.append(f"policy:flaky={p.flaky_policy}")
        if p.flaky_retries:
            dims.append("policy:flaky.retries")
        if p.version_path:
            dims.append("policy:version-endpoint")
        if self.signals.names:
            dims += [f"signal:{n}" for n in self.signals.names]
            if len(self.signals.names) > 1:
                dims.append("signal:two")
            if self.signals.group:
                dims.append("signal:group")
            dims.append(f"signal:from-{self.signals.anchor}")
        dims += [f"signal:started-ignoring-{name}" for name in self.signals.ignored]
        if self.exit_rewrite:
            dims.append(f"conftest:exitstatus-{self.exit_rewrite}")
        return dims


def _weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _gate_mark(rng: random.Random, gates: list[str]) -> tuple[str, ...]:
    """A gate marker (sometimes of a gate the policy does not declare), or nothing."""
    roll = rng.random()
    if roll < 0.55:
        return ()
    if roll < 0.93:
        return (rng.choice(gates),)
    return (CUSTOM_GATE,)  # declared or not: undeclared, it is only an unknown marker


def _case(rng: random.Random, happy: bool, *, repeatable: bool, case_id: str | None,
          gates: list[str], item_marks: bool) -> Case:
    table = dict(KINDS)
    if happy:
        table = {"pass": 40, "staging": 20, "skip_body": 1, "xfail_fails": 1,
                 "xfail_passes": 1, "flaky": 2, "skipif_false": 2, "teardown_error": 1}
    if not repeatable:
        table = {k: v for k, v in table.items() if k not in UNREPEATABLE}
    kind = _weighted(rng, table)
    arg: int | None = None
    reruns: int | None = None
    if kind == "flaky":
        arg = rng.choice((1, 1, 2, 3))
        reruns = rng.choice((None, 1, 2, 2))
    elif kind == "exit":
        arg = rng.choice((None, 0, 3))
    elif kind == "os_exit":
        arg = rng.choice((0, 1, 7))
    marks: tuple[str, ...] = ()
    if item_marks:
        marks = _gate_mark(rng, gates)
        if rng.random() < 0.12:
            marks += ("advisory",)
    return Case(case_id, kind, marks, arg, reruns, round(rng.uniform(0.0, 0.12), 3))


def _module(rng: random.Random, index: int, tokens: list[str], happy: bool,
            gates: list[str], repeatable: bool) -> Module:
    mode = "normal"
    if not happy:
        mode = rng.choices(["normal", "skip_marker", "skip_module", "importorskip", "broken"],
                           weights=[80, 4, 4, 4, 3])[0]
    marks = _gate_mark(rng, gates) if rng.random() < 0.3 else ()
    if rng.random() < 0.05:
        marks += ("advisory",)
    tests = []
    cls_name, cls_marks = None, ()
    if rng.random() < 0.2:
        cls_name = f"TestC{index}"
        cls_marks = _gate_mark(rng, gates)
    for _ in range(rng.randint(1, 4)):
        token = tokens.pop()
        parametrized = rng.random() < 0.25
        fn_marks = () if parametrized and rng.random() < 0.5 else _gate_mark(rng, gates)
        if not parametrized and rng.random() < 0.1:
            fn_marks += ("advisory",)
        if parametrized:
            n = rng.randint(2, 3)
            if rng.random() < 0.3:
                # Colliding ids: pytest makes them unique (a0, a1, ...). The cases are the
                # same, so the oracle need not know which suffix pytest gave which case.
                case = _case(rng, happy, repeatable=False, case_id="a", gates=gates,
                             item_marks=not fn_marks)
                cases = tuple(case for _ in range(n))
            else:
                cases = tuple(_case(rng, happy, repeatable=repeatable, case_id=f"c{i}",
                                    gates=gates, item_marks=not fn_marks) for i in range(n))
        else:
            cases = (_case(rng, happy, repeatable=repeatable, case_id=None, gates=gates,
                           item_marks=False),)
        in_cls = cls_name is not None and rng.random() < 0.7
        tests.append(TestFn(token, cases, parametrized, fn_marks,
                            cls_name if in_cls else None, cls_marks if in_cls else ()))
    return Module(f"test_m{index}.py", mode, tuple(tests), marks)


def _policy(rng: random.Random, happy: bool) -> Policy:
    declare_custom = rng.random() < 0.4
    gates = [*BUILTIN_GATES, *([CUSTOM_GATE] if declare_custom else [])]
    rules = []
    for name in gates:
        if rng.random() < (0.4 if happy else 0.6):
            blocking = rng.choice((None, True, True, False))
            rules.append(GateRule(
                name, blocking,
                min_tests=rng.choice((None, 0, 0, 1, 2, 3)),
                max_skipped=rng.choice((None, None, 0, 1, 2))))
    return Policy(
        wait=rng.choice((1.0, 2.0, 3.0)),
        rules=tuple(rules),
        declare_custom=declare_custom,
        default_gate=(CUSTOM_GATE if declare_custom and rng.random() < 0.4
                      else rng.choice((None, None, "integration"))),
        flaky_retries=rng.choice((None, None, None, 0, 1, 2)),
        flaky_policy=rng.choice((None, "warn", "fail")),
    )


def _expr(rng: random.Random, names: list[str]) -> tuple[str, ...]:
    a, b = rng.choice(names), rng.choice(names)
    return rng.choice((("one", a), ("not", a), ("or", a, b)))


def generate(seed: int) -> Scenario:
    """The scenario of ``seed``: every draw from one ``random.Random(seed)``."""
    rng = random.Random(seed)
    happy = rng.random() < 0.45  # mostly passing suites on a healthy target: GO is possible
    fault = "none" if happy and rng.random() < 0.8 else _weighted(rng, FAULTS)
    policy = _policy(rng, happy)
    gates = [*BUILTIN_GATES, *([CUSTOM_GATE] if policy.declare_custom else [])]
    tokens = [f"q{i:02d}x" for i in range(99, 0, -1)]
    rng.shuffle(tokens)
    n_modules = rng.randint(1, 4)
    dup_index = rng.randrange(n_modules) if rng.random() < 0.12 else None
    modules = [_module(rng, i, tokens, happy, gates, repeatable=i != dup_index)
               for i in range(n_modules)]
    if dup_index is not None:
        modules[dup_index] = Module(modules[dup_index].name, "normal", modules[dup_index].tests,
                                    modules[dup_index].marks)
    if happy:
        # Evidence for every gate the policy makes blocking, so that GO is possible: one
        # passing test per gate and per test its min_tests asks for.
        rules = {r.name: r for r in policy.rules}
        tests = []
        for gate in gates:
            rule = rules.get(gate)
            need = rule.min_tests if rule and rule.min_tests is not None else 1
            if need == 0 and rng.random() < 0.5:
                continue  # an empty gate its policy allows
            for _ in range(min(max(need, 1), 3)):
                tests.append(TestFn(tokens.pop(), (Case(None, "pass", sleep=0.01),), False,
                                    (gate,)))
        modules.append(Module(f"test_m{n_modules}.py", "normal", tuple(tests)))
        n_modules += 1
    if fault == "version_drift":
        # A test that redeploys the target while the run is going (POST /_deploy).
        i = rng.randrange(n_modules)
        if i == dup_index:
            dup_index = None
        mod = modules[i]
        deploy = TestFn(tokens.pop(), (Case(None, "deploy", sleep=0.05),), False,
                        _gate_mark(rng, gates))
        modules[i] = Module(mod.name, mod.mode, (*mod.tests, deploy), mod.marks)
    if fault in ("version_drift", "version_mismatch") and rng.random() < 0.6:
        policy = Policy(**{**policy.__dict__,
                           "version_path": rng.choice(("/version", "/meta/build")),
                           "version_field": rng.choice((None, "build.id"))})
    all_tokens = [t.token for m in modules for t in m.tests]
    mark_names = [*gates, "advisory"]
    f: dict[str, object] = {"xdist": rng.choices(["serial", "n2", "plain"], [50, 38, 12])[0]}
    if rng.random() < 0.12:
        f["exitfirst"] = True
    elif rng.random() < 0.08:
        f["maxfail"] = rng.choice((2, 3))
    if rng.random() < 0.15:
        f["keyword"] = _expr(rng, all_tokens)
    if rng.random() < 0.1:
        f["markexpr"] = _expr(rng, mark_names)
    if rng.random() < 0.1:
        picks = rng.sample([(m, t) for m in modules for t in m.tests],
                           k=min(2, sum(len(m.tests) for m in modules)))
        f["deselect"] = tuple("::".join(p for p in (m.name, t.cls, t.name) if p)
                              for m, t in picks[:rng.randint(1, 2)])
    if rng.random() < 0.1:
        f["lf"] = True
    roll = rng.random()
    if roll < 0.03:
        f["setup_only"] = True
    elif roll < 0.06:
        f["collect_only"] = True
    if rng.random() < 0.25:
        f["gates"] = tuple(rng.sample(gates, k=rng.choice((1, 1, 2))))
    if dup_index is not None:
        f["duplicate"] = modules[dup_index].name
        f["keep_duplicates"] = rng.random() < 0.75
    if rng.random() < 0.08:
        f["fail_on_warn"] = True
    if fault == "version_mismatch":
        f["expect_version"] = "0.9.9"
    elif ((fault == "version_drift" and (policy.version_path is None or rng.random() < 0.5))
          or rng.random() < 0.05):
        f["expect_version"] = VERSION
    if rng.random() < 0.05:
        f["retries_cli"] = rng.choice((0, 1, 2))
    target = Target(fault)
    if fault == "slow_within":
        target = Target(fault, round(rng.uniform(0.2, max(0.3, policy.wait - 0.8)), 2))
    elif fault == "slow_beyond":
        target = Target(fault, round(policy.wait + rng.uniform(1.0, 2.0), 2))
    signals = Signals()
    roll = rng.random()
    if roll < 0.35:
        anchor = "start" if rng.random() < 0.2 else "configured"
        first = round(rng.uniform(0.3, 4.0) if anchor == "start" else rng.uniform(0.0, 3.0), 3)
        names: tuple[str, ...] = (rng.choice(SIGNALS),)
        delays: tuple[float, ...] = (first,)
        if roll < 0.1:  # two close together
            names += (rng.choice(SIGNALS),)
            delays += (round(first + rng.uniform(0.0, 0.3), 3),)
        ignored = rng.choice(((), (), (), ("SIGINT",), ("SIGHUP",), ("SIGINT", "SIGHUP")))
        signals = Signals(names, delays, group=rng.random() < 0.3, anchor=anchor,
                          ignored=ignored)
    return Scenario(
        seed=seed, modules=tuple(modules), policy=policy, flags=Flags(**f),  # type: ignore[arg-type]
        target=target, signals=signals,
        exit_rewrite=rng.choice(EXIT_REWRITES) if rng.random() < 0.15 else None)
