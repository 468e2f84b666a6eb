"""Every code example in the README and docs/ is a real file, and the examples run green.

A fenced ``python``/``toml``/``ini`` block in README.md or a docs page must be an exact excerpt of
a file under docs/examples/ or sample_suite/ (which CI runs), so the docs cannot drift from
working code.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_runs import QUIET, ROOT, clean_env

from pytest_staging.policy import load_policy
from sample_suite.app import RunningApp, start_app

DOCS = ROOT / "docs"
CHECKED_LANGUAGES = ("python", "toml", "ini")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SOURCES = [p for folder in (DOCS / "examples", ROOT / "sample_suite")
           for p in sorted(folder.rglob("*")) if p.suffix in (".py", ".toml", ".ini")]


def code_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1) in CHECKED_LANGUAGES:
                line = text.count("\n", 0, match.start()) + 1
                blocks.append((str(page.relative_to(ROOT)), line, match.group(2)))
    return blocks


def test_docs_have_code_examples() -> None:
    pages = {page for page, _, _ in code_blocks()}
    assert {"docs/quickstart.md", "docs/writing-tests.md"} <= pages


@pytest.mark.parametrize("page, line, block", code_blocks(),
                         ids=[f"{p}:{n}" for p, n, _ in code_blocks()])
def test_code_block_is_an_excerpt_of_a_file_ci_runs(page: str, line: int, block: str) -> None:
    found = [p for p in SOURCES if block in p.read_text(encoding="utf-8")]
    assert found, (f"{page}:{line}: this code block is not an exact excerpt of any file "
                   f"under docs/examples/ or sample_suite/")
    if page == "README.md":
        return  # the README stays short; docs pages must also name their source file
    text = (ROOT / page).read_text(encoding="utf-8")
    assert any(str(p.relative_to(ROOT)) in text for p in found), \
        f"{page}:{line}: the page never names the file the block comes from ({found[0]})"


@pytest.fixture
def demo() -> Iterator[RunningApp]:
    app = start_app()
    yield app
    app.stop()


@pytest.mark.parametrize("workers", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "n2"])
def test_example_suite_is_go_against_the_demo(demo: RunningApp, tmp_path: Path,
                                              workers: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "docs/examples", *QUIET, *workers,
         f"--staging-url={demo.url}", "--staging-policy=docs/examples/policy.toml",
         f"--staging-report-dir={tmp_path}"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "GO"
    assert list(verdict["gates"]) == ["integration", "security", "performance", "smoke"]
    assert all(g["status"] == "passed" for g in verdict["gates"].values())
    # 24 seeded products, plus the one the destructive example may have added meanwhile (-n 2).
    assert verdict["gates"]["integration"]["metrics"]["catalogue"]["products"] in (24, 25)
    advisory = sorted(t["nodeid"].split("::")[1] for t in verdict["tests"] if not t["blocking"])
    assert advisory == ["test_catalogue_sends_an_etag", "test_new_search_is_ready"]


def test_readme_example_command_is_go_against_the_demo(demo: RunningApp, tmp_path: Path) -> None:
    # The README's command: the first example file alone, default policy, every gate blocking.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "docs/examples/test_first_staging_test.py", *QUIET,
         f"--staging-url={demo.url}", f"--staging-report-dir={tmp_path}"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "GO"
    assert {name: gate["counts"]["passed"] for name, gate in verdict["gates"].items()} == {
        "integration": 2, "security": 1, "performance": 1}
    assert [t["nodeid"].split("::")[1] for t in verdict["tests"] if not t["blocking"]] == [
        "test_new_search_is_ready"]


def test_pyproject_policy_example_loads() -> None:
    policy = load_policy(DOCS / "examples" / "policy-in-pyproject.toml")
    assert policy["target.wait"] == 60
    assert policy["target.health"] == "/health"
    assert list(policy.gates) == ["integration", "security", "performance", "smoke"]
    assert policy.gates["smoke"].blocking is False


def test_quickstart_lists_every_defect() -> None:
    from sample_suite.app import DEFECTS

    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    missing = [name for name in DEFECTS if f"| `{name}` |" not in text]
    assert not missing, f"docs/quickstart.md does not list the defects {missing}"
