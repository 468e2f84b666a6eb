"""Provenance: CI detection, git commit, policy and suite digests (pure functions)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_staging.policy import load_policy
from pytest_staging.provenance import (
    collect,
    current_run_id,
    detect_ci,
    files_of_nodeids,
    git_commit,
    policy_digest,
    suite_digest,
    suite_files,
)

CI_ENVIRONS = {
    "github-actions": ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "4242",
                        "GITHUB_RUN_ATTEMPT": "2", "GITHUB_REPOSITORY": "acme/shop",
                        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_SHA": "ab" * 20},
                       "4242", "https://github.com/acme/shop/actions/runs/4242/attempts/2"),
    "gitlab-ci": ({"GITLAB_CI": "true", "CI_PIPELINE_ID": "777", "CI_JOB_ID": "9",
                   "CI_JOB_URL": "https://gitlab.example/acme/shop/-/jobs/9"},
                  "777", "https://gitlab.example/acme/shop/-/jobs/9"),
    "jenkins": ({"JENKINS_URL": "https://ci.example/", "BUILD_TAG": "jenkins-shop-12",
                 "BUILD_URL": "https://ci.example/job/shop/12/"},
                "jenkins-shop-12", "https://ci.example/job/shop/12/"),
    "circleci": ({"CIRCLECI": "true", "CIRCLE_WORKFLOW_ID": "wf-1",
                  "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop/5"},
                 "wf-1", "https://circleci.com/gh/acme/shop/5"),
    "buildkite": ({"BUILDKITE": "true", "BUILDKITE_BUILD_ID": "bk-9",
                   "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop/builds/9"},
                  "bk-9", "https://buildkite.com/acme/shop/builds/9"),
}


@pytest.mark.parametrize("system", list(CI_ENVIRONS))
def test_detect_ci(system: str) -> None:
    environ, run_id, url = CI_ENVIRONS[system]
    ci = detect_ci(environ)
    assert (ci["system"], ci["run_id"], ci["url"]) == (system, run_id, url)
    assert current_run_id(environ) == run_id


def test_no_ci_and_look_alikes() -> None:
    assert detect_ci({}) == {"system": None, "run_id": None, "url": None}
    # "false" or an empty marker is not CI
    assert detect_ci({"GITHUB_ACTIONS": "false", "GITLAB_CI": "", "CIRCLECI": "0"})[
        "system"] is None
    assert current_run_id({}) is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_commit(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None  # not a checkout
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, env=env)
    assert git_commit(tmp_path) is None  # no commit yet
    (tmp_path / "a.txt").write_text("a")
    subprocess.run(["git", "add", "a.txt"], cwd=tmp_path, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "a"], cwd=tmp_path, check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, env=env,
                          capture_output=True, text=True).stdout.strip()
    assert git_commit(tmp_path) == head and len(head) == 40
    assert git_commit(tmp_path / "missing-dir") is None


def test_policy_digest_is_canonical_and_sensitive(tmp_path: Path) -> None:
    policy = load_policy(None, tmp_path)
    a = policy_digest(policy.values, policy.gates)
    reordered = dict(reversed(list(policy.values.items())))
    assert policy_digest(reordered, policy.gates) == a
    weaker = policy.with_overrides({"target.wait": 1.0})
    assert policy_digest(weaker.values, weaker.gates) != a
    (tmp_path / "p.toml").write_text("[gates.integration]\nblocking = false\n")
    edited = load_policy(tmp_path / "p.toml", tmp_path)
    assert policy_digest(edited.values, edited.gates) != a
    assert len(a) == 64 and int(a, 16) >= 0


def test_suite_files_take_conftests_up_to_rootdir(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("# root\n")
    sub = tmp_path / "tests" / "api"
    sub.mkdir(parents=True)
    (tmp_path / "tests" / "conftest.py").write_text("# tests\n")
    (sub / "test_a.py").write_text("def test_a(): pass\n")
    (sub / "test_b.py").write_text("def test_b(): pass\n")
    files = suite_files([Path("tests/api/test_b.py"), sub / "test_a.py",
                         Path("staging-security")], tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in files]
    assert rel == ["conftest.py", "tests/api/test_a.py", "tests/api/test_b.py",
                   "tests/conftest.py"]


def test_suite_digest_changes_with_one_byte_or_a_rename(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text("def test_a(): assert 1\n")
    (tmp_path / "test_b.py").write_text("def test_b(): assert 1\n")
    files = [tmp_path / "test_a.py", tmp_path / "test_b.py"]
    digest, count = suite_digest(files, tmp_path)
    assert count == 2
    assert suite_digest(list(reversed(files)), tmp_path)[0] == digest  # order-independent
    (tmp_path / "test_b.py").write_text("def test_b(): assert 0\n")
    assert suite_digest(files, tmp_path)[0] != digest
    (tmp_path / "test_b.py").write_text("def test_b(): assert 1\n")
    assert suite_digest(files, tmp_path)[0] == digest
    (tmp_path / "test_b.py").rename(tmp_path / "test_c.py")
    assert suite_digest([tmp_path / "test_a.py", tmp_path / "test_c.py"], tmp_path)[0] \
        != digest


def test_files_of_nodeids() -> None:
    assert files_of_nodeids(["a/test_x.py::test_1", "a/test_x.py::C::test_2[p::q]",
                             "b.py::t"]) == [Path("a/test_x.py"), Path("b.py")]


def test_collect_subject_precedence_and_run_id_override(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text("def test_a(): pass\n")
    policy = load_policy(None, tmp_path)
    common = {"environ": CI_ENVIRONS["gitlab-ci"][0], "rootdir": tmp_path,
              "test_files": [Path("test_a.py")], "policy_values": policy.values,
              "policy_gates": policy.gates, "policy_source": policy.source,
              "versions": {"pytest": "x"}, "url": "http://127.0.0.1:1/"}
    prov = collect(subject=None, observed_version="2.0.0", **common)
    assert (prov["subject"], prov["subject_source"]) == ("2.0.0", "observed version")
    assert prov["ci"]["run_id"] == "777" and prov["suite_files"] == 1
    prov = collect(subject="img@sha256:" + "0" * 64, observed_version="2.0.0",
                   run_id="override-1", **common)
    assert prov["subject"] == "img@sha256:" + "0" * 64
    assert prov["ci"]["run_id"] == "override-1"
    assert prov["ci"]["run_id_source"] == "--staging-run-id"
    prov = collect(subject=None, observed_version=None, **common)
    assert (prov["subject"], prov["subject_source"]) == ("http://127.0.0.1:1/", "target url")
