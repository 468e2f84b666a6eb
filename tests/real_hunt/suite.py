"""A scenario as files: test modules, the conftest that does each kind, pytest.ini, policy."""

from __future__ import annotations

from pathlib import Path

from .scenario import Case, GateRule, Module, Scenario, TestFn

POLICY_FILE = "staging.toml"

CONFTEST = '''\
"""The hunter's conftest: the `hunt` fixture does what each test's hunt_kind says."""
import os
import sys
import time
from pathlib import Path

import pytest


def _attempt(nodeid):
    """How many times this node id ran before (atomic across processes: O_EXCL files)."""
    state = Path(os.environ["HUNT_STATE"])
    state.mkdir(exist_ok=True)
    safe = "".join(c if c.isalnum() else "_" for c in nodeid)
    n = 0
    while True:
        try:
            os.close(os.open(state / f"{safe}.{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return n
        except FileExistsError:
            n += 1


def pytest_configure(config):
    """Tell the harness that pytest and its plugins are loaded (its signal schedule starts)."""
    if not hasattr(config, "workerinput") and os.environ.get("HUNT_STATE"):
        state = Path(os.environ["HUNT_STATE"])
        state.mkdir(exist_ok=True)
        (state / "configured").touch()


@pytest.fixture
def hunt(request):
    kind, arg, sleep = request.node.get_closest_marker("hunt_kind").args
    if kind == "setup_error":
        raise RuntimeError("hunt: setup broke\\nsecond line of the setup error")
    session = request.getfixturevalue("staging") if kind in ("staging", "deploy") else None

    def call():
        if os.environ.get("HUNT_STATE"):  # a test is running: the "test" signal anchor
            Path(os.environ["HUNT_STATE"], "called").touch()
        time.sleep(sleep)
        if kind == "fail":
            assert 1 == 2, "hunt: this test fails\\non two lines"
        elif kind == "staging":
            answer = session.get("/api/items/7")
            assert answer.status_code == 200, f"hunt: /api/items/7 answered {answer.status_code}"
        elif kind == "deploy":
            answer = session.post("/_deploy")
            assert answer.status_code == 200, f"hunt: /_deploy answered {answer.status_code}"
        elif kind == "skip_body":
            pytest.skip("hunt: skipped in the body")
        elif kind == "importorskip_body":
            pytest.importorskip("hunt_missing_dependency")
        elif kind == "xfail_body":
            pytest.xfail("hunt: xfail in the body")
        elif kind in ("xfail_fails", "xfail_strict_fails"):
            raise AssertionError("hunt: expected failure")
        elif kind == "flaky":
            n = _attempt(request.node.nodeid)
            assert n >= arg, f"hunt: flaky attempt {n} fails ({arg} fail)"
        elif kind == "exit":
            if arg is None:
                pytest.exit("hunt: pytest.exit mid-test")
            pytest.exit("hunt: pytest.exit mid-test", returncode=arg)
        elif kind == "os_exit":
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(arg)

    yield call
    if kind == "teardown_error":
        raise RuntimeError("hunt: teardown broke\\nsecond line of the teardown error")
'''

EXIT_REWRITES = {
    "plain": '''
def pytest_sessionfinish(session, exitstatus):
    session.exitstatus = 0
''',
    "trylast": '''
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.exitstatus = 0
''',
    "wrapper": '''
@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session, exitstatus):
    result = yield
    session.exitstatus = 0
    return result
''',
    "if5": '''
def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 5:
        session.exitstatus = 0
''',
}

KIND_MARKS = {
    "skip_mark": 'pytest.mark.skip(reason="hunt: skip marker")',
    "skipif_true": 'pytest.mark.skipif(True, reason="hunt: skipif true")',
    "skipif_false": 'pytest.mark.skipif(False, reason="hunt: skipif false")',
    "xfail_fails": "pytest.mark.xfail(strict=False)",
    "xfail_passes": "pytest.mark.xfail(strict=False)",
    "xfail_strict_passes": "pytest.mark.xfail(strict=True)",
    "xfail_strict_fails": "pytest.mark.xfail(strict=True)",
}


