"""The load of the load-farm benchmark (run by load_farm.py): the same on every side; the
command line decides where it is made (one process, external workers, --processes)."""

import os
from pathlib import Path


def test_bench_load(staging_load):
    staging_load(
        users=int(os.environ["BENCH_USERS"]),
        spawn_rate=int(os.environ["BENCH_USERS"]),
        run_time=f"{os.environ['BENCH_RUN_TIME']}s",
        locustfile=Path(__file__).with_name("perf_locustfile.py"),
    )
