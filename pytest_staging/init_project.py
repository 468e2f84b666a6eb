"""``pytest-staging init``: a policy for the gates the suite has, a first test, a CI job.

The first run of a new suite should be GO when the target is fine, and honest: a built-in gate
the suite has no test for is declared advisory in the written policy, with a comment saying
so, instead of ending the first run in "performance: gate ran 0 test(s)". Nothing is
overwritten unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import ast
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

POLICY_NAME = "staging-policy.toml"
FIRST_TEST_NAME = "test_staging_first.py"
WORKFLOW = Path(".github") / "workflows" / "staging-gate.yml"

FIRST_TEST = '''"""First staging test, written by `pytest-staging init`. Run it:

    pytest {suite} --staging-url=https://staging.example.com --staging-policy={policy}
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


def render_policy(gates: SuiteGates, suite: str, policy: str) -> str:
    run = f"pytest {suite} --staging-url=https://staging.example.com --staging-policy={policy}"
    lines = [
        "# pytest-staging release policy, written by `pytest-staging init`.",
        "# Every key and its default: docs/policy-reference.md of pytest-staging.",
        f"#   run it:        {run}",
        f"#   what applies:  pytest {suite} --staging-show-settings --staging-policy={policy}",
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
        has_tests = count > 0 or gate == "security"  # the built-in checks are its tests
        if has_tests:
            lines += [f"# found {count} test(s) in {suite}" if count else
                      "# the built-in checks are its tests until you add your own",
                      "blocking = true"]
        else:
            lines += [f"# no {gate} test in {suite} yet: advisory, so the first run is judged",
                      "# on the tests you have. Add one, then set blocking = true.",
                      "blocking = false"]
    lines += [
        "",
        "[flaky]",
        "retries = 0            # reruns of a failed test (pytest-rerunfailures)",
        'policy = "warn"        # a test that passed only on retry: "warn" or "fail"',
        "",
    ]
    return "\n".join(lines)


def render_workflow(suite: str, policy: str) -> str:
    command = shlex.join(["python", "-m", "pytest", suite, f"--staging-policy={policy}",
                          "--staging-report-dir=staging-report"])
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
        "init", help="write a policy for the gates your suite has, a first test and a CI job",
        description="write staging-policy.toml (the gates SUITE actually has; a gate without "
                    "tests is advisory until you add one), a first test when SUITE has none, "
                    "and a GitHub Actions job; never overwrites without --force")
    p.add_argument("suite", metavar="SUITE", nargs="?", default="tests/staging",
                   help="folder of the staging tests [tests/staging]")
    p.add_argument("--policy", metavar="FILE", default=POLICY_NAME,
                   help=f"where to write the policy [{POLICY_NAME}]")
    p.add_argument("--ci", choices=("github", "none"), default="github",
                   help="CI job to write [github]")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def cmd_init(args: argparse.Namespace) -> int:
    """``pytest-staging init``: print what was written and the command to run."""
    suite = Path(args.suite)
    policy = Path(args.policy)
    suite_text, policy_text = suite.as_posix(), policy.as_posix()
    gates = scan_suite(suite)
    files: dict[Path, str] = {}
    if gates.files == 0:
        files[suite / FIRST_TEST_NAME] = FIRST_TEST.format(suite=suite_text, policy=policy_text)
        gates.tests["integration"] += 1
    files[policy] = render_policy(gates, suite_text, policy_text)
    if args.ci == "github":
        files[WORKFLOW] = render_workflow(suite_text, policy_text)
    existing = [p for p in files if p.exists()]
    if existing and not args.force:
        print(f"pytest-staging init: {existing[0]} exists; nothing written (use --force to "
              "overwrite)", file=sys.stderr)
        return 1
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    summary = ", ".join(f"{g} {n}" for g, n in gates.tests.items())
    print(f"tests per gate in {suite_text}: {summary}")
    print(f"next: pytest {suite_text} --staging-url=https://staging.example.com "
          f"--staging-policy={policy_text}")
    return 0