def case_marks(case: Case, with_gate_marks: bool) -> list[str]:
    marks = [f"pytest.mark.hunt_kind({case.kind!r}, {case.arg!r}, {case.sleep!r})"]
    if case.kind in KIND_MARKS:
        marks.append(KIND_MARKS[case.kind])
    if case.reruns is not None:
        marks.append(f"pytest.mark.flaky(reruns={case.reruns})")
    if with_gate_marks:
        marks += [f"pytest.mark.{m}" for m in case.marks]
    return marks


def render_test(fn: TestFn, indent: str) -> str:
    lines = [f"{indent}@pytest.mark.{m}" for m in fn.marks]
    if fn.parametrized:
        params = ", ".join(
            f"pytest.param({c.kind!r}, id={c.id!r}, marks=[{', '.join(case_marks(c, True))}])"
            for c in fn.cases)
        lines.append(f"{indent}@pytest.mark.parametrize('case', [{params}])")
        sig = "hunt, case"
    else:
        lines += [f"{indent}@{m}" for m in case_marks(fn.cases[0], False)]
        sig = "hunt"
    self_arg = "self, " if fn.cls else ""
    lines.append(f"{indent}def {fn.name}({self_arg}{sig}):")
    lines.append(f"{indent}    hunt()")
    return "\n".join(lines) + "\n"


def render_module(module: Module) -> str:
    out = ['"""A module of the hunter\'s scenario."""', "import pytest", ""]
    marks = [f"pytest.mark.{m}" for m in module.marks]
    if module.mode == "skip_marker":
        marks.append('pytest.mark.skip(reason="hunt: module skip marker")')
    if marks:
        out.append(f"pytestmark = [{', '.join(marks)}]")
    if module.mode == "skip_module":
        out.append('pytest.skip("hunt: module skipped at collection", allow_module_level=True)')
    elif module.mode == "importorskip":
        out.append('pytest.importorskip("hunt_missing_dependency")')
    elif module.mode == "broken":
        out.append('raise ImportError("hunt: this module does not import\\nsecond line")')
    out.append("")
    classes: dict[str, list[TestFn]] = {}
    for fn in module.tests:
        if fn.cls:
            classes.setdefault(fn.cls, []).append(fn)
        else:
            out.append(render_test(fn, ""))
    for cls, fns in classes.items():
        cls_marks = fns[0].cls_marks
        out += [f"@pytest.mark.{m}" for m in cls_marks]
        out.append(f"class {cls}:")
        out += [render_test(fn, "    ") for fn in fns]
    return "\n".join(out) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def render_policy(s: Scenario) -> str:
    p = s.policy
    out = []
    if p.default_gate:
        out.append(f'default_gate = "{p.default_gate}"')
    out += ["", "[target]", 'health = "/health"', f"wait = {p.wait}", "interval = 0.1",
            "timeout = 3", "retries = 0"]
    if p.version_path:
        out.append(f'version = "{p.version_path}"')
    if p.version_field:
        out.append(f'version_field = "{p.version_field}"')
    rules: dict[str, GateRule] = {r.name: r for r in p.rules}
    if p.declare_custom and "smoke" not in rules:
        rules["smoke"] = GateRule("smoke")
    for name, rule in rules.items():
        out += ["", f"[gates.{name}]"]
        for key in ("blocking", "min_tests", "max_skipped"):
            value = getattr(rule, key)
            if value is not None:
                out.append(f"{key} = {_toml_value(value)}")
        if rule.blocking is None and rule.min_tests is None and rule.max_skipped is None:
            out.append('description = "declared by the hunter"')
    if p.flaky_retries is not None or p.flaky_policy is not None:
        out += ["", "[flaky]"]
        if p.flaky_retries is not None:
            out.append(f"retries = {p.flaky_retries}")
        if p.flaky_policy is not None:
            out.append(f'policy = "{p.flaky_policy}"')
    return "\n".join(out) + "\n"


def write_suite(s: Scenario, root: Path) -> None:
    """The scenario's files in ``root`` (its rootdir: pytest.ini pins it)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    hunt_kind(kind, arg, sleep): what the hunter's test does\n",
        encoding="utf-8")
    conftest = CONFTEST + (EXIT_REWRITES[s.exit_rewrite] if s.exit_rewrite else "")
    (root / "conftest.py").write_text(conftest, encoding="utf-8")
    (root / POLICY_FILE).write_text(render_policy(s), encoding="utf-8")
    for module in s.modules:
        (root / module.name).write_text(render_module(module), encoding="utf-8")
