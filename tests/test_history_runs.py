"""The history store in whole runs against a real loopback server: a series of runs with a test
that flips and an endpoint that slows down, the last-GO baseline, quarantine before and after
expiry, a store that cannot be used, and the pages a person opens (trends, verdict.html) in
Chromium."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_pages import CHROMIUM, open_page
from servers import LoopbackServer, text_answer

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")

SUITE = """
import os
import pytest

def test_home(staging):
    assert staging.get("/").status_code == 200

def test_flips():
    assert not os.path.exists("FLIP"), "flipped"

@pytest.mark.performance(thresholds=["p95 < 3s"])
def test_load(staging_load):
    staging_load(users=2, spawn_rate=2, run_time=3, wait=0.02, profile={"GET /slow": 1})
"""
POLICY = """
[gates.security]
min_tests = 0
[performance]
max_regression = ["p95 +60ms"]
"""


@pytest.fixture
def knob() -> Iterator[tuple[LoopbackServer, dict[str, float]]]:
    """A loopback target whose /slow answers after ``delay["slow"]`` seconds."""
    delay = {"slow": 0.0}

    def slow(_: Any) -> Any:
        time.sleep(delay["slow"])
        return text_answer("ok")

    srv = LoopbackServer(routes={"/slow": slow}).start()
    yield srv, delay
    srv.stop()


def history_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_staging.cli", "history", *args],
                          capture_output=True, text=True, timeout=120)


@needs_chromium
def test_series_flip_slowdown_last_go_and_the_pages(pytester: pytest.Pytester, run_staging: Any,
                                                     knob: Any, tmp_path: Path) -> None:
    srv, delay = knob
    pytester.makepyfile(test_shop=SUITE)
    pytester.makefile(".toml", policy=POLICY)
    store = pytester.path / "history" / "runs.db"
    common = ("--staging-policy=policy.toml", f"--staging-history={store}")

    # 1. last-go with an empty store: no baseline, baseline_missing (fail) decides
    first = run_staging(*common, "-p", "no:xdist", "--staging-perf-baseline=last-go",
                        url=srv.url)
    assert first.ret != 0 and first.verdict["verdict"] == "NO-GO"
    assert any("has no baseline" in r and "does not exist yet" in r
               for r in first.verdict["reasons"]), first.verdict["reasons"]
    # 2. a GO: the baseline of what follows
    good = run_staging(*common, "-p", "no:xdist", url=srv.url)
    good_verdict = good.verdict  # read now: the next run writes the same report dir
    assert good.ret == 0, good_verdict["reasons"]
    assert [r["verdict"] for r in good_verdict["history"]["recent"]] == ["NO-GO"]
    page = open_page(good.report_dir / "verdict.html", tmp_path / "verdict.png")
    assert page.errors == [] and page.requests == []
    load = page.chart("load-chart-0")
    assert load["painted"] > 1000 and "threshold p95 < 3s" in load["series"]
    assert min(load["values"][:2]) >= 1, load  # p50, p95 measured over the load
    strip = page.chart("history-strip")
    assert strip["values"] == [1, 1] and strip["painted"] > 200  # one GO, one NO-GO bar

    # 3. test_flips fails: a new failure since the last GO, and a flaky test
    (pytester.path / "FLIP").write_text("1")
    flipped = run_staging(*common, "-p", "no:xdist", url=srv.url)
    (pytester.path / "FLIP").unlink()
    history = flipped.verdict["history"]
    assert flipped.verdict["verdict"] == "NO-GO"
    assert [(f["nodeid"], f["at_last_go"]) for f in history["new_failures"]] == [
        ("test_shop.py::test_flips", "passed")]
    assert history["last_go"]["run_id"] == good_verdict["run"]["id"]
    # run 1's test_load failed (no baseline) and passed since: flaky by the same rule
    assert {f["nodeid"] for f in history["flaky"]} == {"test_shop.py::test_flips",
                                                      "test_shop.py::test_load"}
    md = (flipped.report_dir / "verdict.md").read_text()
    assert "1 new failure(s) since the last GO: test_shop.py::test_flips" in md
    assert "history: flaky: test_shop.py::test_flips" in flipped.output

    # 4. /slow slows down: the last GO's p95 is the baseline, read by an xdist worker
    delay["slow"] = 0.25
    slow = run_staging(*common, "-n", "2", "--staging-perf-baseline=last-go", url=srv.url)
    assert slow.ret != 0 and slow.verdict["verdict"] == "NO-GO"
    regression = [c for c in slow.verdict["gates"]["performance"]["checks"]
                  if c.get("kind") == "baseline"]
    assert [c["expr"] for c in regression] == ["p95 +60ms"] and not regression[0]["passed"]
    assert "baseline" in regression[0]["detail"]
    assert any("p95 +60ms" in r for r in slow.verdict["reasons"]), slow.verdict["reasons"]
    assert "test_shop.py::test_flips" in {f["nodeid"] for f in slow.verdict["history"]["flaky"]}

    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 4
        p95 = [r[0] for r in conn.execute("SELECT l.p95 FROM loads l JOIN runs r ON r.id = "
                                          "l.run WHERE l.endpoint = 'GET /slow' ORDER BY r.id")]
    assert p95[-1] >= 200 > p95[1], p95  # the slowdown is recorded per endpoint

    # the trends page, as a person opens it from a CI artifact
    html, md_file = tmp_path / "trends.html", tmp_path / "trends.md"
    done = history_cli(str(store), "--html", str(html), "--md", str(md_file))
    assert done.returncode == 0, done.stderr
    view = open_page(html, tmp_path / "trends.png")
    assert view.errors == [] and view.requests == []
    assert all(c["painted"] > 100 for c in view.charts), view.charts
    assert view.chart("chart-verdicts")["values"] == [1, 3]  # GO bars, NO-GO bars
    endpoints = view.chart("chart-load-0-endpoints")
    assert endpoints["series"] == ["GET /slow"] and endpoints["values"] == [4]
    load = view.chart("chart-load-0")
    assert any(s.startswith("threshold p95 < 3s") for s in load["series"])
    assert "test_shop.py::test_flips" in view.text  # the flaky table names it
    assert "test_shop.py::test_flips" in md_file.read_text()
