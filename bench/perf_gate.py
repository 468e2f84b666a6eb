"""Performance-gate benchmark: staging_load vs bare ``locust --headless``, same server, same run.

    python bench/perf_gate.py [--users 10] [--run-time 5] [--rounds 3]

Both sides use the same FastHttpUser locustfile, users and run time against one loopback
server (a separate process: threaded stdlib, Nagle off). Rounds alternate the order. Reports:
rps of each side (requests over the measured span, the same formula for both), their ratio,
and the fixed overhead of a load test through pytest (test duration minus run time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pytest_staging.gates.performance.metrics import load_locust_json, summarize  # noqa: E402

SERVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from perf_server import loopback_server, base_url
with loopback_server() as server:
    print(base_url(server), flush=True)
    sys.stdin.read()
"""


def bare(url: str, users: int, run_time: int, work: Path) -> dict[str, float]:
    out = work / "bare"
    command = [sys.executable, "-m", "locust", "-f", str(HERE / "perf_locustfile.py"),
               "--headless", "-u", str(users), "-r", str(users), "-t", f"{run_time}s",
               "-H", url, "--json-file", str(out), "--only-summary", "--stop-timeout", "5"]
    started = time.monotonic()
    # Own session, as staging_load starts locust (and as a shell would): same CPU scheduling group
    # treatment under autogroup, so the comparison is fair.
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=work, start_new_session=True)
    wall = time.monotonic() - started
    metrics = summarize(load_locust_json(Path(f"{out}.json")))
    return {"rps": metrics["rps"], "requests": metrics["requests"], "wall": wall}


def staged(url: str, users: int, run_time: int, work: Path) -> dict[str, float]:
    report = work / "report"
    env = {**os.environ, "BENCH_USERS": str(users), "BENCH_RUN_TIME": str(run_time)}
    command = [sys.executable, "-m", "pytest", str(HERE / "perf_bench_test.py"), "-q",
               f"--staging-url={url}", "--staging-gate=performance", "-p", "no:xdist",
               "-p", "no:cacheprovider", f"--staging-report-dir={report}",
               "--rootdir", str(HERE), "-c", os.devnull]
    started = time.monotonic()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=work)
    wall = time.monotonic() - started
    verdict = json.loads((report / "verdict.json").read_text())
    if verdict["verdict"] != "GO":
        raise SystemExit(f"staging_load run was NO-GO: {verdict['reasons']}\n{proc.stdout}")
    (metrics,) = verdict["gates"]["performance"]["metrics"].values()
    (test,) = verdict["tests"]
    return {"rps": metrics["rps"], "requests": metrics["requests"], "wall": wall,
            "test_duration": test["duration"], "locust_wall": metrics["wall_time"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--run-time", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT / "tests")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(args.rounds):
                work = Path(tmp) / f"round{n}"
                work.mkdir()
                sides = [("bare", bare), ("staging_load", staged)]
                if n % 2:
                    sides.reverse()
                row = {name: fn(url, args.users, args.run_time, work) for name, fn in sides}
                rows.append(row)
                b, s = row["bare"], row["staging_load"]
                print(f"round {n + 1}: bare {b['rps']:.1f} req/s (wall {b['wall']:.2f}s), "
                      f"staging_load {s['rps']:.1f} req/s (test {s['test_duration']:.2f}s, "
                      f"pytest wall {s['wall']:.2f}s), ratio {s['rps'] / b['rps']:.3f}",
                      flush=True)
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(10)
    ratios = sorted(r["staging_load"]["rps"] / r["bare"]["rps"] for r in rows)
    ratio = statistics.median(ratios)
    overhead = statistics.median(r["staging_load"]["test_duration"] - args.run_time
                                 for r in rows)
    bare_overhead = statistics.median(r["bare"]["wall"] - args.run_time for r in rows)
    print(json.dumps({
        "users": args.users, "run_time": args.run_time, "rounds": args.rounds,
        "median_rps_bare": round(statistics.median(r["bare"]["rps"] for r in rows), 1),
        "median_rps_staging_load": round(
            statistics.median(r["staging_load"]["rps"] for r in rows), 1),
        "median_rps_ratio": round(ratio, 3),
        "rps_ratio_range": [round(ratios[0], 3), round(ratios[-1], 3)],
        "pooled_rps_ratio": round(
            sum(r["staging_load"]["requests"] for r in rows)
            / sum(r["staging_load"]["requests"] / r["staging_load"]["rps"] for r in rows)
            / (sum(r["bare"]["requests"] for r in rows)
               / sum(r["bare"]["requests"] / r["bare"]["rps"] for r in rows)), 3),
        "median_fixed_overhead_s": round(overhead, 3),
        "median_bare_locust_overhead_s": round(bare_overhead, 3),
    }, indent=2))


if __name__ == "__main__":
    main()
