"""``pytest-staging init`` on a team's first day (issue 24 items 1 and 2): the policy is
recorded in the pytest configuration the project already has (no byte of it lost), the printed
``next:`` command is the README's plain ``pytest SUITE --staging-url=...`` and reads that
policy, the report folder goes into .gitignore, and the first run against an ordinary app (no
security headers) is what the README says: GO, the built-in checks' findings shown as "would
have blocked", one line of the policy away from blocking."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sample_runs import ROOT
from servers import LoopbackServer

from pytest_staging.cli import main

README = ROOT / "README.md"


def init(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["init", *args])
    return code, out.getvalue(), err.getvalue()


def next_command(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("next: ")]
    assert len(lines) == 1, out
    return lines[0][len("next: "):]


def run_shown(command: str, url: str, cwd: Path, *extra: str) -> tuple[int, str, dict]:
    """``command`` exactly as init printed it (its example URL replaced by ``url``), from
    ``cwd``, in a new process, as the shell would run it."""
    args = shlex.split(command.replace("https://staging.example.com", url))
    assert args[0] == "pytest", command
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGING_")}
    result = subprocess.run([sys.executable, "-m", *args, *extra], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=240)
    verdict_file = cwd / "staging-report" / "verdict.json"
    verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else {}
    return result.returncode, result.stdout + result.stderr, verdict


# -- item 1 + 2: init, then the command it prints ----------------------------------------------
@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["as-printed", "xdist"])
def test_init_then_the_printed_command_is_go_as_the_readme_says(
        tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch,
        mode: list[str]) -> None:
    """An ordinary app: answers 200, none of the security headers the built-in checks ask
    for. The old init printed a command with --staging-policy; the README's plain command
    did not read the policy and was NO-GO (performance empty, security blocking on headers
    the team never looked at)."""
    monkeypatch.chdir(tmp_path)
    code, out, err = init("tests/staging")
    assert code == 0, err
    command = next_command(out)
    assert command == "pytest tests/staging --staging-url=https://staging.example.com"
    assert "created pytest.ini [pytest]: staging_policy = staging-policy.toml" in out
    assert "added /staging-report/ to .gitignore" in out

    ret, output, verdict = run_shown(command, server.url, tmp_path, *mode)
    assert ret == 0, output[-3000:]
    assert verdict["verdict"] == "GO", verdict["reasons"]
    gates = verdict["gates"]
    assert gates["integration"]["status"] == "passed" and gates["integration"]["blocking"]
    assert (gates["security"]["blocking"], gates["security"]["status"]) == (False, "advisory")
    assert gates["performance"]["blocking"] is False
    # The findings are shown, as the README says: would have blocked, naming the header.
    blocked = [w for w in verdict["warnings"] if "would have blocked" in w]
    assert any("csp-missing" in w for w in blocked), verdict["warnings"]
    assert "would have blocked" in output and "GO  target" in output
    # ... which is what the README promises for init's first run.
    readme = " ".join(README.read_text(encoding="utf-8").split())
    assert "pytest-staging init tests/staging" in readme
    assert "the built-in security checks report their findings as \"would have blocked\"" in (
        readme)

    # The one line the policy's comment names makes them block: NO-GO on the same app.
    policy = tmp_path / "staging-policy.toml"
    text = policy.read_text()
    line = next(ln for ln in text.splitlines()
                if ln.startswith("blocking = false") and "built-in security checks" in ln)
    policy.write_text(text.replace(line, "blocking = true"))
    ret, output, verdict = run_shown(command, server.url, tmp_path, *mode)
    assert ret != 0 and verdict["verdict"] == "NO-GO"
    assert any(r.startswith("security: ") and "csp-missing" in r for r in verdict["reasons"])


def test_a_suite_with_security_tests_keeps_them_blocking_and_the_builtins_advisory(
        tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "acceptance"
    suite.mkdir()
    (suite / "test_shop.py").write_text(
        "import pytest\n\n"
        "def test_health(staging):\n    assert staging.get('/').status_code == 200\n\n"
        "@pytest.mark.security\n"
        "def test_no_server_error(staging):\n    assert staging.get('/').status_code < 500\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = init("acceptance", "--ci", "none")
    assert code == 0, err
    text = (tmp_path / "staging-policy.toml").read_text()
    assert "builtin_blocking = false" in text
    ret, output, verdict = run_shown(next_command(out), server.url, tmp_path)
    assert ret == 0, output[-3000:]
    tests = {t["nodeid"]: t for t in verdict["tests"]}
    assert tests["acceptance/test_shop.py::test_no_server_error"]["blocking"] is True
    assert tests["staging-security::headers"]["blocking"] is False
    assert verdict["gates"]["security"]["blocking"] is True
    (tmp_path / "staging-policy.toml").write_text(
        text.replace("builtin_blocking = false", "builtin_blocking = true"))
    ret, output, verdict = run_shown(next_command(out), server.url, tmp_path)
    assert ret != 0 and verdict["verdict"] == "NO-GO"
    assert any("csp-missing" in r for r in verdict["reasons"]), verdict["reasons"]


def test_no_ini_prints_the_command_with_the_policy(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = init("tests/staging", "--no-ini", "--ci", "github")
    assert code == 0
    assert next_command(out) == ("pytest tests/staging --staging-url=https://staging.example.com"
                                 " --staging-policy=staging-policy.toml")
    assert not (tmp_path / "pytest.ini").exists()
    workflow = (tmp_path / ".github/workflows/staging-gate.yml").read_text()
    assert "--staging-policy=staging-policy.toml" in workflow


# -- item 1: the configuration the project already has -----------------------------------------
PYTEST_INI = """\
# team settings: keep
[pytest]
addopts = -ra
    --strict-markers
