"""Quarantine before and after expiry, in whole runs (serial and -n 2), every report naming the
owner and the expiry, and ``verify`` re-deriving the same verdict from the file; a store that
cannot be used leaves the verdict as it would be without one, with a warning."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_staging.history import store as store_mod
from pytest_staging.history.glue import HistoryRun

SUITE = """
def test_ok(staging):
    assert staging.get("/").status_code == 200

def test_broken(staging):
    assert staging.get("/").status_code == 500, "the coupon service races"
"""
KEY = "k" * 32


def policy(expires: dt.date, extra: str = "") -> str:
    return f"""
[gates.security]
min_tests = 0
[gates.performance]
min_tests = 0
[[flaky.quarantine]]
test = "test_q.py::test_broken"
owner = "alice"
expires = {expires.isoformat()}
reason = "JIRA-12 coupon race"

[[flaky.quarantine]]
test = "test_q.py::test_renamed_long_ago"
owner = "bob"
expires = 2099-01-01
{extra}
"""


def verify(report_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_staging.cli", "verify", str(report_dir),
         "--require-gate", "integration"],
        capture_output=True, text=True, timeout=60, env={**_env(), "STAGING_VERDICT_KEY": KEY})


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_quarantined_failure_does_not_block_until_it_expires(
        pytester: pytest.Pytester, run_staging: Any, server: Any, mode: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGING_VERDICT_KEY", KEY)
    pytester.makepyfile(test_q=SUITE)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    pytester.makefile(".toml", policy=policy(tomorrow))
    run = run_staging("--staging-policy=policy.toml", *mode, url=server.url)
    v = run.verdict
    assert run.ret == 0 and v["verdict"] == "GO", v["reasons"]
    gate = v["gates"]["integration"]
    assert gate["status"] == "advisory" and gate["ran"] == 1  # only test_ok is evidence
    assert [(f["nodeid"], f["blocking"], f["quarantined"]) for f in gate["failures"]] == [
        ("test_q.py::test_broken", False, {"owner": "alice", "expires": tomorrow.isoformat()})]
    entries = {e["test"]: e for e in v["quarantine"]}
    assert entries["test_q.py::test_broken"]["outcome"] == "failed"
    assert entries["test_q.py::test_broken"]["expired"] is False
    assert entries["test_q.py::test_renamed_long_ago"]["outcome"] == "not run"
    assert any("quarantined, would have blocked: test_q.py::test_broken failed" in w
               and "owner alice" in w for w in v["warnings"]), v["warnings"]
    assert any("test_q.py::test_renamed_long_ago (owner bob) matches no test" in w
               for w in v["warnings"])
    quarantined = [t for t in v["tests"] if t.get("quarantined")]
    assert [t["nodeid"] for t in quarantined] == ["test_q.py::test_broken"]
    line = f"quarantined test_q.py::test_broken: failed (owner alice, until {tomorrow})"
    assert line in run.output
    md = (run.report_dir / "verdict.md").read_text().replace("\u200b", "")
    assert "### Quarantined tests" in md
    assert f"quarantined test_q.py::test_broken: failed (owner alice, until {tomorrow})" in md
    html = (run.report_dir / "verdict.html").read_text()
    assert 'id="quarantine"' in html and "alice" in html and tomorrow.isoformat() in html
    checked = verify(run.report_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The day after it expires, the same failure blocks again.
    yesterday = dt.date.today() - dt.timedelta(days=1)
    pytester.makefile(".toml", policy=policy(yesterday))
    run = run_staging("--staging-policy=policy.toml", *mode, url=server.url)
    v = run.verdict
    assert run.ret != 0 and v["verdict"] == "NO-GO"
    assert any(r.startswith("integration: test_q.py::test_broken failed")
               and f"quarantine expired {yesterday}, owner alice" in r for r in v["reasons"]), \
        v["reasons"]
    assert v["gates"]["integration"]["status"] == "failed"
    assert not any(t.get("quarantined") for t in v["tests"])
    assert f"quarantined test_q.py::test_broken: failed (owner alice, expired {yesterday}" \
        in run.output
    checked = verify(run.report_dir)
    assert checked.returncode != 0 and "NO-GO" in checked.stdout + checked.stderr


def test_a_quarantined_pass_is_no_evidence_for_min_tests(pytester: pytest.Pytester,
                                                         run_staging: Any, server: Any) -> None:
    pytester.makepyfile(test_q="""
        import pytest

        @pytest.mark.smoke
        def test_broken(staging):
            assert staging.get("/").status_code == 200  # passes today
    """)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    pytester.makefile(".toml", policy=policy(tomorrow, "[gates.smoke]\n").replace(
        "[gates.security]", "default_gate = \"smoke\"\n[gates.integration]\nmin_tests = 0\n"
                            "[gates.security]"))
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    v = run.verdict
    assert v["verdict"] == "NO-GO"
    assert any("smoke: gate ran 0 test(s), needs at least 1" in r
               and "its 1 quarantined test(s) do not count" in r for r in v["reasons"]), \
        v["reasons"]


def test_quarantine_entries_are_validated(pytester: pytest.Pytester, run_staging: Any,
                                          server: Any) -> None:
    pytester.makepyfile(test_q=SUITE)
    pytester.makefile(".toml", policy='[flaky]\nquarantine = [{test = "test_q.py::test_broken",'
                                      ' owner = "alice"}]\n')
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret == 4
    assert run.verdict["reasons"] == [
        "usage error: policy.toml: flaky.quarantine: entry 1: expires is "
        "required (a quarantine needs a test, an owner and an expiry), got "
        "[{'test': 'test_q.py::test_broken', 'owner': 'alice'}]"]


GOOD = """
def test_ok(staging):
    assert staging.get("/").status_code == 200
