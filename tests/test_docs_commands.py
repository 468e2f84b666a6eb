"""Every shell command in the README and docs/ is honest: each ``pytest`` / ``pytest-staging``
invocation in a ```bash / ```console block, in the strings of a ```yaml block (a CI job's
``run:``, a Kubernetes container's ``args``, a webhook's ``cmd``) or in a ```groovy block's
``sh`` steps uses only options that exist, quotes ``--staging-header`` so the shell cannot
expand a secret, never gives a path option in the space-separated form with a path that would
move pytest's rootdir, and the cheap ones run. Every ```yaml block parses."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sample_runs import QUIET, ROOT, clean_env

from pytest_staging.cli import COMMANDS, build_parser, main
from pytest_staging.option_paths import _outside
from sample_suite.app import RunningApp, start_app

DOCS = ROOT / "docs"
SHELL_FENCE = re.compile(r"^```(bash|console|sh|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
YAML_FENCE = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)
GROOVY_FENCE = re.compile(r"^```groovy\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: A Jenkins ``sh`` step's script: single-quoted (Groovy leaves ``$VAR`` to the shell).
GROOVY_SH = re.compile(r"\bsh\s*\(?\s*(?:script:\s*)?'([^']*)'")
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
SEPARATORS = {"&&", "||", ";", "|"}
#: Options pytest accepts under a second name that its --help does not list.
ALIASES = {"--junitxml": "--junit-xml"}


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _script_lines(script: str) -> list[str]:
    """The lines of a script held in a string that run pytest or pytest-staging
    (continuations joined, comments dropped)."""
    lines = []
    for line in script.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#.*$", "", line.strip())
        if line and not line.startswith("#") and re.search(r"\bpytest", line):
            lines.append(line)
    return lines


def _yaml_scripts(node: object) -> list[str]:
    """Every string of a parsed YAML document that may hold a command: scalars, and
    exec-form lists (``command: [pytest-staging, verify, ...]``) joined as a shell line."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _yaml_scripts(value)]
    if isinstance(node, list):
        if node and all(isinstance(x, str) for x in node) and node[0] in (
                "pytest", "pytest-staging", "python", "python3"):
            return [shlex.join(node)]
        return [s for value in node for s in _yaml_scripts(value)]
    return []


def yaml_blocks() -> list[tuple[str, str]]:
    """(page:line, text) of every ```yaml block in the README and docs/."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        found += [(f"{page.relative_to(ROOT)}:{_line_of(text, m.start()) + 1}", m.group(1))
                  for m in YAML_FENCE.finditer(text)]
    return found


def embedded_commands() -> list[tuple[str, str]]:
    """(page:line of the block, command) for the commands inside ```yaml and ```groovy
    blocks."""
    found = []
    for where, block in yaml_blocks():
        for script in _yaml_scripts(yaml.safe_load(block)):
            found += [(where, line) for line in _script_lines(script)]
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in GROOVY_FENCE.finditer(text):
            where = f"{page.relative_to(ROOT)}:{_line_of(text, match.start()) + 1}"
            for script in GROOVY_SH.findall(match.group(1)):
                found += [(where, line) for line in _script_lines(script)]
    return found


def shell_commands() -> list[tuple[str, str]]:
    """(page:line, command) for every command line in the docs' shell blocks."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in SHELL_FENCE.finditer(text):
            start = text.count("\n", 0, match.start()) + 2
            joined = match.group(2).replace("\\\n", " ")
            console = match.group(1) == "console"
            for offset, line in enumerate(joined.splitlines()):
                line = line.strip()
                if console:
                    if not line.startswith("$ "):
                        continue  # output, not a command
                    line = line[2:]
                line = re.sub(r"\s+#.*$", "", line)  # a trailing comment
                if line and not line.startswith("#"):
                    found.append((f"{page.relative_to(ROOT)}:{start + offset}", line))
    return found


def invocations(command: str) -> Iterator[tuple[str, list[str]]]:
    """("pytest" | "pytest-staging", its arguments) for each invocation in a command line."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True  # words as the shell splits them; ";" "&&" "|" apart
    lexer.commenters = "#"
    part: list[str] = []
    redirected = False
    for token in [*lexer, ";"]:
        if token not in SEPARATORS:
            redirected = redirected or token[:1] in "<>"  # what follows is a file, not args
            if not redirected:
                part.append(token)
            continue
        redirected = False
        if part[:1] == ["pytest"]:
            yield "pytest", part[1:]
        elif part[:3] in (["python", "-m", "pytest"], ["python3", "-m", "pytest"]):
            yield "pytest", part[3:]
        elif part[:1] == ["pytest-staging"]:
            yield "pytest-staging", part[1:]
        part = []


COMMANDS_IN_DOCS = shell_commands() + embedded_commands()
INVOCATIONS = [(where, tool, args) for where, line in COMMANDS_IN_DOCS
               for tool, args in invocations(line)]


@pytest.fixture(scope="module")
def pytest_options() -> set[str]:
    """Every long option ``pytest --help`` lists, the sample suite's conftest included."""
    result = subprocess.run([sys.executable, "-m", "pytest", "sample_suite", "--help", *QUIET],
                            cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", result.stdout))


def cli_options(command: str) -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([command, "--help"]) == 0
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out.getvalue()))


