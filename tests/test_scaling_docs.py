"""docs/scaling-out.md, shards and merging: the sharded CI recipes parse, their YAML on the page
is an exact excerpt of the files, and every ``pytest`` and ``pytest-staging`` command of the
recipes and of the page runs, each shard as a process of its own (as a CI job), against a
loopback server, ending in a verified GO."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import LoopbackServer
from test_ci_examples import ACCEPTANCE, VERSION, commands, ours, recipe_target

from pytest_staging.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "scaling-out.md"
EXAMPLES = ROOT / "docs" / "examples"
GITHUB, GITLAB = EXAMPLES / "github-actions-sharded.yml", EXAMPLES / "gitlab-ci-sharded.yml"
KEY = "scaling-docs-signing-key-42"
TOKEN = "scaling-docs-api-token-0042"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def sections() -> dict[str, str]:
    """The page's ``##`` sections by title."""
    text = PAGE.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def blocks(section: str, language: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(section) if m.group(1) == language]


def page_commands(section: str) -> list[str]:
    """The ``pytest`` / ``pytest-staging`` command lines of a section's shell blocks."""
    found = []
    for language in ("bash", "console"):
        for block in blocks(section, language):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith(("python -m pytest ", "pytest-staging ")):
                    found.append(line)
    return found


def test_the_page_has_its_sections() -> None:
    titles = list(sections())
    assert titles[:4] == ["Shards", "Merging", "GitHub Actions: a matrix and a merge job",
                          "GitLab CI: `parallel:` and a merge job"]


@pytest.mark.parametrize("title, source", [
    ("GitHub Actions: a matrix and a merge job", GITHUB),
    ("GitLab CI: `parallel:` and a merge job", GITLAB)])
def test_the_yaml_on_the_page_is_the_recipe(title: str, source: Path) -> None:
    section, text = sections()[title], source.read_text(encoding="utf-8")
    shown = blocks(section, "yaml")
    assert shown and all(block in text for block in shown)
    assert f"examples/{source.name}" in section


def test_the_recipes_shard_and_merge() -> None:
    github: dict[Any, Any] = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    jobs = github["jobs"]
    assert jobs["acceptance"]["strategy"]["matrix"]["shard"] == [1, 2, 3]
    assert jobs["acceptance"]["strategy"]["fail-fast"] is False
    assert jobs["merge"]["needs"] == ["deploy-staging", "acceptance"]
    assert jobs["promote"]["needs"] == ["deploy-staging", "merge"]
    steps = [s.get("run", "") for s in jobs["promote"]["steps"]]
    assert [i for i, s in enumerate(steps) if "pytest-staging verify" in s] < \
        [i for i, s in enumerate(steps) if "deploy.sh production" in s]
    gitlab: dict[str, Any] = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    assert gitlab["acceptance"]["parallel"] == 3
    assert gitlab["merge"]["needs"] == [{"job": "acceptance", "artifacts": True}]
    assert gitlab["merge"]["when"] == "always"
    assert gitlab["promote"]["script"][-1].startswith("./scripts/deploy.sh production")
    for path in (GITHUB, GITLAB):
        for cmd in ours(path):
            if cmd.startswith("pytest-staging "):
                build_parser().parse_args(shlex.split(cmd)[1:])
            else:
                assert "--staging-shard" in cmd


@pytest.fixture
def target() -> Iterator[LoopbackServer]:
    srv = recipe_target()
    yield srv
    srv.stop()


def _env(server: LoopbackServer, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STAGING_", "GITHUB_", "GITLAB_", "CI_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               STAGING_URL=server.url, STAGING_VERDICT_KEY=KEY, STAGING_TOKEN=TOKEN,
               VERSION=VERSION, **more)
    return env


