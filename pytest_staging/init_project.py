"""``pytest-staging init``: a policy for the gates the suite has, recorded where pytest reads
it, a first test, a CI job, and the report folder kept out of git.

The first run of a new suite should be GO when the target is fine, and honest: a built-in gate
the suite has no test for is declared advisory in the written policy, with a comment saying
so, instead of ending the first run in "performance: gate ran 0 test(s)"; the built-in
security checks report their findings ("would have blocked") without blocking until the team
has looked at them and sets the one line that makes them block. The policy is recorded as ini
``staging_policy`` in the pytest configuration the project already has (``project_config``),
so the README's plain ``pytest SUITE --staging-url=...`` reads it. Nothing is overwritten
unless ``--force`` is given; nothing is written when the configuration cannot be edited
safely.
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_staging import project_config

POLICY_NAME = "staging-policy.toml"
FIRST_TEST_NAME = "test_staging_first.py"
WORKFLOW = Path(".github") / "workflows" / "staging-gate.yml"

#: The ini key the plugin reads the policy from (``precedence.SETTINGS``'s ``policy``).
POLICY_INI = "staging_policy"
REPORT_INI = "staging_report_dir"
DEFAULT_REPORT_DIR = "staging-report"
EXAMPLE_URL = "https://staging.example.com"
#: Options that make pytest read another configuration (or policy) than init's.
ADDOPTS_THAT_MOVE_CONFIG = ("-c", "--config-file", "--inifile", "--rootdir", "-o",
                            "--override-ini", "--staging-policy")

FIRST_TEST = '''"""First staging test, written by `pytest-staging init`. Run it:

    {run}
"""


def test_target_answers(staging):
    response = staging.get("/")  # joins the --staging-url
    assert response.status_code < 500
'''


@dataclass
class SuiteGates:
    """How many tests of each built-in gate a suite has (found by reading, not importing)."""

    files: int = 0
    tests: dict[str, int] = field(default_factory=lambda: {
        "integration": 0, "security": 0, "performance": 0})


def _marks(node: ast.AST) -> set[str]:
    """Names of ``pytest.mark.NAME`` used in a decorator list or ``pytestmark``."""
    names = set()
    for sub in ast.walk(node):
        if (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute)
                and sub.value.attr == "mark"):
            names.add(sub.attr)
    return names


def _gate_of(marks: set[str], args: Iterable[str], module_marks: set[str]) -> str:
    """``gate_assignment.assign``'s rule, read from source: a gate marker on the test, else on
    its module, else ``performance`` for a test taking ``staging_load``, else the default
    gate. (A module marker wins over ``staging_load``, as it does in a run.)"""
    for found in (marks, module_marks):
        for gate in ("security", "performance", "integration"):
            if gate in found:
                return gate
    return "performance" if "staging_load" in args else "integration"


def scan_suite(suite: Path) -> SuiteGates:
    """Count the tests per built-in gate in ``suite``'s ``test_*.py`` / ``*_test.py`` files."""
    found = SuiteGates()
    files = sorted({*suite.rglob("test_*.py"), *suite.rglob("*_test.py")}) if suite.is_dir() \
        else []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        found.files += 1
        module_marks: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
                module_marks |= _marks(node.value)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    node.name.startswith("test"):
                marks = set().union(*(_marks(d) for d in node.decorator_list)) \
                    if node.decorator_list else set()
                args = [a.arg for a in node.args.args]
                found.tests[_gate_of(marks, args, module_marks)] += 1
    return found


def run_command(suite: str, policy: str | None) -> str:
    """The command that runs the suite against staging (``--staging-policy`` only when the
    policy is not recorded in pytest's configuration)."""
    words = ["pytest", suite, f"--staging-url={EXAMPLE_URL}"]
    if policy is not None:
        words.append(f"--staging-policy={policy}")
    return shlex.join(words)


