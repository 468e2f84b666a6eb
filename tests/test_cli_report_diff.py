"""``pytest-staging report`` and ``pytest-staging diff``."""

from __future__ import annotations

import json
from pathlib import Path

from verdict_samples import go_verdict, nogo_verdict

from pytest_staging.cli import main
from pytest_staging.diff import diff_verdicts, has_changes, render_diff_markdown


def write(path: Path, verdict: dict) -> Path:
    path.write_text(json.dumps(verdict), encoding="utf-8")
    return path


def test_report_html_to_file(tmp_path: Path, capsys) -> None:
    write(tmp_path / "verdict.json", nogo_verdict())
    out = tmp_path / "out" / "v.html"
    assert main(["report", str(tmp_path), "--format", "html", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "NO-GO" in page
    assert capsys.readouterr().out == ""
    assert not [p for p in out.parent.iterdir() if p.name != "v.html"]  # no temp file left


def test_report_md_to_stdout(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "v.json", nogo_verdict())
    assert main(["report", str(path), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "NO-GO" in out and "test_checkout" in out


def test_report_unreadable_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "v.json").write_text('{"verdict": "GO", ')
    assert main(["report", str(tmp_path / "v.json"), "--format", "html"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "malformed or truncated" in err[0]


def test_report_requires_a_format(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2


def test_diff_go_to_nogo() -> None:
    d = diff_verdicts(go_verdict(), nogo_verdict())
    assert d["verdict"] == {"old": "GO", "new": "NO-GO", "changed": True}
    assert [t["nodeid"] for t in d["newly_failing"]] == ["tests/test_api.py::test_checkout"]
    assert d["fixed"] == []
    assert [f["rule"] for f in d["new_findings"]] == ["B105"]
    assert d["resolved_findings"] == []
    p95 = next(m for m in d["metric_changes"] if m["metric"] == "performance.p95_ms")
    assert p95["old"] == 180.0 and p95["new"] == 812.0 and p95["delta"] == 632.0
    assert p95["percent"] == 351.1
    assert {"gate": "performance", "old": "passed", "new": "failed"} in d["gates"]


def test_diff_nogo_to_go_lists_fixed_and_resolved() -> None:
    d = diff_verdicts(nogo_verdict(), go_verdict())
    assert d["newly_failing"] == []
    assert d["removed_tests"] == ["tests/test_api.py::test_checkout"]
    assert [f["rule"] for f in d["resolved_findings"]] == ["B105"]
    v_old = nogo_verdict()
    v_new = nogo_verdict()
    v_new["tests"][-1]["outcome"] = "passed"
    d = diff_verdicts(v_old, v_new)
    assert [t["nodeid"] for t in d["fixed"]] == ["tests/test_api.py::test_checkout"]


def test_diff_identical_has_no_changes() -> None:
    d = diff_verdicts(go_verdict(), go_verdict())
    assert not has_changes(d)
    assert "No changes." in render_diff_markdown(d)


def test_diff_version_and_newly_flaky() -> None:
    old, new = go_verdict(version="1.0.0"), go_verdict(version="1.1.0")
    old["tests"][1]["flaky"] = False
    d = diff_verdicts(old, new)
    assert d["version"] == {"old": "1.0.0", "new": "1.1.0"}
    assert d["newly_flaky"] == [{"nodeid": "tests/test_api.py::test_search",
                                 "gate": "integration"}]
    md = render_diff_markdown(d)
    assert "**Version:** 1.0.0 -> 1.1.0" in md and "Newly flaky tests (1)" in md


def test_diff_cli_md_and_json(tmp_path: Path, capsys) -> None:
    old = write(tmp_path / "old.json", go_verdict())
    new = write(tmp_path / "new.json", nogo_verdict())
    assert main(["diff", str(old), str(new)]) == 0
    md = capsys.readouterr().out
    assert "**Verdict:** GO -> NO-GO" in md
    assert "| `performance.p95_ms` | 180 | 812 | +632 (+351.1%) |" in md
    assert main(["diff", str(old), str(new), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"]["changed"] is True


def test_diff_markdown_escapes_markup() -> None:
    old, new = go_verdict(), go_verdict()
    new["tests"].append({"nodeid": "t.py::test_<b>|x", "gate": "integration",
                         "outcome": "failed", "duration": 0, "blocking": True, "flaky": False})
    md = render_diff_markdown(diff_verdicts(old, new))
    assert "t.py::test_&lt;b&gt;\\|x" in md and "<b>" not in md


def test_diff_missing_file_is_one_line(tmp_path: Path, capsys) -> None:
    new = write(tmp_path / "new.json", go_verdict())
    assert main(["diff", str(tmp_path / "nope.json"), str(new)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no verdict at" in err[0]
