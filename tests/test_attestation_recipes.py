"""The public-key CI recipes (docs/examples/*-attested.yml) really run: the acceptance command
signs an attestation against a loopback server inside a git checkout with CI variables set,
then the recipe's verify command accepts it, and refuses it from another run or commit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import HARDENED_HEADERS, LoopbackServer, json_answer
from test_ci_examples import ACCEPTANCE, EXAMPLES, ours, until_selection_recorded

from pytest_staging.attestation import secret_forms
from pytest_staging.cli import build_parser, main

TOKEN = "attested-recipe-token-0042"
RECIPES = {
    "github-actions-attested.yml": (".github/staging-signing.pub", {
        "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "81818", "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SERVER_URL": "https://github.com"}, "GITHUB_RUN_ID", "GITHUB_SHA"),
    "gitlab-ci-attested.yml": ("ci/staging-signing.pub", {
        "GITLAB_CI": "true", "CI_PIPELINE_ID": "5150",
        "CI_JOB_URL": "https://gitlab.example/acme/shop/-/jobs/1"}, "CI_PIPELINE_ID",
        "CI_COMMIT_SHA"),
}
CI_VARS = ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CIRCLECI", "BUILDKITE",
           "STAGING_VERDICT_KEY", "STAGING_SIGNING_KEY", "STAGING_URL", "PYTEST_ADDOPTS")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
yaml = pytest.importorskip("yaml")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
        check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(pytester: pytest.Pytester) -> str:
    (pytester.path / "tests" / "acceptance").mkdir(parents=True)
    (pytester.path / "tests" / "acceptance" / "test_smoke.py").write_text(ACCEPTANCE)
    git(pytester.path, "init", "-q")
    git(pytester.path, "add", "tests")
    git(pytester.path, "commit", "-qm", "acceptance suite")
    return git(pytester.path, "rev-parse", "HEAD")


@pytest.fixture
def server(checkout: str) -> Iterator[LoopbackServer]:
    srv = LoopbackServer(version=checkout, always_headers=HARDENED_HEADERS)
    srv.routes["/whoami"] = lambda req: json_answer(
        {"authorization": req.headers.get("Authorization", "")})
    srv.start()
    yield srv
    srv.stop()


@pytest.mark.parametrize("name", list(RECIPES))
def test_attested_recipe_runs_and_binds(name: str, pytester: pytest.Pytester, checkout: str,
                                        server: LoopbackServer, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path_factory: pytest.TempPathFactory,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    for var in CI_VARS:
        monkeypatch.delenv(var, raising=False)
    public_at, ci_env, run_var, sha_var = RECIPES[name]
    keys = tmp_path_factory.mktemp("keys")
    assert main(["keygen", "--out", str(keys)]) == 0
    capsys.readouterr()
    (pytester.path / public_at).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(keys / "staging-signing.pub", pytester.path / public_at)
    private_pem = (keys / "staging-signing.key").read_bytes()
    env = {
        **os.environ, **ci_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "STAGING_URL": server.url, "STAGING_TOKEN": TOKEN,
        "STAGING_SIGNING_KEY": private_pem.decode(), "VERSION": checkout, sha_var: checkout,
    }
    cmds = ours(EXAMPLES / name)
    assert [c.split()[0] for c in cmds] == ["python", "pytest-staging"], cmds
    for cmd in cmds:
        if cmd.startswith("pytest-staging "):
            build_parser().parse_args(__import__("shlex").split(cmd)[1:])

    def sh(cmd: str, **extra: str) -> subprocess.CompletedProcess[str]:
        cmd = until_selection_recorded(cmd, pytester.path / "staging-report")
        return subprocess.run(["bash", "-ec", cmd], cwd=pytester.path, env={**env, **extra},
                              capture_output=True, text=True, timeout=240)

    acceptance, verify = cmds
    proc = sh(acceptance)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-2000:])
    report = pytester.path / "staging-report"
    assert (report / "verdict.intoto.json").is_file()
    proc = sh(verify)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert "FAIL" not in proc.stdout and "ok   run-id: CI run" in proc.stdout

    # the same artifact in another pipeline run, or for another commit: refused in one line
    proc = sh(verify, **{run_var: "999"})
    assert proc.returncode == 3  # refused: not about this pipeline run, could not judge
    assert proc.stderr.strip().splitlines() == [
        f"pytest-staging verify: run-id: expected CI run 999 (the current CI run), the verdict "
        f"comes from run {ci_env[run_var]}"]
    proc = sh(verify, **{sha_var: "f" * 40})
    assert proc.returncode == 3 and proc.stderr.startswith("pytest-staging verify: commit: ")
    # a GO from another staging (here: another port) is not this environment's
    proc = sh(verify, STAGING_URL=server.url.replace(f":{server.port}/",
                                                     f":{server.port + 1}/"))
    assert proc.returncode == 3 and proc.stderr.startswith("pytest-staging verify: target: ")

    outputs = [p.read_text(encoding="utf-8", errors="replace") for p in report.iterdir()]
    for text in outputs:
        assert TOKEN not in text
        for form in secret_forms(private_pem):
            assert form not in text