def render_policy(gates: SuiteGates, suite: str, policy_option: str | None,
                  report_dir: str = DEFAULT_REPORT_DIR) -> str:
    """The policy text. ``policy_option``: the ``--staging-policy`` value the commands need
    (None when the policy is recorded in pytest's configuration)."""
    show = ["pytest", suite, "--staging-show-settings"]
    if policy_option is not None:
        show.append(f"--staging-policy={policy_option}")
    lines = [
        "# pytest-staging release policy, written by `pytest-staging init`.",
        "# Every key and its default: docs/policy-reference.md of pytest-staging.",
        f"#   run it:        {run_command(suite, policy_option)}",
        f"#   what applies:  {shlex.join(show)}",
        "",
        "# Tests without a gate marker belong to this gate.",
        'default_gate = "integration"',
        "",
        "[target]",
        '# health = "/health"   # path polled until it answers below 500 [default "/"]',
        "wait = 60              # seconds the target may take to become ready",
        '# version = "/version" # JSON {"version": "..."} for --staging-expect-version',
        "",
        "# One table per gate. A blocking gate must run at least min_tests tests (default 1)",
        "# and none of its tests may fail; an advisory gate (blocking = false) only reports.",
    ]
    notes = {
        "integration": "unmarked tests and @pytest.mark.integration",
        "security": "@pytest.mark.security tests, plus the built-in passive checks "
                    "(headers, cookies, TLS, exposure, CORS)",
        "performance": "@pytest.mark.performance tests and tests that use staging_load",
    }
    for gate, count in gates.tests.items():
        lines += ["", f"[gates.{gate}]", f"# {notes[gate]}"]
        if count:
            lines += [f"# found {count} test(s) in {suite}", "blocking = true"]
        elif gate == "security":
            lines += [f"# no security test in {suite} yet: the built-in checks run and report "
                      "what they find",
                      "# (\"would have blocked\" in the verdict) without blocking, so the "
                      "first run is judged",
                      f"# on the tests you have. Read their findings in {report_dir}/verdict.md,"
                      " accept",
                      "# the ones you live with under [security.rules] (below), then make "
                      "them block:",
                      "blocking = false       # true: the built-in security checks block "
                      "promotion"]
        else:
            lines += [f"# no {gate} test in {suite} yet: advisory, so the first run is judged",
                      "# on the tests you have. Add one, then set blocking = true.",
                      "blocking = false"]
    lines += ["", "[security]"]
    if gates.tests["security"]:
        lines += ["# The built-in passive checks report what they find (\"would have "
                  "blocked\") without",
                  "# blocking, while your own security tests block. Read their findings in",
                  f"# {report_dir}/verdict.md, accept the ones you live with under "
                  "[security.rules]",
                  "# (below), then make them block:",
                  "builtin_blocking = false   # true: the built-in security checks block "
                  "promotion"]
    else:
        lines += ["# builtin_blocking = true  # (the default) once [gates.security] blocks, "
                  "so do the built-in checks"]
    lines += [
        "",
        "# An accepted risk: a finding's rule id, held at a level that does not block, with an",
        "# owner and an expiry date (from the day after it, the finding blocks again):",
        "# [security.rules]",
        '# csp-missing = { level = "warn", owner = "team-web", expires = 2026-12-31, '
        'reason = "SEC-123" }',
        "",
        "[flaky]",
        "retries = 0            # reruns of a failed test (pytest-rerunfailures)",
        'policy = "warn"        # a test that passed only on retry: "warn" or "fail"',
        "",
    ]
    return "\n".join(lines)


