"""One precedence function for every option (issue 16.1) and no import cycle (16.3).

``precedence.SETTINGS`` is the one table of settings and ``precedence.lookup`` (re-exported as
``settings.setting``) the one rule: command line > env > ini / policy > default, "given"
meaning ``is not None``. Every module reads staging options through it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from perf_server import base_url, loopback_server
from security_servers import secure_app, serve
from servers import LoopbackServer

from pytest_staging.policy import all_keys, parse_policy
from pytest_staging.precedence import BY_NAME, BY_OPTION, CLI, DEFAULT, ENV, INI, POLICY, lookup
from pytest_staging.signing import verify_signature

pytest_plugins = ["pytester"]
#: Both ways an important path must work (as tests/conftest.py's MODES).
MODES = {"serial": ["-p", "no:xdist"], "xdist": ["-n", "2"]}

PACKAGE = Path(__file__).resolve().parents[1] / "pytest_staging"
#: Modules allowed to read a staging option or ini key by its name, and why.
ALLOWED_READERS = {
    "precedence.py": "the precedence module itself",
    "stale.py": "reads the raw command line before pytest parses any option, to replace the "
                "verdict with a NO-GO placeholder first (no parsed option exists yet)",
}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


# -- the table --------------------------------------------------------------------------------
def test_every_staging_option_is_in_the_table(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    options = {name for name in vars(config.option) if name.startswith("staging_")}
    assert options == set(BY_OPTION), "an option missing from precedence.SETTINGS (or a row " \
                                      "naming an option that does not exist)"
    keys = {k.path for k in all_keys()}
    for row in BY_NAME.values():
        assert row.kind in ("str", "path", "program", "int", "float", "bool", "list"), row
        assert row.policy is None or row.policy in keys, row
        if row.ini:
            config.getini(row.ini)  # registered (raises ValueError otherwise)


def test_no_module_reads_a_staging_option_around_the_table() -> None:
    offenders = []
    for module in _modules():
        if module.name in ALLOWED_READERS:
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                literal = [a.value for a in node.args if isinstance(a, ast.Constant)
                           and isinstance(a.value, str)]
                if name in ("getoption", "getini", "_ini", "getvalue") and any(
                        v.startswith("staging_") for v in literal):
                    offenders.append(f"{module.name}:{node.lineno} {name}({literal[0]!r})")
                if name == "getattr" and any(v.startswith("staging_") for v in literal) \
                        and "option" in ast.unparse(node.args[0]):
                    offenders.append(f"{module.name}:{node.lineno} getattr option")
            if isinstance(node, ast.Attribute) and node.attr.startswith("staging_") \
                    and ast.unparse(node.value).endswith("option"):
                offenders.append(f"{module.name}:{node.lineno} .option.{node.attr}")
    assert not offenders, "read through settings.setting(): " + "; ".join(offenders)


# -- the rule ---------------------------------------------------------------------------------
def test_cli_zero_beats_the_policy_and_the_policy_beats_the_default(
        pytester: pytest.Pytester) -> None:
    policy = parse_policy({"performance": {"processes": 4, "workers": 2}}, "p.toml")
    given = pytester.parseconfig("--staging-load-processes=0", "--staging-load-workers=0")
    for name in ("load_processes", "load_workers"):
        found = lookup(given, name, policy=policy)
        assert (found.value, found.origin) == (0, CLI), name
        assert found.source == "command line"
    plain = pytester.parseconfig()
    processes = lookup(plain, "load_processes", policy=policy)
    assert (processes.value, processes.origin, processes.source) == (4, POLICY, "policy (p.toml)")
    default = lookup(plain, "load_processes", policy=parse_policy({}, "p.toml"))
    assert (default.value, default.origin) == (0, DEFAULT)


def test_cli_beats_env_beats_ini_beats_default(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nstaging_report_dir = from-ini\n")
    env = {"STAGING_REPORT_DIR": "from-env"}
    cli = lookup(pytester.parseconfig("--staging-report-dir=from-cli"), "report_dir",
                 environ=env)
    assert (cli.value, cli.origin, cli.label) == ("from-cli", CLI, "--staging-report-dir")
    config = pytester.parseconfig()
    from_env = lookup(config, "report_dir", environ=env)
    assert (from_env.value, from_env.origin, from_env.source) == (
        "from-env", ENV, "env STAGING_REPORT_DIR")
    ini = lookup(config, "report_dir", environ={})
    assert ini.origin == INI and ini.value == str((pytester.path / "from-ini").resolve())
    assert ini.source == f"ini staging_report_dir ({pytester.path / 'tox.ini'})"
    # given but empty is returned as given (a usage error later), never skipped silently...
    empty = lookup(config, "report_dir", environ={"STAGING_REPORT_DIR": ""})
    assert (empty.value, empty.origin) == ("", ENV)
    # ...except to find where a usage error's placeholder goes
    assert lookup(config, "report_dir", environ={"STAGING_REPORT_DIR": ""},
                  skip_empty=True).origin == INI


# -- whole runs -------------------------------------------------------------------------------
ONE_LOAD = """
def test_load(staging_load):
    staging_load(users=1, spawn_rate=1, run_time=1, profile={"GET /": 1})
