"""History store benchmarks (issue 22): append one run of 5,000 tests and 50 loads; render the
trends page over 500 runs; the store's size for 1,000 runs of 1,000 tests.

    python bench/history_bench.py            # full sizes (~1 min)
    python bench/history_bench.py --quick    # smaller store for the size row

The runs are verdict dicts as ``decide()`` writes them (a few failing tests, a flipping one,
loads with 3 endpoints and a threshold), appended through ``Store.append``: the path a run
takes. Targets: append < 100 ms, render < 2 s, 1,000 x 1,000 store < 100 MB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_staging.history.store import open_store
from pytest_staging.history.trends import collect
from pytest_staging.reports.trends import render_trends_html, render_trends_markdown

TARGET = "https://staging.example.test/"


def make_verdict(run: int, tests: int, loads: int) -> dict[str, Any]:
    outcomes = []
    for i in range(tests):
        outcome = "failed" if (i % 997 == 0 and run % 3 == 0) or (i == 1 and run % 2) \
            else "passed"
        outcomes.append({"nodeid": f"tests/test_mod{i // 50:03d}.py::test_case_{i:05d}",
                         "gate": "integration", "outcome": outcome,
                         "duration": 0.01 + (i % 17) / 100, "blocking": True, "flaky": False})
    failures = [{"nodeid": t["nodeid"], "outcome": "failed", "blocking": True,
                 "message": "AssertionError: expected 200, got 503"}
                for t in outcomes if t["outcome"] == "failed"]
    metrics, checks = {}, []
    for j in range(loads):
        name = f"tests/test_load.py::test_load_{j:02d}"
        block = {"requests": 1000, "failures": 2, "successes": 998, "fail_ratio": 0.002,
                 "rps": 100.0 - run % 7, "avg": 20.0, "min": 2.0, "max": 200.0, "p50": 15.0,
                 "p90": 40.0, "p95": 50.0 + run % 11, "p99": 90.0 + run % 13}
        metrics[name] = {**block, "endpoints": {f"GET /api/{k}": dict(block) for k in range(3)}}
        checks.append({"name": f"{name}: p95 < 300ms", "load": name, "kind": "threshold",
                       "expr": "p95 < 300ms", "metric": "p95", "endpoint": None,
                       "limit": 300.0, "passed": True})
    go = not failures
    return {"verdict": "GO" if go else "NO-GO", "reasons": [] if go else ["failures"],
            "warnings": [],
            "run": {"id": f"run-{run:06d}", "started": f"2026-01-01T00:{run % 60:02d}:00Z",
                    "finished": f"2026-01-01T00:{run % 60:02d}:30Z", "duration": 30.0 + run % 5,
                    "partial": False, "exit_status": 0 if go else 1, "versions": {}},
            "target": {"url": TARGET, "observed_version": {"start": f"1.{run // 10}",
                                                           "end": f"1.{run // 10}"}},
            "gates": {"integration": {"status": "passed" if go else "failed", "blocking": True,
                                      "ran": tests, "counts": {"passed": tests},
                                      "failures": failures},
                      "performance": {"status": "passed", "blocking": True, "ran": loads,
                                      "counts": {}, "failures": [], "metrics": metrics,
                                      "checks": checks},
                      "security": {"status": "passed", "blocking": True, "counts": {},
                                   "failures": [],
                                   "grade": {"grade": "B", "score": 70 + run % 20}}},
            "tests": outcomes}


def bench_append(folder: Path, repeat: int = 7) -> dict[str, Any]:
    """One run of 5,000 tests and 50 loads appended to a store that already holds 20 runs."""
    path = folder / "append.db"
    with open_store(path, write=True) as store:
        for run in range(20):
            store.append(make_verdict(run, 5000, 50))
    verdicts = [make_verdict(100 + i, 5000, 50) for i in range(repeat)]
    times, cpu = [], []
    for verdict in verdicts:
        started, used = time.perf_counter(), time.process_time()
        with open_store(path, write=True) as store:  # as the controller does: open, append
            store.append(verdict)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return {"median_ms": round(statistics.median(times) * 1000, 1),
            "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1), "target_ms": 100}


def bench_render(folder: Path, runs: int = 500) -> dict[str, Any]:
    """``pytest-staging history --html --md`` over the last 500 runs of 1,000 tests, 5 loads."""
    path = folder / "render.db"
    with open_store(path, write=True) as store:
        for run in range(runs):
            store.append(make_verdict(run, 1000, 5))
    times, cpu = [], []
    size = 0
    for _ in range(3):
        started, used = time.perf_counter(), time.process_time()
        with open_store(path, write=False) as store:
            data = collect(store, last=runs)
        page = render_trends_html(data)
        render_trends_markdown(data)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        size = len(page.encode())
    return {"median_s": round(statistics.median(times), 3),
            "cpu_median_s": round(statistics.median(cpu), 3), "page_kb": size // 1024,
            "target_s": 2}


def bench_size(folder: Path, runs: int, tests: int) -> dict[str, Any]:
    path = folder / "size.db"
    started = time.perf_counter()
    with open_store(path, write=True) as store:
        for run in range(runs):
            store.append(make_verdict(run, tests, 5))
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size + sum(p.stat().st_size for p in folder.glob("size.db-*"))
    return {"runs": runs, "tests": tests, "mb": round(size / 1e6, 1),
            "per_result_bytes": round(size / (runs * tests), 1),
            "fill_s": round(time.perf_counter() - started, 1),
            "target_mb_for_1000x1000": 100}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = {"append_5000_tests_50_loads": bench_append(folder),
                  "render_500_runs": bench_render(folder),
                  "size": bench_size(folder, 200 if args.quick else 1000, 1000)}
    json.dump(result, sys.stdout, indent=2)
    print()
    # CPU time: on a shared machine the wall clock also counts the waits for a core.
    ok = (result["append_5000_tests_50_loads"]["cpu_median_ms"] < 100
          and result["render_500_runs"]["cpu_median_s"] < 2
          and result["size"]["per_result_bytes"] * 1e6 < 100e6)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