def render_workflow(suite: str, policy_option: str | None) -> str:
    words = ["python", "-m", "pytest", suite]
    if policy_option is not None:
        words.append(f"--staging-policy={policy_option}")
    command = shlex.join([*words, f"--staging-report-dir={DEFAULT_REPORT_DIR}"])
    return f"""# Written by `pytest-staging init`: the staging release gate (GO / NO-GO).
# Repository settings used:
#   variables: STAGING_URL (e.g. https://staging.example.com)
#              PYTEST_STAGING_SOURCE (what pip installs pytest-staging from: a wheel URL or
#              path, or git+https://<your git host>/<path>/pytest-staging@<tag>)
name: staging-gate

on:
  push:
    branches: [main]
  workflow_dispatch:

permissions:
  contents: read

jobs:
  acceptance:
    runs-on: ubuntu-latest
    env:
      STAGING_URL: ${{{{ vars.STAGING_URL }}}}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      # pytest-staging is not published on PyPI: install it from a wheel built from its
      # repository (python -m pip wheel --no-deps .) or from git with a pinned tag.
      - run: python -m pip install "${{{{ vars.PYTEST_STAGING_SOURCE }}}}"
      - name: Release gate (exit 0 only on GO)
        run: {command}
      - name: Keep the verdict
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: staging-verdict
          path: staging-report/
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "init", help="write a policy for the gates your suite has, record it in pytest's "
                     "configuration, and write a first test and a CI job",
        description="write staging-policy.toml (the gates SUITE actually has; a gate without "
                    "tests is advisory until you add one, the built-in security checks report "
                    "without blocking until you say so), record it as ini staging_policy in "
                    "the pytest configuration pytest reads for SUITE (pytest.ini, tox.ini, "
                    "setup.cfg, pyproject.toml, pytest.toml; created when there is none), "
                    "write a first test when SUITE has none, a GitHub Actions job, and the "
                    "report folder into .gitignore; never overwrites without --force")
    p.add_argument("suite", metavar="SUITE", nargs="?", default="tests/staging",
                   help="folder of the staging tests [tests/staging]")
    p.add_argument("--policy", metavar="FILE", default=POLICY_NAME,
                   help=f"where to write the policy [{POLICY_NAME}]")
    p.add_argument("--ci", choices=("github", "none"), default="github",
                   help="CI job to write [github]")
    p.add_argument("--no-ini", dest="ini", action="store_false",
                   help="do not record the policy in pytest's configuration (every command "
                        "then needs --staging-policy) [record it]")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


@dataclass
class Plan:
    """Everything init will write, decided and checked before the first byte is."""

    files: dict[Path, str]
    gates: SuiteGates
    #: The ``--staging-policy`` value the commands need (None: recorded in pytest's config).
    policy_option: str | None
    config: project_config.ConfigEdit | None = None
    #: What init says about pytest's configuration (recorded, already there, or not asked).
    config_line: str = ""
    gitignore: tuple[Path, str] | None = None
    gitignore_line: str = ""
    notes: list[str] = field(default_factory=list)


def _fail(message: str) -> int:
    print(f"pytest-staging init: {message}", file=sys.stderr)
    return 1


def _existing_policy(config: project_config.ProjectConfig) -> str:
    """A ``[tool.pytest-staging]`` policy in the rootdir's pyproject.toml, which the ini key
    would silently replace ("" when there is none)."""
    from pytest_staging.policy import tomllib

    pyproject = config.rootdir / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return ""
    return str(pyproject) if "pytest-staging" in data.get("tool", {}) else ""


def _report_dir(config: project_config.ProjectConfig | None, cwd: Path) -> Path:
    """Where a run from ``cwd`` writes its verdict: ini ``staging_report_dir`` (relative to
    the ini file), else the default folder in ``cwd``."""
    if config is not None and config.values.get(REPORT_INI):
        return config.resolve(str(config.values[REPORT_INI]))
    return (cwd / DEFAULT_REPORT_DIR).resolve()


def _git_ignores(cwd: Path, path: Path) -> bool | None:
    """Whether git ignores ``path`` already (None: no git, or ``cwd`` is no work tree)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        inside = subprocess.run([git, "rev-parse", "--is-inside-work-tree"], cwd=cwd,
                                capture_output=True, text=True, timeout=20)
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        check = subprocess.run([git, "check-ignore", "-q", "--no-index", str(path) + "/"],
                               cwd=cwd, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return check.returncode == 0 if check.returncode in (0, 1) else None


def _gitignore(cwd: Path, report_dir: Path) -> tuple[tuple[Path, str] | None, str]:
    """The .gitignore to write (path, new text) and what to say about it."""
    if not report_dir.is_relative_to(cwd.resolve()) or report_dir == cwd.resolve():
        return None, (f"not added to .gitignore: the report folder {report_dir} is not "
                      "inside this folder")
    relative = report_dir.relative_to(cwd.resolve()).as_posix()
    entry = f"/{relative}/"
    gitignore = cwd / ".gitignore"
    if _git_ignores(cwd, report_dir):
        return None, f"{relative}/ is ignored by git already"
    try:
        text = gitignore.read_bytes().decode("utf-8") if gitignore.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"not added to .gitignore: cannot read {gitignore} ({exc})"
    if {line.strip() for line in text.splitlines()} & {relative, f"{relative}/", entry,
                                                       f"/{relative}"}:
        return None, f"{gitignore.name} lists {relative}/ already"
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    text += f"# pytest-staging verdicts (pytest-staging init){newline}{entry}{newline}"
    return (gitignore, text), f"added {entry} to {gitignore.name}"


def make_plan(args: argparse.Namespace, cwd: Path) -> Plan | str:
    """What to write, or the one line saying why nothing will be."""
    suite, policy = Path(args.suite), Path(args.policy)
    suite_text = suite.as_posix()
    config: project_config.ProjectConfig | None = None
    edit: project_config.ConfigEdit | None = None
    config_line = ""
    policy_option: str | None = policy.as_posix()
    if args.ini:
        try:
            config = project_config.find(cwd, suite)
            existing = _existing_policy(config)
            if existing:
                return (f"{existing} holds a release policy already ([tool.pytest-staging]); "
                        "nothing written (edit it, or remove that table to let init write "
                        f"{policy.as_posix()})")
            edit = project_config.plan(config, cwd, suite, POLICY_INI, cwd / policy)
        except project_config.ConfigEditError as exc:
            return (f"cannot record the policy in pytest's configuration: {exc}; nothing "
                    f"written (add {POLICY_INI} = {policy.as_posix()} to it yourself and "
                    "rerun with --no-ini)")
        policy_option = None
        if edit is None:
            config_line = f"{config.path} names {policy.as_posix()} already ({POLICY_INI})"
        else:
            config_line = (f"{'created' if edit.created else 'recorded the policy in'} "
                           f"{_shown(edit.path, cwd)} {edit.table}: {edit.line}")
    gates = scan_suite(suite)
    files: dict[Path, str] = {}
    if gates.files == 0:
        files[suite / FIRST_TEST_NAME] = FIRST_TEST.format(
            run=run_command(suite_text, policy_option))
        gates.tests["integration"] += 1
    report_dir = _report_dir(config, cwd)
    report_text = _shown(report_dir, cwd)
    files[policy] = render_policy(gates, suite_text, policy_option, report_text)
    if args.ci == "github":
        files[WORKFLOW] = render_workflow(suite_text, policy_option)
    existing_files = [p for p in files if p.exists()]
    if existing_files and not args.force:
        return (f"{existing_files[0]} exists; nothing written (use --force to overwrite)")
    gitignore, gitignore_line = _gitignore(cwd, report_dir)
    return Plan(files, gates, policy_option, edit, config_line, gitignore, gitignore_line,
                _environment_notes(policy_option is None))


def _shown(path: Path, cwd: Path) -> str:
    """``path`` as the user would type it from ``cwd``."""
    path = path.resolve()
    return path.relative_to(cwd.resolve()).as_posix() if path.is_relative_to(cwd.resolve()) \
        else str(path)


def _environment_notes(recorded: bool) -> list[str]:
    """What in this shell would make the next command read something else."""
    notes = []
    if recorded and os.environ.get("STAGING_POLICY", "").strip():
        notes.append("note: STAGING_POLICY is set in this shell and beats the ini "
                     f"{POLICY_INI}: unset it to run with the policy init wrote")
    try:
        addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    except ValueError:
        addopts = []
    moving = [a for a in addopts if a.startswith(ADDOPTS_THAT_MOVE_CONFIG)]
    if moving:
        notes.append(f"note: PYTEST_ADDOPTS in this shell has {moving[0]}: pytest may read "
                     "another configuration than the one above")
    return notes


def cmd_init(args: argparse.Namespace) -> int:
    """``pytest-staging init``: print what was written and the command to run."""
    cwd = Path.cwd()
    plan = make_plan(args, cwd)
    if isinstance(plan, str):
        return _fail(plan)
    try:
        for path, text in plan.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        if plan.config is not None:
            project_config.write(plan.config)
        if plan.gitignore is not None:
            plan.gitignore[0].write_bytes(plan.gitignore[1].encode("utf-8"))
    except OSError as exc:
        return _fail(f"cannot write {exc.filename}: {exc.strerror or exc}")
    if plan.config_line:
        print(plan.config_line)
    policy_option = plan.policy_option
    if policy_option is None and not _pytest_reads_policy(cwd, Path(args.suite),
                                                          Path(args.policy)):
        # Checked before writing; a folder init created can still change pytest's guess.
        print(f"warning: pytest does not read {POLICY_INI} for {Path(args.suite).as_posix()} "
              "from the file above: give --staging-policy on every run")
        policy_option = Path(args.policy).as_posix()
    if plan.gitignore_line:
        print(plan.gitignore_line)
    for note in plan.notes:
        print(note)
    summary = ", ".join(f"{g} {n}" for g, n in plan.gates.tests.items())
    print(f"tests per gate in {Path(args.suite).as_posix()}: {summary}")
    print(f"next: {run_command(Path(args.suite).as_posix(), policy_option)}")
    return 0


def _pytest_reads_policy(cwd: Path, suite: Path, policy: Path) -> bool:
    """Whether ``pytest SUITE`` from ``cwd`` now reads ini ``staging_policy`` naming
    ``policy`` (pytest's own rule, on the files as written)."""
    try:
        config = project_config.find(cwd, suite)
    except project_config.ConfigEditError:
        return False
    value = config.values.get(POLICY_INI)
    return bool(value) and config.resolve(str(value)) == (cwd / policy).resolve()
