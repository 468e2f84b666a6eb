"""Every code example in the README and docs/ is a real file, and the examples run green.

A fenced ``python``/``toml``/``ini`` block in README.md or a docs page must be an exact excerpt of
a file under docs/examples/ or sample_suite/ (which CI runs), so the docs cannot drift from
working code.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

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
    # security: the example's own test plus the built-in header, cookie, exposure and CORS
    # checks (the transport check skips on plain HTTP).
    assert {name: gate["counts"]["passed"] for name, gate in verdict["gates"].items()} == {
        "integration": 2, "security": 5, "performance": 1}
    assert {t["nodeid"] for t in verdict["tests"] if t["gate"] == "security"} >= {
        "docs/examples/test_first_staging_test.py::test_pages_forbid_framing"}
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


# -- outputs shown in the docs: the shape of what a real run prints now ----------------------
def shown_outputs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_shown_outputs",
                                                  DOCS / "gen_shown_outputs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_docs_mark_the_outputs_they_show() -> None:
    """The README's and the quickstart's verdict blocks are generated from real runs (and
    checked below); a verdict block without its marker would drift unnoticed."""
    gen = shown_outputs()
    marked = {(b.page.name, b.command, b.part) for b in gen.shown_blocks()}
    assert {("README.md", "pytest sample_suite", "verdict"),
            ("README.md", "pytest sample_suite --defect slow-search", "go-line"),
            ("quickstart.md", "pytest sample_suite", "verdict+summary"),
            ("quickstart.md", "pytest sample_suite --defect slow-search",
             "verdict+summary")} <= marked
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"(<!-- shown-output: [^\n]*-->\n)?```\w*\n(=+ staging "
                                 r"verdict|\$ pytest sample_suite[^\n]*\n\.\.\.\n=+ staging "
                                 r"verdict)", text):
            assert match.group(1), f"{page.name}: a verdict block without a shown-output marker"


def test_shape_ignores_numbers_and_catches_a_changed_form() -> None:
    gen = shown_outputs()
    block = next(b for b in gen.shown_blocks() if b.part == "verdict+summary"
                 and "slow-search" in b.command)
    output = block.body.replace("$ pytest sample_suite --defect slow-search\n...\n", "")
    assert gen.differences(block, output) == ""
    slower = re.sub(r"(?<![p\d])\d+", lambda m: str(int(m.group(0)) * 7 + 3), output)
    assert gen.differences(block, slower) == "", "numbers are not the form"
    # the old quickstart block: no contract gate row, fewer threshold lines, no warnings
    without_contract = "\n".join(line for line in output.splitlines()
                                 if not line.startswith("contract"))
    assert "contract blocking" in gen.differences(block, without_contract).replace("  ", " ")
    # the verdict line without its judgement ("NO-GO (failed)") is another form
    unjudged = output.replace("NO-GO (failed)  target", "NO-GO  target")
    assert unjudged != output
    assert "+NO-GO target" in gen.differences(block, unjudged)


@pytest.mark.slow
def test_shown_outputs_have_the_shape_of_real_runs() -> None:
    """Each marked block against a real run of its command from the repository root (the
    README's and the quickstart's GO verdict of ``pytest sample_suite``, and the NO-GO of
    ``--defect slow-search``): the same gate rows, lines, verdict line and reasons, numbers
    normalised. A block that fails here is regenerated with
    ``python docs/gen_shown_outputs.py``."""
    gen = shown_outputs()
    problems = [d for block, output in gen.outputs(gen.shown_blocks())
                if (d := gen.differences(block, output))]
    assert not problems, "\n\n".join(problems)
