"""Load-farm benchmark: one ``staging_load`` in one Locust process vs the same load made by a
master and two external ``locust --worker -f -`` processes (and, for reference, Locust's own
``--processes 2``), side by side in one run.

    python bench/load_farm.py [--users 10] [--run-time 5] [--rounds 4]

Every side is a whole pytest run of ``bench/farm_bench_test.py`` against one loopback server
(a separate process: threaded stdlib, Nagle off), with the same FastHttpUser locustfile
(``bench/perf_locustfile.py``: no wait), users and run time; rounds rotate the order. Reports
each side's rps (requests over the measured span, from the verdict), the ratios to the
one-process side, and each side's fixed cost (test duration minus run time: for master mode,
waiting for the workers to connect and the end-of-load heartbeat check included).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SERVER = """
import sys
sys.path.insert(0, sys.argv[1])
from perf_server import loopback_server, base_url
with loopback_server(fail_every=10**9) as server:
    print(base_url(server), flush=True)
    sys.stdin.read()
"""
SIDES = ("one_process", "two_workers", "processes_2")
#: Starts the workers once the master listens, in one new session of their own: with Linux
#: autogroup scheduling each session gets its own CPU share, so workers in a session each
#: would get twice the share of the one Locust process they are compared with.
LAUNCHER = """
import subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from locust_workers import listening, worker_argv, worker_env
port, count, deadline = int(sys.argv[2]), int(sys.argv[3]), time.monotonic() + 90
while time.monotonic() < deadline and not listening(port):
    time.sleep(0.05)
procs = [subprocess.Popen(worker_argv(port), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=worker_env(Path(f"tmp-{i}")))
         for i in range(count)]
sys.exit(max(p.wait() for p in procs))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_side(name: str, url: str, users: int, run_time: int, work: Path,
             baseline: str | None = None) -> dict[str, float]:
    side, _, other = name.partition("@")
    report = work / f"report-{name}"
    env = {**os.environ, "BENCH_USERS": str(users), "BENCH_RUN_TIME": str(run_time)}
    if other:  # the same side with another checkout's pytest_staging first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [baseline, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", str(HERE / "farm_bench_test.py"), "-q",
               f"--staging-url={url}", "--staging-gate=performance", "-p", "no:xdist",
               "-p", "no:cacheprovider", f"--staging-report-dir={report}",
               "--rootdir", str(HERE), "-c", os.devnull]
    port = free_port()
    if side == "two_workers":
        command += ["--staging-load-workers=2", f"--staging-load-master-bind=127.0.0.1:{port}"]
    elif side == "processes_2":
        command += ["--staging-load-processes=2"]
    started = time.monotonic()
    launcher = None
    if side == "two_workers":
        launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(ROOT / "tests"),
                                     str(port), "2"], cwd=work, start_new_session=True)
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=work)
    if launcher is not None and launcher.wait(timeout=60) != 0:
        raise SystemExit(f"{name}: a worker exited {launcher.returncode}")
    wall = time.monotonic() - started
    verdict = json.loads((report / "verdict.json").read_text())
    if verdict["verdict"] != "GO":
        raise SystemExit(f"{name} was NO-GO: {verdict['reasons']}\n{proc.stdout[-2000:]}")
    (metrics,) = verdict["gates"]["performance"]["metrics"].values()
    (test,) = verdict["tests"]
    shares = [n["requests"] for n in metrics.get("worker_nodes") or []]
    return {"rps": metrics["rps"], "requests": metrics["requests"], "wall": wall,
            "fixed": test["duration"] - run_time, "shares": shares}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--run-time", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sides", default=",".join(SIDES),
                        help=f"comma-separated, of {', '.join(SIDES)} [all]")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run each side with DIR (another checkout, e.g. main) first "
                             "on PYTHONPATH, as '<side>@baseline'")
    args = parser.parse_args()
    sides = tuple(args.sides.split(","))
    assert set(sides) <= set(SIDES) and "one_process" in sides, sides
    if args.baseline:
        sides += tuple(f"{side}@baseline" for side in sides)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT / "tests")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rows = []
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(args.rounds):
                work = Path(tmp) / f"round{n}"
                work.mkdir()
                order = sides[n % len(sides):] + sides[:n % len(sides)]
                row = {side: run_side(side, url, args.users, args.run_time, work,
                                      args.baseline) for side in order}
                rows.append(row)
                print(f"round {n + 1} ({', '.join(order)}): " + "; ".join(
                    f"{s} {row[s]['rps']:.0f} req/s, fixed {row[s]['fixed']:.2f}s"
                    + (f", shares {row[s]['shares']}" if row[s]["shares"] else "")
                    for s in sides), flush=True)
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(10)

    def median(side: str, key: str) -> float:
        return round(statistics.median(r[side][key] for r in rows), 2)

    def ratios(side: str) -> list[float]:
        return sorted(r[side]["rps"] / r["one_process"]["rps"] for r in rows)

    others = [s for s in sides if s != "one_process"]
    print(json.dumps({
        "users": args.users, "run_time": args.run_time, "rounds": args.rounds,
        "cpus": os.cpu_count(), "load_average": [round(v, 1) for v in os.getloadavg()],
        **{f"median_rps_{s}": median(s, "rps") for s in sides},
        **{f"median_fixed_s_{s}": median(s, "fixed") for s in sides},
        **{f"median_rps_ratio_{s}": round(statistics.median(ratios(s)), 3) for s in others},
        **{f"rps_ratio_range_{s}": [round(ratios(s)[0], 3), round(ratios(s)[-1], 3)]
           for s in others},
    }, indent=2))


if __name__ == "__main__":
    main()
