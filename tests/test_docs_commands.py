"""Every shell command in the README and docs/ is honest: each ``pytest`` / ``pytest-staging``
invocation in a ```bash / ```console block uses only options that exist, quotes
``--staging-header`` so the shell cannot expand a secret, never gives a path option in the
space-separated form with a path that would move pytest's rootdir, and the cheap ones run."""

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
from sample_runs import QUIET, ROOT, clean_env

from pytest_staging.cli import COMMANDS, main
from pytest_staging.option_paths import _outside
from sample_suite.app import RunningApp, start_app

DOCS = ROOT / "docs"
SHELL_FENCE = re.compile(r"^```(bash|console|sh|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SEPARATORS = {"&&", "||", ";", "|"}
#: Options pytest accepts under a second name that its --help does not list.
ALIASES = {"--junitxml": "--junit-xml"}


def shell_commands() -> list[tuple[str, str]]:
    """(page:line, command) for every command line in the docs' shell blocks."""
    found = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
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
    tokens = shlex.split(command, comments=True)
    part: list[str] = []
    for token in [*tokens, ";"]:
        if token not in SEPARATORS:
            part.append(token)
            continue
        if part[:1] == ["pytest"]:
            yield "pytest", part[1:]
        elif part[:3] in (["python", "-m", "pytest"], ["python3", "-m", "pytest"]):
            yield "pytest", part[3:]
        elif part[:1] == ["pytest-staging"]:
            yield "pytest-staging", part[1:]
        part = []


COMMANDS_IN_DOCS = shell_commands()
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


def test_headers_are_single_quoted() -> None:
    """Double quotes let the shell expand $TOKEN into the process list and the CI log."""
    pages = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted(
        (DOCS / "examples").glob("*.yml"))]
    bad = [f"{page.relative_to(ROOT)}: {m.group(0)}" for page in pages
           for m in re.finditer(r"--staging-header[ =]\"[^\"]*\$[^\"]*\"",
                                page.read_text(encoding="utf-8"))]
    assert not bad


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
    assert main(unsigned) == 1
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