def _run(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # bash -e: the shell semantics of the CI runners (quotes, $VAR)
    proc = subprocess.run(["bash", "-ec", cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=240)
    assert TOKEN not in proc.stdout + proc.stderr and KEY not in proc.stdout + proc.stderr
    return proc


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    (pytester.path / "tests" / "acceptance").mkdir(parents=True)
    (pytester.path / "tests" / "acceptance" / "test_smoke.py").write_text(ACCEPTANCE)
    return pytester.path


def test_the_github_recipe_runs(project: Path, target: LoopbackServer) -> None:
    """Each matrix job in a shell of its own, its artifact where download-artifact puts it,
    then the merge job and the promote job's verify, as written."""
    steps = ours(GITHUB)
    shard_step = next(c for c in steps if "--staging-shard" in c)
    merge_step = next(c for c in steps if c.startswith("pytest-staging merge"))
    verify_step = next(c for c in steps if c.startswith("pytest-staging verify"))
    env = _env(target, GITHUB_ACTIONS="true", GITHUB_RUN_ID="424242", GITHUB_RUN_ATTEMPT="1")
    for shard in (1, 2, 3):
        job = project / f"job-{shard}"
        (job / "tests").mkdir(parents=True)
        (job / "tests" / "acceptance").symlink_to(project / "tests" / "acceptance")
        proc = _run(shard_step.replace("${{ matrix.shard }}", str(shard)), job, env)
        assert proc.returncode == 0, (shard, proc.stdout[-3000:], proc.stderr[-2000:])
        (project / "shards").mkdir(exist_ok=True)
        (job / "staging-report").rename(project / "shards" / f"staging-shard-{shard}")
    summary = project / "merge-job-summary.md"
    proc = _run(merge_step, project, {**env, "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "GO  merged from 3 shard verdict(s) of run 424242" in proc.stdout
    # the merge job's summary page shows the merged verdict, as a run's job shows its own
    assert "GO: staging verdict" in summary.read_text() and "424242" in summary.read_text()
    proc = _run(verify_step, project, env)
    assert proc.returncode == 0 and proc.stdout.startswith("GO: "), proc.stdout + proc.stderr
    # the plugin expanded $STAGING_TOKEN itself (single quotes kept it from the shell)
    assert any(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in target.requests)


def test_the_gitlab_recipe_runs(project: Path, target: LoopbackServer) -> None:
    shard_step = next(c for c in commands(GITLAB) if "--staging-shard" in c)
    env = _env(target, GITLAB_CI="true", CI_PIPELINE_ID="5151", CI_NODE_TOTAL="3")
    for shard in (1, 2, 3):
        proc = _run(shard_step, project, {**env, "CI_NODE_INDEX": str(shard),
                                          "CI_JOB_ID": f"90{shard}"})
        assert proc.returncode == 0, (shard, proc.stdout[-3000:], proc.stderr[-2000:])
        junit = (project / "shards" / str(shard) / "junit.xml").read_text()
        # GitLab's Tests tab shows each shard's file: it says it is a shard
        assert f'value="shard {shard}/3 of run 5151 (not deployable alone' in junit
    for cmd in ours(GITLAB):
        if cmd.startswith("pytest-staging "):
            proc = _run(cmd, project, env)
            assert proc.returncode == 0, (cmd, proc.stdout[-3000:], proc.stderr[-2000:])
    assert (project / "staging-report" / "junit.xml").is_file()


def test_the_page_commands_run(project: Path, target: LoopbackServer) -> None:
    """The page's own commands: the shard command on three "machines", then the merge and
    the verify; a shard given to verify is refused with the very line the page shows."""
    # The page's command sends no token: the suite without the test that wants one.
    smoke = project / "tests" / "acceptance" / "test_smoke.py"
    smoke.write_text(ACCEPTANCE.split("def test_token_is_sent")[0])
    shown = sections()
    shard_cmd, = page_commands(shown["Shards"])[:1]
    merge_cmd, verify_cmd = page_commands(shown["Merging"])
    env = _env(target, RUN_ID="page-run-1")
    for shard in (1, 2, 3):
        proc = _run(shard_cmd.replace("2/3", f"{shard}/3").replace("shard-2", f"shard-{shard}"),
                    project, env)
        assert proc.returncode == 0, (shard, proc.stdout[-3000:], proc.stderr[-2000:])
    console = next(b for b in blocks(shown["Shards"], "console") if "verify shard-2" in b)
    command, said = [line for line in console.splitlines() if line.strip()]
    proc = _run(command.removeprefix("$ "), project, env)
    assert proc.returncode == 3 and proc.stderr.strip() == said
    proc = _run(merge_cmd, project, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    proc = _run(verify_cmd, project, env)
    assert proc.returncode == 0 and proc.stdout.startswith("GO: "), proc.stdout + proc.stderr
