"""bandit through its API on real code, with a baseline made by the bandit CLI by relative path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_staging.gates.security.bandit_scan import (
    BanditError,
    load_baseline,
    run_bandit,
    subtract_baseline,
)

BAD_CODE = '''\
import subprocess


def run(cmd):
    return subprocess.run(cmd, shell=True)


def calc(expr):
    return eval(expr)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    src = tmp_path / "badapp"
    src.mkdir()
    (src / "app.py").write_text(BAD_CODE)
    (src / "clean.py").write_text("def add(a, b):\n    return a + b\n")
    (src / ".venv").mkdir()
    (src / ".venv" / "skipped.py").write_text("import os\nos.system('ls')\n")
    return tmp_path


def make_baseline(project: Path) -> Path:
    """A baseline the way a user makes one: bandit's CLI, relative path, from the project dir."""
    subprocess.run([sys.executable, "-m", "bandit", "-q", "-r", "badapp", "-f", "json",
                    "-o", "baseline.json", "-x", "badapp/.venv"],
                   cwd=project, check=False, capture_output=True, timeout=120)
    baseline = project / "baseline.json"
    names = {r["filename"] for r in json.loads(baseline.read_text())["results"]}
    assert names == {"badapp/app.py"}  # relative, as bandit writes it
    return baseline


def test_bandit_finds_the_known_bad_code(project: Path) -> None:
    result = run_bandit(project / "badapp", root=project)
    by_id = {f["test_id"]: f for f in result.findings}
    assert set(by_id) == {"B602", "B307"}
    shell = by_id["B602"]
    assert shell["file"] == "badapp/app.py" and shell["line"] == 5
    assert shell["cwe"] == "CWE-78" and shell["severity"] == "high"
    assert shell["level"] == "fail" and shell["rule"] == "B602" and shell["family"] == "bandit"
    assert "shell=True" in shell["text"]
    assert result.files == 2 and result.baselined == 0 and result.version


def test_thresholds(project: Path) -> None:
    high = run_bandit(project / "badapp", severity="high", confidence="high")
    assert {f["test_id"] for f in high.findings} == {"B602"}
    with pytest.raises(BanditError, match="severity 'severe'"):
        run_bandit(project / "badapp", severity="severe")


def test_relative_baseline_matches_absolute_scan_and_new_issue_is_found(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    baseline = make_baseline(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the gate runs from another directory, by absolute path
    source = (project / "badapp").resolve()
    result = run_bandit(source, baseline=baseline)
    assert result.findings == [] and result.baselined == 2

    # bandit's own CLI with the same baseline and the absolute path misses every match
    own = subprocess.run([sys.executable, "-m", "bandit", "-q", "-r", str(source), "-b",
                          str(baseline), "-f", "json", "-x", str(source / ".venv")],
                         capture_output=True, text=True, timeout=120)
    assert {"B602", "B307"} <= {r["test_id"] for r in json.loads(own.stdout)["results"]}

    app = source / "app.py"
    app.write_text(BAD_CODE + "\n\ndef again(cmd):\n    return subprocess.call(cmd, shell=True)\n")
    result = run_bandit(source, baseline=baseline)
    assert [(f["test_id"], f["line"]) for f in result.findings] == [("B602", 13)]
    assert result.baselined == 2


def test_duplicate_issue_in_same_file_is_counted() -> None:
    issue = {"file": "/a.py", "test_id": "B602", "severity": "high", "confidence": "high",
             "cwe": "CWE-78", "text": "shell"}
    baseline = [{**issue, "line": 5}]
    found = [{**issue, "line": 5}, {**issue, "line": 9}]
    new, covered = subtract_baseline(found, baseline)
    assert [f["line"] for f in new] == [9] and covered == 1
    # the old issue moved down two lines: still covered, and the leftover is a new one
    new, covered = subtract_baseline([{**issue, "line": 7}, {**issue, "line": 3}], baseline)
    assert len(new) == 1 and covered == 1


def test_bad_baseline_and_source_fail_with_one_line(project: Path) -> None:
    junk = project / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(BanditError, match="not a bandit JSON report"):
        load_baseline(junk, project)
    with pytest.raises(BanditError, match="not found"):
        run_bandit(project / "badapp", baseline=project / "missing.json")
    with pytest.raises(BanditError, match="does not exist"):
        run_bandit(project / "nowhere")
