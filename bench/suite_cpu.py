"""Where the project's own test suite spends its CPU: a pytest plugin and a summary.

    PYTHONPATH=bench STAGING_SUITE_CPU=/tmp/suite-cpu python -m pytest tests -n 2 -p suite_cpu
    python bench/suite_cpu.py /tmp/suite-cpu          # per file and the 25 costliest tests

Each test's CPU is ``getrusage`` of the test process (self) and of the children it waited for
(child pytest runs, xdist workers of those runs, Locust, Chromium) around its protocol, with its
wall time; one JSON line per test in a file per process.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ENV_DIR = "STAGING_SUITE_CPU"


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Iterator[None]:
    before, started = _cpu(), time.perf_counter()
    try:
        return (yield)
    finally:
        after = _cpu()
        folder = Path(os.environ.get(ENV_DIR, "suite-cpu"))
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps([item.nodeid, after[0] - before[0], after[1] - before[1],
                                  time.perf_counter() - started]) + "\n")


def summary(folder: Path) -> str:
    rows = [json.loads(line) for path in sorted(folder.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]
    by_file: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for nodeid, own, kids, _ in rows:
        by_file[nodeid.split("::")[0]] += own + kids
        count[nodeid.split("::")[0]] += 1
    own_cpu, wall = sum(r[1] for r in rows), sum(r[3] for r in rows)
    lines = [f"{len(rows)} tests, CPU {sum(r[1] + r[2] for r in rows):.0f} s "
             f"(test processes {own_cpu:.0f} s), wall {wall:.0f} s"]
    lines += [f"{cpu:7.1f} s  {count[name]:4d}  {name}" for name, cpu in by_file.most_common(25)]
    lines.append("-- costliest tests (CPU s, wall s)")
    lines += [f"{r[1] + r[2]:6.1f} {r[3]:6.1f}  {r[0]}"
              for r in sorted(rows, key=lambda r: -(r[1] + r[2]))[:25]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1] if len(sys.argv) > 1 else "suite-cpu")))
