"""Where the history store comes from: one precedence rule (command line > env > ini > policy,
a path from the policy relative to the policy file), shown by --staging-show-settings; an
empty value is a usage error, never "no history"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

GOOD = "def test_ok(staging):\n    assert staging.get('/').status_code == 200\n"
POLICY = ("[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"
          '[history]\npath = "from-policy/runs.db"\n')


def test_the_policy_path_is_relative_to_the_policy_file_and_env_beats_it(
        pytester: pytest.Pytester, run_staging: Any, server: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_g=GOOD)
    (pytester.path / "conf").mkdir()
    (pytester.path / "conf" / "policy.toml").write_text(POLICY)
    run = run_staging("--staging-policy=conf/policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret == 0, run.verdict["reasons"]
    assert (pytester.path / "conf" / "from-policy" / "runs.db").is_file()
    env_store = pytester.path / "from-env.db"
    monkeypatch.setenv("STAGING_HISTORY", str(env_store))
    run = run_staging("--staging-policy=conf/policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret == 0 and env_store.is_file()
    shown = pytester.runpytest_subprocess("--staging-show-settings", f"--staging-url={server.url}",
                                          "--staging-policy=conf/policy.toml")
    row = next(line for line in shown.outlines if line.startswith("history.path"))
    assert row.split()[1:] == [str(env_store), "env", "STAGING_HISTORY"]
    monkeypatch.setenv("STAGING_HISTORY", "")
    run = run_staging("--staging-policy=conf/policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret == 4 and "STAGING_HISTORY" in run.verdict["reasons"][0]


def test_ini_path_is_relative_to_the_ini_file(pytester: pytest.Pytester, run_staging: Any,
                                              server: Any, tmp_path: Path) -> None:
    pytester.makepyfile(test_g=GOOD)
    pytester.makeini("[pytest]\nstaging_history = state/runs.db\n")
    pytester.makefile(".toml", policy=POLICY)
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret == 0, run.verdict["reasons"]
    assert (pytester.path / "state" / "runs.db").is_file()
    assert not (pytester.path / "from-policy").exists()  # the ini beat the policy