def test_docs_have_commands() -> None:
    tools = {tool for _, tool, _ in INVOCATIONS}
    assert tools == {"pytest", "pytest-staging"}
    assert len(INVOCATIONS) >= 10


@pytest.mark.parametrize("where, tool, args", INVOCATIONS,
                         ids=[f"{w}" for w, _, _ in INVOCATIONS])
def test_command_uses_real_options(where: str, tool: str, args: list[str],
                                   pytest_options: set[str]) -> None:
    if tool == "pytest-staging":
        if args[0].startswith("-"):
            known = {"--version", "--help"}
        else:
            assert args[0] in COMMANDS, f"{where}: no subcommand {args[0]!r}"
            known = cli_options(args[0])
    else:
        known = pytest_options
    for token in args:
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            name = ALIASES.get(name, name)
            assert name in known, f"{where}: {tool} has no option {name}"
    for flag, value in itertools.pairwise(args):
        if tool == "pytest" and flag.startswith("--staging-") and "=" not in flag:
            assert not _outside(value), (
                f"{where}: {flag} {value} moves pytest's rootdir: write {flag}={value}")


@pytest.mark.parametrize("where, block", yaml_blocks(), ids=[w for w, _ in yaml_blocks()])
def test_yaml_blocks_parse(where: str, block: str) -> None:
    """Every YAML example loads (PyYAML, safe loader) as a document or, for an excerpt of a
    longer file (a job's steps), a list of its entries: never a bare string or nothing."""
    assert isinstance(yaml.safe_load(block), (dict, list)), where


def test_headers_are_single_quoted() -> None:
    """Double quotes let the shell expand $TOKEN into the process list and the CI log."""
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted(
        (DOCS / "examples").glob("*.yml"))]
    bad = [f"{page.relative_to(ROOT)}: {m.group(0)}" for page in pages
           for m in re.finditer(r"--staging-header[ =]\"[^\"]*\$[^\"]*\"",
                                page.read_text(encoding="utf-8"))]
    assert not bad


@pytest.mark.parametrize("where, args", [(w, a) for w, t, a in INVOCATIONS
                                         if t == "pytest-staging" and a[:1] != ["init"]],
                         ids=[w for w, t, a in INVOCATIONS
                              if t == "pytest-staging" and a[:1] != ["init"]])
def test_cli_commands_parse(where: str, args: list[str]) -> None:
    """Each ``pytest-staging`` command of the docs parses with the real argument parser."""
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:  # argparse's usage error
        pytest.fail(f"{where}: pytest-staging {shlex.join(args)}: exit {exc.code}")


DEPLOY_RECIPES = [(w, a) for w, t, a in INVOCATIONS
                  if t == "pytest" and w.startswith("docs/deploy-systems.md")]


@pytest.mark.parametrize("where, args", DEPLOY_RECIPES, ids=[w for w, _ in DEPLOY_RECIPES])
def test_deploy_recipe_pytest_commands_parse(where: str, args: list[str],
                                             pytester: pytest.Pytester) -> None:
    """Each ``pytest`` command of the deploy recipes parses with pytest and the plugin: its
    option values are valid (``--help`` parses and configures, then stops). Paths that do not
    exist here are fine; the report dir is redirected to the test's own folder."""
    assert DEPLOY_RECIPES, "docs/deploy-systems.md has no pytest command"
    args = [re.sub(r"^--staging-report-dir=.*", f"--staging-report-dir={pytester.path}/r", a)
            for a in args]
    args = [a.replace("$VERSION", "1.4.2").replace("$CI_COMMIT_SHA", "0a1b2c3")
            for a in args]
    with_url = args if any(a.startswith("--staging-url") for a in args) else [
        "--staging-url=http://127.0.0.1:9/", *args]
    result = pytester.runpytest_inprocess(*with_url, "-p", "no:cacheprovider", "--help")
    assert result.ret == 0, f"{where}: {result.stderr.str()[-800:]}"


@pytest.fixture(scope="module")
def demo() -> Iterator[RunningApp]:
    app = start_app()
    yield app
    app.stop()


