"""Provenance of a verdict: who tested what, where, with which suite and policy.

Pure functions over plain data (an environ mapping, paths, a policy), so each is testable
without a pytest run. ``collect()`` assembles the ``provenance`` object of ``verdict.json``:

- ``ci``: the CI system, run id and run URL read from the standard variables of GitHub
  Actions, GitLab CI, Jenkins, CircleCI and Buildkite (``--staging-run-id`` overrides the id);
- ``commit``: ``git rev-parse HEAD`` of the suite's checkout (None outside git);
- ``host``, ``versions``;
- ``policy_digest``: sha256 of the canonical JSON of the effective policy (file values with
  command-line overrides applied, and the gate table);
- ``suite_digest``: sha256 over the collected test files and the conftests above them,
  path-sorted, each as its rootdir-relative path and its content;
- ``subject``: what was tested (``--staging-subject``, else the observed version, else the URL).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_staging.canonical import canonical_json

ENV_SUBJECT = "STAGING_SUBJECT"
ENV_RUN_ID = "STAGING_RUN_ID"
#: How long ``git rev-parse`` may take before the commit is recorded as unknown.
GIT_TIMEOUT = 5.0


def _ci_github(env: Mapping[str, str]) -> dict[str, Any] | None:
    if env.get("GITHUB_ACTIONS") != "true":
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo, run = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    attempt = env.get("GITHUB_RUN_ATTEMPT", "")
    url = f"{server}/{repo}/actions/runs/{run}" if repo and run else None
    if url and attempt:
        url += f"/attempts/{attempt}"
    return {"system": "github-actions", "run_id": run or None, "run_attempt": attempt or None,
            "url": url, "commit": env.get("GITHUB_SHA") or None,
            "ref": env.get("GITHUB_REF") or None, "job": env.get("GITHUB_JOB") or None}


def _ci_gitlab(env: Mapping[str, str]) -> dict[str, Any] | None:
    if env.get("GITLAB_CI") != "true":
        return None
    return {"system": "gitlab-ci", "run_id": env.get("CI_PIPELINE_ID") or None,
            "job_id": env.get("CI_JOB_ID") or None,
            "url": env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL") or None,
            "commit": env.get("CI_COMMIT_SHA") or None,
            "ref": env.get("CI_COMMIT_REF_NAME") or None, "job": env.get("CI_JOB_NAME") or None}


def _ci_jenkins(env: Mapping[str, str]) -> dict[str, Any] | None:
    if not env.get("JENKINS_URL"):
        return None
    tag = env.get("BUILD_TAG") or (
        f"{env['JOB_NAME']}-{env['BUILD_NUMBER']}" if env.get("JOB_NAME")
        and env.get("BUILD_NUMBER") else "")
    return {"system": "jenkins", "run_id": tag or None, "url": env.get("BUILD_URL") or None,
            "commit": env.get("GIT_COMMIT") or None, "ref": env.get("GIT_BRANCH") or None,
            "job": env.get("JOB_NAME") or None}


def _ci_circleci(env: Mapping[str, str]) -> dict[str, Any] | None:
    if env.get("CIRCLECI") != "true":
        return None
    return {"system": "circleci",
            "run_id": env.get("CIRCLE_WORKFLOW_ID") or env.get("CIRCLE_BUILD_NUM") or None,
            "url": env.get("CIRCLE_BUILD_URL") or None, "commit": env.get("CIRCLE_SHA1") or None,
            "ref": env.get("CIRCLE_BRANCH") or None, "job": env.get("CIRCLE_JOB") or None}


def _ci_buildkite(env: Mapping[str, str]) -> dict[str, Any] | None:
    if env.get("BUILDKITE") != "true":
        return None
    return {"system": "buildkite", "run_id": env.get("BUILDKITE_BUILD_ID") or None,
            "url": env.get("BUILDKITE_BUILD_URL") or None,
            "commit": env.get("BUILDKITE_COMMIT") or None,
            "ref": env.get("BUILDKITE_BRANCH") or None, "job": env.get("BUILDKITE_LABEL") or None}


_DETECTORS = (_ci_github, _ci_gitlab, _ci_jenkins, _ci_circleci, _ci_buildkite)


def detect_ci(environ: Mapping[str, str]) -> dict[str, Any]:
    """The CI system this process runs in, from its standard variables.

    ``{"system": None, "run_id": None, "url": None}`` outside a known CI system.
    """
    for detector in _DETECTORS:
        found = detector(environ)
        if found is not None:
            return {k: v for k, v in found.items() if v is not None or k in
                    ("system", "run_id", "url")}
    return {"system": None, "run_id": None, "url": None}


def current_run_id(environ: Mapping[str, str]) -> str | None:
    """The CI run id of the current process (what ``verify`` binds to by default)."""
    return detect_ci(environ).get("run_id")


def git_commit(directory: str | os.PathLike[str], timeout: float = GIT_TIMEOUT) -> str | None:
    """``git rev-parse HEAD`` in ``directory``; None outside a git checkout or without git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=os.fspath(directory),
            capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    commit = done.stdout.strip()
    if done.returncode != 0 or not commit or not all(c in "0123456789abcdef" for c in commit):
        return None
    return commit


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def policy_digest(values: Mapping[str, Any], gates: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the effective policy: every key's value (defaults
    included, so a changed default is a changed policy) and the gate table."""
    return sha256_hex(canonical_json({"values": dict(values), "gates": dict(gates)}))


def suite_files(test_files: Iterable[Path], rootdir: Path) -> list[Path]:
    """The collected test files plus every ``conftest.py`` from their folder up to the rootdir,
    as absolute paths, deduplicated and sorted by rootdir-relative path."""
    root = rootdir.resolve()
    found: set[Path] = set()
    for path in test_files:
        p = path if path.is_absolute() else root / path
        try:
            p = p.resolve()
        except OSError:
            continue
        if not p.is_file():
            continue
        found.add(p)
        folder = p.parent
        while True:
            conftest = folder / "conftest.py"
            if conftest.is_file():
                found.add(conftest)
            if folder == root or root not in folder.parents:
                break
            folder = folder.parent
    return sorted(found, key=lambda p: _relative(p, root))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.path.relpath(path, root).replace(os.sep, "/")


def suite_digest(files: Iterable[Path], rootdir: Path) -> tuple[str, int]:
    """sha256 over ``files`` (path-sorted): for each, its rootdir-relative path, a NUL, its
    length, a NUL and its bytes, so no two different suites share a stream. Returns the digest
    and the number of files; an unreadable file counts with its path and the marker
    ``<unreadable>``."""
    root = rootdir.resolve()
    digest = hashlib.sha256()
    count = 0
    for path in sorted(files, key=lambda p: _relative(p, root)):
        rel = _relative(path, root).encode("utf-8", "surrogateescape")
        try:
            content = path.read_bytes()
        except OSError:
            content = b"<unreadable>"
        digest.update(rel + b"\0" + str(len(content)).encode() + b"\0" + content)
        count += 1
    return digest.hexdigest(), count


def files_of_nodeids(nodeids: Iterable[str]) -> list[Path]:
    """The file part of each node id (``tests/test_a.py::test_x`` -> ``tests/test_a.py``)."""
    # Deduplicated as strings first: thousands of node ids name a few dozen files.
    return sorted(Path(f) for f in {n.partition("::")[0] for n in nodeids} if f)


def default_subject(observed: str | None, url: str) -> tuple[str, str]:
    """``(subject, source)`` when ``--staging-subject`` was not given."""
    if observed:
        return observed, "observed version"
    return url, "target url"


def host_name() -> str:
    try:
        return socket.gethostname()
    except OSError:
        return ""


def collect(
    *,
    environ: Mapping[str, str],
    rootdir: Path,
    test_files: Iterable[Path],
    policy_values: Mapping[str, Any],
    policy_gates: Mapping[str, Any],
    policy_source: str,
    versions: Mapping[str, str | None],
    subject: str | None,
    observed_version: str | None,
    url: str,
    run_id: str | None = None,
) -> dict[str, Any]:
    """The ``provenance`` object of ``verdict.json``."""
    ci = detect_ci(environ)
    if run_id is not None:
        ci = {**ci, "run_id": run_id, "run_id_source": "--staging-run-id"}
    if subject is not None:
        subject_value, subject_source = subject, "--staging-subject"
    else:
        subject_value, subject_source = default_subject(observed_version, url)
    files = suite_files(test_files, rootdir)
    digest, count = suite_digest(files, rootdir)
    # The suite's checkout: where its files are (pytest's rootdir can be an ancestor of it when
    # an option's value is a path outside, e.g. --staging-signing-key /secrets/key).
    where = Path(os.path.commonpath([str(p.parent) for p in files])) if files else rootdir
    return {
        "subject": subject_value,
        "subject_source": subject_source,
        "commit": git_commit(where),
        "ci": ci,
        "host": host_name(),
        "versions": dict(versions),
        "policy_source": policy_source,
        "policy_digest": policy_digest(policy_values, policy_gates),
        "suite_digest": digest,
        "suite_files": count,
    }