markers =
    slow: a slow test ; keep this comment
"""
TOX_INI = """\
[tox]
envlist = py311

[pytest]
# the suite's own options
testpaths = tests

[testenv]
commands = pytest
"""
SETUP_CFG = """\
[metadata]
name = shop

[tool:pytest]
addopts = -q
[flake8]
max-line-length = 100
"""
PYPROJECT_INI_OPTIONS = """\
[project]
name = "shop"  # the name

[tool.pytest.ini_options]  # pytest's table
addopts = "-q"
markers = [
    "slow: a slow test",
]

[tool.ruff]
line-length = 100
"""
PYPROJECT_NATIVE = """\
[project]
name = "shop"

[tool.pytest]
addopts = ["-q"]
"""
PYPROJECT_PLAIN = """\
[project]
name = "shop"
"""
PYTEST_TOML = """\
# pytest's own file
[pytest]
addopts = ["-q"]
"""

#: name -> (file, its text, the table/section init writes to).
CONFIGS = {
    "pytest.ini": ("pytest.ini", PYTEST_INI, "[pytest]"),
    "pytest.ini-crlf": ("pytest.ini", PYTEST_INI.replace("\n", "\r\n"), "[pytest]"),
    "pytest.ini-without-section": ("pytest.ini", "# empty on purpose\n", "[pytest]"),
    "tox.ini": ("tox.ini", TOX_INI, "[pytest]"),
    "setup.cfg": ("setup.cfg", SETUP_CFG, "[tool:pytest]"),
    "pyproject-ini-options": ("pyproject.toml", PYPROJECT_INI_OPTIONS,
                              "[tool.pytest.ini_options]"),
    "pyproject-native": ("pyproject.toml", PYPROJECT_NATIVE, "[tool.pytest]"),
    "pyproject-without-table": ("pyproject.toml", PYPROJECT_PLAIN, "[tool.pytest.ini_options]"),
    "pytest.toml": ("pytest.toml", PYTEST_TOML, "[pytest]"),
}
PYTEST_9 = int(pytest.__version__.split(".")[0]) >= 9


def _only_lines_added(before: str, after: str) -> bool:
    """Every line of ``before`` is in ``after``, in order, byte for byte (line endings too)."""
    remaining = iter(after.splitlines(keepends=True))
    return all(any(line == other or (line + ("\r\n" if "\r\n" in after else "\n")) == other
                   for other in remaining) for line in before.splitlines(keepends=True))


@pytest.mark.parametrize("case", list(CONFIGS))
def test_init_records_the_policy_in_the_configuration_the_project_has(
        pytester: pytest.Pytester, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name, text, table = CONFIGS[case]
    if (name == "pytest.toml" or case == "pyproject-native") and not PYTEST_9:
        pytest.skip("pytest.toml and [tool.pytest] are read from pytest 9 on")
    config = pytester.path / name
    config.write_bytes(text.encode())
    monkeypatch.chdir(pytester.path)
    code, out, err = init("tests/staging", "--ci", "none")
    assert code == 0, err
    assert f"{name} {table}: staging_policy = " in out, out
    after = config.read_bytes().decode()
    assert _only_lines_added(text, after), after
    assert not (pytester.path / "pytest.ini").exists() or name == "pytest.ini"
    # pytest itself now reads the policy from that file, with the plain command.
    shown = pytester.runpytest_inprocess("tests/staging", "--staging-show-settings",
                                         "-p", "no:cacheprovider")
    assert shown.ret == 0, shown.stdout.str()
    row = next(line for line in shown.outlines if line.startswith("policy "))
    assert str(pytester.path / "staging-policy.toml") in row
    assert f"ini staging_policy ({config})" in row
    # Running init again changes nothing in the configuration.
    code, out, err = init("tests/staging", "--ci", "none", "--force")
    assert code == 0, err
    assert config.read_bytes().decode() == after
    assert "names staging-policy.toml already (staging_policy)" in out


def test_init_in_a_sub_folder_records_in_the_parent_configuration(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    (pytester.path / "pytest.ini").write_text(PYTEST_INI)
    project = pytester.path / "services" / "shop"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    code, out, err = init("tests/staging", "--ci", "none")
    assert code == 0, err
    # relative to the ini file, as the plugin reads ini paths
    assert "staging_policy = services/shop/staging-policy.toml" in (
        pytester.path / "pytest.ini").read_text()
    assert next_command(out) == "pytest tests/staging --staging-url=https://staging.example.com"


@pytest.mark.parametrize("name, text, why", [
    ("pytest.ini", "[pytest]\nstaging_policy = qa/policy.toml\n",
     "pytest.ini already sets staging_policy = qa/policy.toml"),
    ("pyproject.toml", '[tool.pytest-staging]\ndefault_gate = "integration"\n',
     "holds a release policy already ([tool.pytest-staging])"),
    ("pyproject.toml", '[tool]\npytest.ini_options.addopts = "-q"\n',
     "[tool.pytest.ini_options] is not written as a table header"),
    # a header-looking line inside a multi-line string: inserting there would change a value
    ("pyproject.toml", 'x = """\n[tool.pytest.ini_options]\n"""\n'
                       '[tool.pytest.ini_options]\naddopts = "-q"\n',
     "would change how the file reads"),
    ("setup.cfg", "[pytest]\naddopts = -q\n", "pytest cannot read its configuration"),
], ids=["other-policy", "pyproject-policy", "dotted-keys", "header-in-string", "bad-setup-cfg"])
def test_init_refuses_with_one_line_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str,
        why: str) -> None:
    (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    code, out, err = init("tests/staging")
    assert code == 1
    assert out == "" and len(err.splitlines()) == 1, err
    assert why in err and "nothing written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert (tmp_path / name).read_text() == text


# -- the report folder and git ----------------------------------------------------------------
def test_gitignore_entry_is_appended_once(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc\n.venv/")  # no newline at the end
    monkeypatch.chdir(tmp_path)
    assert init("tests/staging", "--ci", "none")[0] == 0
    assert init("tests/staging", "--ci", "none", "--force")[0] == 0
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["*.pyc", ".venv/"]
    assert lines.count("/staging-report/") == 1


def test_gitignore_left_alone_when_git_ignores_the_folder_already(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git = pytest.importorskip("shutil").which("git")
    if git is None:
        pytest.skip("no git")
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True, timeout=60)
    (tmp_path / ".gitignore").write_text("staging-report*\n")
    project = tmp_path / "app"
    project.mkdir()
    monkeypatch.chdir(project)
    code, out, _ = init("tests/staging", "--ci", "none")
    assert code == 0
    assert "staging-report/ is ignored by git already" in out
    assert not (project / ".gitignore").exists()


def test_report_dir_outside_the_folder_is_not_ignored_and_init_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nstaging_report_dir = {tmp_path.parent}"
                                         "/elsewhere\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = init("tests/staging", "--ci", "none")
    assert code == 0
    assert re.search(r"not added to \.gitignore: the report folder .*/elsewhere is not inside "
                     r"this folder", out), out
    assert not (tmp_path / ".gitignore").exists()
