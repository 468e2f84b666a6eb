"""Write the terminal outputs shown in README.md and docs/*.md from real runs.

A shown output is a fenced block right after a marker line naming the command and the part of
its output to show::

    <!-- shown-output: pytest sample_suite --defect slow-search | verdict -->

Parts: ``verdict`` (the staging verdict section, from its ``=== staging verdict ===`` line to
the ``verdict: ...`` line), ``verdict+summary`` (the same, through pytest's last line) and
``go-line`` (the GO / NO-GO line and its reasons). A ``console`` block starts with
``$ COMMAND`` and ``...``.

    python docs/gen_shown_outputs.py          # run each command, rewrite the blocks
    python docs/gen_shown_outputs.py --check  # exit 1 if a block's shape differs from a run

The runs start from the repository root (``pytest sample_suite`` starts the demo shop), with
the report in a temporary folder shown as ``staging-report/``. ``--check`` (and
tests/test_docs_examples.py) compare shapes: numbers, ports, durations and seeds normalised,
so a block fails only when the output changed form (a gate row, a line, a reason, the verdict
line), not when a run was a few milliseconds slower. After a change to the terminal output,
run this script and commit the pages it rewrote.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- shown-output: (?P<command>.+?) \| (?P<part>[a-z+-]+) -->\n"
                    r"```(?P<lang>\w*)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
#: Plugins that change nothing in the verdict section and only slow a run down; no cache
#: folder in the repository.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis")
SHOWN_REPORT = "staging-report"


@dataclass(frozen=True)
class Shown:
    page: Path
    line: int
    command: str
    part: str
    lang: str
    body: str
    start: int
    end: int


def shown_blocks(pages: list[Path] | None = None) -> list[Shown]:
    """Every marked block of the pages."""
    found = []
    for page in pages or PAGES:
        text = page.read_text(encoding="utf-8")
        for match in MARKER.finditer(text):
            found.append(Shown(page, text.count("\n", 0, match.start()) + 1,
                               match.group("command"), match.group("part"),
                               match.group("lang"), match.group("body"),
                               match.start("body"), match.end("body")))
    return found


def clean_env() -> dict[str, str]:
    """The environment minus what would point a run elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STAGING_", "SHOP_", "PYTEST_ADDOPTS", "PYTEST_XDIST"))}
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.pop("GITHUB_ACTIONS", None)
    # The pages show what a terminal of 80 columns prints; on CI (CI or BUILD_NUMBER set)
    # pytest does not cut the short test summary lines, so the run would print other lines.
    env.pop("CI", None)
    env.pop("BUILD_NUMBER", None)
    env["COLUMNS"] = "80"
    return env


def run(command: str, timeout: float = 600) -> str:
    """What ``command`` prints, run from the repository root, the report folder shown as
    ``staging-report/``."""
    args = shlex.split(command)
    if args[:1] != ["pytest"]:
        raise ValueError(f"{command}: a shown output must be a pytest command")
    with tempfile.TemporaryDirectory(prefix="shown-output-") as report:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *args[1:], *QUIET,
             f"--staging-report-dir={report}"],
            cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=timeout)
        return (result.stdout + result.stderr).replace(report, SHOWN_REPORT)


def _verdict_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if re.fullmatch(r"=+ staging verdict =+", line.strip()):
            return index
    raise ValueError("no '=== staging verdict ===' section in the output")


def part_of(output: str, part: str) -> list[str]:
    """The lines of ``output`` a block of kind ``part`` shows."""
    lines = output.splitlines()
    if part == "go-line":
        # The verdict line: GO, or NO-GO with its judgement ("NO-GO (failed)  target ...").
        start = next(i for i, line in enumerate(lines)
                     if re.match(r"(GO|NO-GO( \([a-z]+\))?)  ", line))
        end = start + 1
        while end < len(lines) and lines[end].startswith("  - "):
            end += 1
        return lines[start:end]
    start = _verdict_start(lines)
    if part == "verdict":
        end = next(i for i in range(start, len(lines)) if lines[i].startswith("verdict: "))
        return lines[start:end + 1]
    if part == "verdict+summary":
        end = max(i for i, line in enumerate(lines) if line.startswith("="))
        return lines[start:end + 1]
    raise ValueError(f"unknown part {part!r} (verdict, verdict+summary, go-line)")


def render(block: Shown, lines: list[str]) -> str:
    head = [f"$ {block.command}", "..."] if block.lang == "console" else []
    return "\n".join([*head, *lines]) + "\n"


def shape(text: str) -> list[str]:
    """A block's form: numbers (counts, ports, durations, seeds, versions) and column padding
    normalised; the lines, words, gates and reasons kept."""
    out = []
    for line in text.splitlines():
        if line.startswith("$ ") or line == "...":
            continue
        line = re.sub(r"p99 (n/a|[\d.]+ ms)", "p99 X", line)
        line = re.sub(r"\d+(?:\.\d+)*", "N", line)
        line = re.sub(r" {2,}", " ", line).strip().strip("=").strip()
        out.append(line)
    return out


def differences(block: Shown, output: str) -> str:
    """Why ``block`` does not have the shape of ``output`` ("" when it does)."""
    want, have = shape(block.body), shape("\n".join(part_of(output, block.part)))
    if want == have:
        return ""
    import difflib

    diff = "\n".join(difflib.unified_diff(want, have, "shown", "run", lineterm="", n=1))
    return (f"{block.page.relative_to(ROOT)}:{block.line}: the output shown for "
            f"'{block.command}' ({block.part}) is not what a run prints now; run "
            f"`python docs/gen_shown_outputs.py` and commit the page:\n{diff}")


def outputs(blocks: list[Shown], runner: Callable[[str], str] = run) -> Iterator[tuple[Shown,
                                                                                        str]]:
    """Each block with its command's output (each command run once)."""
    cache: dict[str, str] = {}
    for block in blocks:
        if block.command not in cache:
            cache[block.command] = runner(block.command)
        yield block, cache[block.command]


def rewrite(blocks: list[Shown], runner: Callable[[str], str] = run) -> list[Path]:
    """Rewrite each block from its command's output; the pages that changed."""
    changed: dict[Path, str] = {}
    for block, output in sorted(outputs(blocks, runner), key=lambda b: (str(b[0].page),
                                                                -b[0].start)):
        text = changed.get(block.page, block.page.read_text(encoding="utf-8"))
        text = text[:block.start] + render(block, part_of(output, block.part)) + \
            text[block.end:]
        changed[block.page] = text
    written = []
    for page, text in changed.items():
        if text != page.read_text(encoding="utf-8"):
            page.write_text(text, encoding="utf-8")
            written.append(page)
    return written


def main(argv: list[str]) -> int:
    blocks = shown_blocks()
    if "--check" in argv:
        problems = [d for block, output in outputs(blocks) if (d := differences(block, output))]
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for page in rewrite(blocks):
        print(f"wrote {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