def test_readme_first_staging_test_is_go_as_shown(demo: RunningApp, tmp_path: Path) -> None:
    """The README's "first staging test" command, aimed at the demo shop, ends GO."""
    shown = [line for where, line in COMMANDS_IN_DOCS if where.startswith("README.md")
             and "test_first_staging_test.py" in line]
    assert len(shown) == 1, shown
    args = shlex.split(shown[0].replace("http://127.0.0.1:8000/", demo.url))
    assert args[0] == "pytest"
    result = subprocess.run([sys.executable, "-m", *args, *QUIET,
                             f"--staging-report-dir={tmp_path}"],
                            cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "GO  target" in result.stdout and "NO-GO" not in result.stdout


def test_quickstart_signed_path_runs_as_shown(demo: RunningApp, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The quickstart's keygen -> signed run -> verify --public-key, against the demo shop:
    GO, verified by the attestation; the same report without the key is refused."""
    lines = [line for where, line in COMMANDS_IN_DOCS if where.startswith("docs/quickstart.md")]
    start = next(i for i, line in enumerate(lines) if line.startswith("pytest-staging keygen"))
    keygen, run, check = lines[start:start + 3]
    assert run.startswith("pytest docs/examples ") and check.startswith("pytest-staging verify ")

    def adapted(line: str) -> list[str]:
        """Files under tmp_path instead of the repository; the demo's URL."""
        return shlex.split(line.replace("http://127.0.0.1:8000/", demo.url)
                           .replace("keys/", f"{tmp_path}/keys/")
                           .replace(" staging-report ", f" {tmp_path}/staging-report "))

    assert main(adapted(keygen)[1:]) == 0
    result = subprocess.run([sys.executable, "-m", *adapted(run), *QUIET,
                             f"--staging-report-dir={tmp_path}/staging-report"],
                            cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stdout[-3000:]
    capsys.readouterr()
    assert main(adapted(check)[1:]) == 0
    out = capsys.readouterr().out
    assert "Ed25519 attestation ok" in out and f"target {demo.url}" in out
    # without the public key (and no HMAC key): the attestation cannot be checked, refused
    monkeypatch.delenv("STAGING_VERDICT_KEY", raising=False)
    unsigned = [a for a in adapted(check)[1:] if "keys/" not in a and a != "--public-key"]
    assert main(unsigned) == 3
    assert capsys.readouterr().err.startswith(
        "pytest-staging verify: attestation: verdict.intoto.json: an Ed25519-signed verdict "
        "cannot be checked without --public-key")


@pytest.mark.parametrize("where, args", [(w, a) for w, t, a in INVOCATIONS
                                         if t == "pytest-staging" and a[:1] == ["init"]])
def test_init_commands_run(where: str, args: list[str], tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 0, where
    assert (tmp_path / "staging-policy.toml").is_file()


def path_option_cases() -> list[tuple[str, str, str]]:
    """(command, configuration file, outcome) rows of troubleshooting.md's path-option table."""
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(pytest [^`]*)`[^|]*\| (either|yes|no) \| (runs|usage error)",
                      text, re.MULTILINE)
    assert len(rows) >= 6, "troubleshooting.md lost its table of path-option cases"
    return rows


@pytest.mark.parametrize("command, config, outcome", path_option_cases())
def test_path_option_rule_is_what_the_docs_say(command: str, config: str, outcome: str,
                                               tmp_path: Path) -> None:
    """Each row of the documented rule, run for real: the project folder (with or without a
    pytest.ini), a sibling folder for the absolute and ``..`` paths."""
    from servers import LoopbackServer

    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_a.py").write_text(
        "def test_a(staging):\n    assert staging.get('/').status_code == 200\n")
    (tmp_path / "report").mkdir()
    (project / "report").mkdir()
    shown = command.replace("/tmp/report", str(tmp_path / "report")).replace(
        "/tmp/new-report", str(tmp_path / "new-report"))
    server = LoopbackServer().start()
    try:
        for with_config in ((True, False) if config == "either" else (config == "yes",)):
            ini = project / "pytest.ini"
            ini.unlink(missing_ok=True)
            if with_config:
                ini.write_text("[pytest]\n")
            result = subprocess.run(
                [sys.executable, "-m", *shlex.split(shown), *QUIET, "-p", "no:xdist",
                 f"--staging-url={server.url}", "--staging-gate=integration"],
                cwd=project, env=clean_env(), capture_output=True, text=True, timeout=180)
            said = "usage error" if result.returncode == 4 and (
                "pytest takes a path given as a separate argument" in result.stderr) else (
                "runs" if result.returncode == 0 else f"exit {result.returncode}")
            assert said == outcome, (shown, with_config, result.stdout[-1500:],
                                     result.stderr[-1500:])
    finally:
        server.stop()