"""


@pytest.mark.slow
def test_load_processes_and_workers_zero_beat_the_policy(pytester: pytest.Pytester) -> None:
    # The policy asks for 4 local processes and 2 external workers (which together are a
    # usage error, and workers alone would wait for workers that never come): the command
    # line's 0s must win, "was it given", not "is it truthy".
    pytester.makefile(".toml", policy="[performance]\nprocesses = 4\nworkers = 2\n")
    pytester.makepyfile(test_load=ONE_LOAD)
    report = pytester.path / "report"
    with loopback_server() as server:
        result = pytester.runpytest_inprocess(
            f"--staging-url={base_url(server)}", f"--staging-report-dir={report}",
            "--staging-policy=policy.toml", "--staging-gate=performance",
            "--staging-load-processes=0", "--staging-load-workers=0", "-p", "no:xdist",
            "-p", "no:cacheprovider")
    verdict = json.loads((report / "verdict.json").read_text())
    assert result.ret == 0, (verdict["reasons"], result.stdout.str()[-2000:])
    metrics = verdict["gates"]["performance"]["metrics"]["test_load.py::test_load"]
    assert metrics["requests"] > 0
    assert "processes" not in metrics and "workers" not in metrics, metrics


def test_show_settings_names_the_option_that_beat_the_policy(pytester: pytest.Pytester
                                                            ) -> None:
    pytester.makefile(".toml", policy="[performance]\nprocesses = 4\n\n[security.bandit]\n"
                                      'source = "from-policy"\n')
    result = pytester.runpytest_subprocess(
        "--staging-show-settings", "--staging-policy=policy.toml",
        "--staging-load-processes=0", "--staging-source=from-cli",
        "--staging-compare-url=https://prod-user:pw-secret@prod.example/?token=tok-secret",
        "--staging-compare-header=Cookie: session=cookie-secret", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    for secret in ("pw-secret", "tok-secret", "cookie-secret"):
        assert secret not in result.stdout.str() + result.stderr.str(), secret
    rows = {line.split()[0]: line for line in result.stdout.lines[2:] if line.strip()}
    assert rows["performance.processes"].split()[1] == "0"
    assert rows["performance.processes"].endswith("command line (--staging-load-processes)")
    assert rows["performance.workers"].endswith("default")
    # as the security gate resolves it: relative to where pytest started
    assert rows["security.bandit.source"].split()[1] == str(pytester.path / "from-cli")
    assert rows["security.bandit.source"].endswith("command line (--staging-source)")
    assert rows["load_progress"].split()[1:] == ["5.0", "default"]
    # every setting of the table has a row: its own, or the policy key it overrides
    shown = {"headers": "gates", "compare_headers": "gates", "key_env": "signing",
             "signing_key": "attestation", "show_settings": "url"}
    for row in BY_NAME.values():
        assert (row.policy or shown.get(row.name, row.name)) in rows, row.name


KEY_ENV = "SHOP_VERDICT_KEY"


@pytest.mark.parametrize("mode", MODES.values(), ids=list(MODES))
def test_key_env_option_beats_the_default_variable(pytester: pytest.Pytester, run_staging: Any,
                                                   server: LoopbackServer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   mode: list[str]) -> None:
    pytester.makepyfile(test_one="def test_one(staging):\n"
                                 "    assert staging.get('/').status_code == 200\n")
    pytester.makefile(".toml", policy="[gates.security]\nmin_tests = 0\n"
                                      "[gates.performance]\nmin_tests = 0\n")
    monkeypatch.setenv("STAGING_VERDICT_KEY", "default-variable-key")
    monkeypatch.setenv(KEY_ENV, "named-variable-key")
    run = run_staging("--staging-policy=policy.toml", *mode, url=server.url)
    assert run.ret == 0, run.output
    assert verify_signature(run.verdict, "default-variable-key")
    run = run_staging("--staging-policy=policy.toml", f"--staging-key-env={KEY_ENV}", *mode,
                      url=server.url)
    assert run.ret == 0, run.output
    assert verify_signature(run.verdict, "named-variable-key")
    assert not verify_signature(run.verdict, "default-variable-key")
    # Neither key leaks into what the run writes.
    text = "".join(p.read_text() for p in run.report_dir.iterdir() if p.is_file())
    assert "named-variable-key" not in text + run.output
    # Naming a variable that is not set is a usage error, never an unsigned GO (decided
    # before any worker starts: serial is enough).
    if mode != MODES["serial"]:
        return
    monkeypatch.delenv(KEY_ENV)
    run = run_staging("--staging-policy=policy.toml", f"--staging-key-env={KEY_ENV}", *mode,
                      url=server.url)
    assert run.ret == 4
    assert run.verdict["verdict"] == "NO-GO"
    assert f"--staging-key-env {KEY_ENV}: the variable is not set" in run.verdict["reasons"][0]


BAD_CODE = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.run(cmd, shell=True)\n"


@pytest.mark.slow
def test_staging_source_beats_the_policy_source(pytester: pytest.Pytester) -> None:
    (pytester.path / "clean").mkdir()
    (pytester.path / "clean" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (pytester.path / "bad").mkdir()
    (pytester.path / "bad" / "app.py").write_text(BAD_CODE)
    pytester.makefile(".toml", policy='[security]\nbuiltin = []\n\n[security.bandit]\n'
                                      'source = "clean"\n')
    report = pytester.path / "report"

    def run(*args: str) -> dict[str, Any]:
        pytester.runpytest_inprocess(
            f"--staging-url={url}", f"--staging-report-dir={report}",
            "--staging-policy=policy.toml", "--staging-gate=security", "-p", "no:xdist",
            "-p", "no:cacheprovider", *args)
        return json.loads((report / "verdict.json").read_text())

    with serve(secure_app) as url:
        by_policy = run()
        by_option = run("--staging-source=bad")
    assert by_policy["verdict"] == "GO", by_policy["reasons"]
    bandit = by_policy["gates"]["security"]["metrics"]["security:bandit"]
    assert bandit["files"] == 1 and bandit["findings"] == 0
    assert by_option["verdict"] == "NO-GO"
    found = [(f["rule"], f["file"]) for f in by_option["gates"]["security"]["findings"]]
    assert found == [("B602", "bad/app.py")]


# -- 16.3: no import cycle --------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, package: str, deferred: bool) -> set[str]:
    """Dotted names ``tree`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    found: set[str] = set()
    todo = [tree]
    while todo:
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not deferred:
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([child.module] if child.module else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in child.names)
            todo.append(child)
    return found


def import_graph(deferred: bool) -> dict[str, set[str]]:
    """pytest_staging module -> the pytest_staging modules it imports: at import time only, or
    (``deferred``) also inside functions. ``if TYPE_CHECKING:`` blocks do not count."""
    names = {_module_name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = _imports(ast.parse(path.read_text(encoding="utf-8")), package, deferred)
        targets = set()
        for target in found:
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph(deferred=True)
    assert "pytest_staging.gates.performance.pytest_glue" in graph["pytest_staging.plugin"]
    assert "pytest_staging.settings" in graph["pytest_staging.gates.performance.pytest_glue"]


@pytest.mark.parametrize("deferred", [False, True], ids=["import-time", "with-deferred"])
def test_no_import_cycle_among_the_plugin_modules(deferred: bool) -> None:
    # Deferred imports (inside functions) count too: a cycle there is a knot in the design
    # (plugin <-> performance glue, settings <-> parity settings) even when it loads.
    assert cycles(import_graph(deferred)) == []


def test_policy_and_settings_import_alone_in_a_fresh_interpreter() -> None:
    # Each in isolation, so an order that happens to work in the test process hides nothing.
    for module in ("pytest_staging.policy_keys", "pytest_staging.precedence",
                   "pytest_staging.policy", "pytest_staging.settings",
                   "pytest_staging.gates.performance.pytest_glue",
                   "pytest_staging.gates.parity.settings", "pytest_staging.browser.glue"):
        done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, f"{module}: {done.stderr[-800:]}"
    light = subprocess.run(
        [sys.executable, "-c", "import sys, pytest_staging.policy_keys, "
                               "pytest_staging.precedence; "
                               "print(sorted(m for m in sys.modules if m.startswith("
                               "'pytest_staging.')))"],
        capture_output=True, text=True, timeout=60)
    assert light.stdout.split() == ["['pytest_staging.policy_keys',",
                                    "'pytest_staging.precedence']"], light.stdout
