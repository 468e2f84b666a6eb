"""The staging_load side of the performance-gate benchmark (run by perf_gate.py)."""

import os
from pathlib import Path


def test_bench_load(staging_load):
    staging_load(
        users=int(os.environ["BENCH_USERS"]),
        spawn_rate=int(os.environ["BENCH_USERS"]),
        run_time=f"{os.environ['BENCH_RUN_TIME']}s",
        locustfile=Path(__file__).with_name("perf_locustfile.py"),
    )