"""
PLAIN = "[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"


def _garbage(path: Path) -> Path:
    path.write_bytes(b"\x00not sqlite\xff" * 500)
    return path


def _unwritable(path: Path) -> Path:
    blocker = path.parent / "a-file"
    blocker.write_text("not a folder")
    return blocker / "history.db"  # its folder cannot exist, whoever runs the test


@pytest.mark.parametrize("breaks", ["garbage", "locked", "unwritable"])
def test_a_store_that_cannot_be_used_never_changes_the_verdict(
        pytester: pytest.Pytester, run_staging: Any, server: Any, breaks: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_g=GOOD)
    pytester.makefile(".toml", policy=PLAIN)
    without = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    assert without.ret == 0 and without.verdict["verdict"] == "GO"
    path = pytester.path / "history.db"
    holder = None
    if breaks == "garbage":
        _garbage(path)
    elif breaks == "unwritable":
        path = _unwritable(path)
    else:
        monkeypatch.setattr(store_mod, "BUSY_TIMEOUT", 0.3)  # the run is in this process
        with store_mod.open_store(path, write=True):
            pass
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    try:
        run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                          f"--staging-history={path}", "--staging-fail-on=warn", url=server.url)
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
    v = run.verdict
    assert run.ret == 0 and v["verdict"] == "GO", v["reasons"]  # even with --staging-fail-on=warn
    expected = {"garbage": "is not a SQLite database", "locked": "is locked by another process",
                "unwritable": "cannot be opened"}[breaks]
    assert [w for w in v["warnings"] if w.startswith("history:")] == [
        w for w in v["warnings"] if expected in w and str(path) in w
        and "this run is not recorded and its verdict does not depend on it" in w]
    assert len(v["warnings"]) == 1
    for name in ("verdict.json", "verdict.md", "verdict.html"):
        assert (run.report_dir / name).is_file()
    if breaks == "garbage":
        assert path.read_bytes().startswith(b"\x00not sqlite")  # left as it was


def test_a_broken_store_the_verdict_depends_on_fails_closed(pytester: pytest.Pytester,
                                                            run_staging: Any,
                                                            server: Any) -> None:
    pytester.makepyfile(test_l="""
        def test_load(staging_load):
            staging_load(users=1, spawn_rate=1, run_time=1, wait=0.05, profile=["/"])
    """)
    pytester.makefile(".toml", policy="[gates.security]\nmin_tests = 0\n[gates.integration]\n"
                                      "min_tests = 0\n[performance]\n"
                                      "max_regression = [\"p95 +50%\"]\n")
    path = _garbage(pytester.path / "history.db")
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                      f"--staging-history={path}", "--staging-perf-baseline=last-go",
                      url=server.url)
    v = run.verdict
    assert run.ret != 0 and v["verdict"] == "NO-GO"
    assert [r for r in v["reasons"] if "baseline" in r] == [
        f"performance: test_l.py::test_load: baseline: performance baseline last-go: history "
        f"store {path} is not a SQLite database (a corrupt or foreign file)"]


def test_last_go_needs_a_store(pytester: pytest.Pytester, run_staging: Any, server: Any) -> None:
    pytester.makepyfile(test_g=GOOD)
    run = run_staging("--staging-perf-baseline=last-go", "-p", "no:xdist", url=server.url)
    assert run.ret == 4
    assert "--staging-perf-baseline=last-go needs a history store" in run.verdict["reasons"][0]


def test_a_store_that_breaks_after_the_verdict_is_a_terminal_line(tmp_path: Path) -> None:
    run = HistoryRun(path=tmp_path / "h.db", target="http://127.0.0.1:9/", window=10)
    assert "problems" not in run.facts([], None)
    run.path = _unwritable(tmp_path / "x")  # gone between the verdict and the append
    run.record({"run": {"id": "r1"}, "verdict": "GO"})
    assert len(run.late) == 1 and "this run was not recorded (its verdict stands)" in run.late[0]


def test_the_documented_policy_loads() -> None:
    from pytest_staging.policy import load_policy

    docs = Path(__file__).resolve().parents[1] / "docs" / "examples" / "history-policy.toml"
    policy = load_policy(docs)
    assert policy["history.path"] == "staging-history/runs.db"
    assert [e["owner"] for e in policy["flaky.quarantine"]] == ["alice"]


def _facts(tests: list[Any], quarantine: list[dict[str, Any]], min_tests: int = 1,
           checks: list[dict[str, Any]] | None = None) -> Any:
    from pytest_staging.verdict import GateSpec, RunFacts, TargetFacts

    return RunFacts(complete=True, target=TargetFacts(url="http://x/", ready=True),
                    gates=[GateSpec("integration", min_tests=min_tests)], tests=tests,
                    gate_data={"integration": {"checks": checks or []}},
                    quarantine=quarantine)


def test_decide_with_quarantine_entries() -> None:
    from pytest_staging.quarantine import quarantine_facts
    from pytest_staging.verdict import TestRecord, decide

    today = dt.date(2026, 6, 1)
    entries = quarantine_facts([
        {"test": "t.py::test_x", "owner": "alice", "expires": dt.date(2026, 6, 1)},  # today
        {"test": "t.py::test_old", "owner": "bob", "expires": "2026-05-31"}], today)
    assert [e["expired"] for e in entries] == [False, True]  # blocks from the day after
    ok = TestRecord("t.py::test_ok", "integration", outcome="passed")
    # a parametrization is covered by its test's entry; its failing check is excused too
    param = TestRecord("t.py::test_x[1]", "integration", outcome="failed", message="boom")
    check = {"name": "t.py::test_x[1]: p95 < 1s", "passed": False, "blocking": True,
             "detail": "p95 = 2 s", "nodeid": "t.py::test_x[1]"}
    v = decide(_facts([ok, param], entries, checks=[check]))
    assert v["verdict"] == "GO", v["reasons"]
    assert v["gates"]["integration"]["status"] == "advisory"
    assert v["gates"]["integration"]["ran"] == 1
    assert [t.get("quarantined") for t in v["tests"]] == [None, True]
    # only quarantined tests ran: no evidence, even with min_tests = 0
    v = decide(_facts([param], entries, min_tests=0))
    assert v["verdict"] == "NO-GO" and "no test ran" in v["reasons"]
    # an expired entry blocks, and says since when and whose it was
    old = TestRecord("t.py::test_old", "integration", outcome="error", message="gone")
    v = decide(_facts([ok, old], entries))
    assert v["reasons"] == ["integration: t.py::test_old errored: gone (quarantine expired "
                            "2026-05-31, owner bob)"]
    # an entry without a judged expiry (a hand-edited verdict) is no quarantine
    v = decide(_facts([ok, param], [{"test": "t.py::test_x", "owner": "alice"}]))
    assert v["verdict"] == "NO-GO"
