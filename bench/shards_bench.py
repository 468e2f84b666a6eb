"""Shards benchmark (issue 21): the merge, and what the split costs at collection.

    python bench/shards_bench.py [--rounds 5] [--sample]

- **merge**: 8 shard verdicts of 2,500 tests each (a collection of 20,000), HMAC-signed, made
  by the code a shard run uses (``decide()`` over ``RunFacts`` carrying
  ``shard_hooks.record()``, written by ``verdict_outputs``), merged by ``pytest-staging
  merge`` as a user runs it (a new process: interpreter, imports, reading, checking, deciding,
  every report written) and in process (``shard_merge.merge`` alone). Target: < 2 s.
- **split**: what ``--staging-shard`` adds to the collection of 10,000 tests: the CPU time
  of ``ShardHooks.take_slice`` (record the collection, split, keep the slice) inside real
  ``pytest --collect-only`` runs, and the CPU of those whole runs with and without
  ``--staging-shard=1/4``, interleaved. Target: < 20 ms.
- **sample** (``--sample``): ``pytest sample_suite`` whole, and in three shards run at once
  (three processes) then merged: wall and CPU, every test once.

Results go to bench/results/shards.json; bench/README.md has the numbers and the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pytest_staging import verdict_outputs  # noqa: E402
from pytest_staging.policy import parse_policy  # noqa: E402
from pytest_staging.selection import selection  # noqa: E402
from pytest_staging.shard_hooks import ShardRun, record  # noqa: E402
from pytest_staging.shard_merge import collection_of  # noqa: E402
from pytest_staging.shard_split import ShardSpec, split  # noqa: E402
from pytest_staging.verdict import (  # noqa: E402
    GateSpec,
    RunFacts,
    TargetFacts,
    TestRecord,
    decide,
)

KEY = "shards-bench-hmac-key"
GATES = ("integration", "security", "performance")


def _gate(index: int) -> str:
    return "security" if index % 40 == 0 else "performance" if index % 97 == 0 else \
        "integration"


def make_shards(folder: Path, count: int = 8, per: int = 2500) -> list[Path]:
    """``count`` shard report dirs, ``per`` tests each, signed with KEY."""
    nodeids = [f"tests/test_area_{i // 100:03d}.py::test_case[{i}]" for i in range(count * per)]
    gates = {n: _gate(i) for i, n in enumerate(nodeids)}
    shard_of = split(nodeids, count)
    collection = [(n, gates[n], True) for n in nodeids]
    policy = parse_policy({})
    digest = "ab" * 32
    provenance = {"subject": "shop@1.0", "subject_source": "--staging-subject", "commit": None,
                  "ci": {"system": None, "run_id": "bench-run", "url": None,
                         "run_id_source": "--staging-run-id"},
                  "host": "bench", "versions": {}, "policy_source": "(defaults)",
                  "policy_digest": digest, "suite_digest": "cd" * 32, "suite_files": 200,
                  "signed": False}
    dirs = []
    for k in range(1, count + 1):
        mine = [n for n in nodeids if shard_of[n] == k]
        facts = RunFacts(
            run_id=f"shard-{k}", started="2026-12-01T10:00:00Z", finished="2026-12-01T10:20:00Z",
            duration=1200.0, exit_status=0, complete=True,
            target=TargetFacts(url="https://staging.example/", reachable=True, ready=True,
                               ready_after=0.2, expected_version="1.0", version_start="1.0",
                               version_end="1.0"),
            gates=[GateSpec(name=g) for g in GATES],
            tests=[TestRecord(nodeid=n, gate=gates[n], outcome="passed", duration=0.05,
                              blocking=True, flaky=False, message="", evidence=[])
                   for n in mine],
            gate_data={"security": {"findings": [
                {"rule": "version-banner", "level": "warn", "origin": "builtin",
                 "family": "headers", "url": "https://staging.example/",
                 "message": "Server header discloses a version"}] if k == 1 else [],
                "metrics": {f"security:{'headers' if k == 1 else 'cookies'}": {"warn": 1}}}},
            selection=selection(filters=[], deselected=0, examples=[], gates_selected=GATES,
                                gates_declared=GATES, gates_blocking=GATES),
            provenance=provenance, versions={"python": "3.11.7"})
        run = ShardRun(ShardSpec(k, count), run_id="bench-run", run_id_source="--staging-run-id",
                       nodeids=nodeids, assignments=[(g, b) for _, g, b in collection],
                       slice=mine)
        facts.shard = record(run, facts, policy.values)
        verdict = decide(facts)
        assert verdict["verdict"] == "GO", verdict["reasons"]
        folder_k = folder / f"shard-{k}"
        folder_k.mkdir(parents=True)
        verdict_outputs.write_reports(folder_k, verdict_outputs.render_reports(
            verdict, lambda s: s, KEY, None))
        dirs.append(folder_k)
    return dirs


def bench_merge(rounds: int) -> dict[str, Any]:
    from pytest_staging.shard_merge import Keys, merge

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        shards = make_shards(work)
        made = time.perf_counter() - started
        sizes = [(s / "verdict.json").stat().st_size for s in shards]
        env = {**os.environ, "STAGING_VERDICT_KEY": KEY}
        command = [sys.executable, "-m", "pytest_staging.cli", "merge", *map(str, shards),
                   "--out", str(work / "merged")]
        walls, cpus, inproc = [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            output = process.stdout.read() if process.stdout else ""
            _, status, usage = os.wait4(process.pid, 0)
            walls.append(time.perf_counter() - started)
            cpus.append(usage.ru_utime + usage.ru_stime)
            assert os.waitstatus_to_exitcode(status) == 0, output[-2000:]
            os.environ["STAGING_VERDICT_KEY"] = KEY
            try:
                started = time.perf_counter()
                _, verdict = merge([str(s) for s in shards], Keys(hmac=KEY))
                inproc.append(time.perf_counter() - started)
            finally:
                del os.environ["STAGING_VERDICT_KEY"]
            assert verdict["verdict"] == "GO", verdict["reasons"][:3]
        merged = json.loads((work / "merged" / "verdict.json").read_text())
        assert merged["verdict"] == "GO" and len(merged["tests"]) == 20000
        return {"shards": 8, "tests_per_shard": 2500, "make_shards_s": round(made, 2),
                "shard_verdict_mb": round(max(sizes) / 1e6, 2),
                "merged_verdict_mb": round((work / "merged" / "verdict.json").stat().st_size
                                           / 1e6, 2),
                "command_wall_s": [round(w, 3) for w in walls],
                "command_cpu_s": [round(c, 3) for c in cpus],
                "in_process_s": [round(t, 3) for t in inproc],
                "command_wall_min_s": round(min(walls), 3),
                "command_cpu_min_s": round(min(cpus), 3),
                "in_process_min_s": round(min(inproc), 3)}


TIMED = """
import sys, time
import pytest
import pytest_staging.shard_hooks as hooks
spent = []
original = hooks.ShardHooks.take_slice
def timed(self, config, items):
    started = time.process_time()  # CPU: other processes' load adds wall time, not this
    original(self, config, items)
    spent.append(time.process_time() - started)
hooks.ShardHooks.take_slice = timed
status = pytest.main(sys.argv[1:])
print("TAKE_SLICE", spent[0] if spent else -1)
"""


def bench_split(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "test_many.py").write_text(
            "import pytest\n\n\n@pytest.mark.parametrize('i', range(10000))\n"
            "def test_case(i):\n    pass\n")
        base = ["-p", "no:cacheprovider", "-p", "no:randomly", "--collect-only", "-q",
                "--staging-url=http://127.0.0.1:9/", f"--staging-report-dir={work / 'r'}",
                "test_many.py"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAGING_")}
        take, cpu = [], {"whole": [], "shard": []}
        for index in range(rounds):
            sides = ["whole", "shard"] if index % 2 == 0 else ["shard", "whole"]
            for side in sides:
                args = [*base, *(["--staging-shard=1/4"] if side == "shard" else [])]
                process = subprocess.Popen([sys.executable, "-c", TIMED, *args], cwd=work,
                                           env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True)
                output = process.stdout.read() if process.stdout else ""
                _, status, usage = os.wait4(process.pid, 0)
                assert os.waitstatus_to_exitcode(status) == 0, output[-2000:]
                cpu[side].append(usage.ru_utime + usage.ru_stime)
                listed = sum(1 for line in output.splitlines()
                             if line.startswith("test_many.py::"))
                # 10,005 items (the security gate adds 5): a quarter of them in shard 1/4
                if side == "shard":
                    assert 2495 <= listed <= 2502, listed
                    take.append(float(output.rsplit("TAKE_SLICE", 1)[1].split()[0]))
                else:
                    assert listed == 10000, listed
        return {"tests": 10000, "take_slice_ms": [round(t * 1000, 1) for t in take],
                "take_slice_median_ms": round(statistics.median(take) * 1000, 1),
                "collect_cpu_whole_s": round(statistics.median(cpu["whole"]), 3),
                "collect_cpu_shard_s": round(statistics.median(cpu["shard"]), 3),
                "collect_cpu_whole_min_s": round(min(cpu["whole"]), 3),
                "collect_cpu_shard_min_s": round(min(cpu["shard"]), 3)}


def bench_sample() -> dict[str, Any]:
    from sample_runs import clean_env, sample_command

    from pytest_staging.cli import main as cli
    from sample_suite.app import RELEASE_VERSION, start_app

    app = start_app()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            common = ["-p", "no:xdist", f"--staging-url={app.url}",
                      f"--staging-expect-version={RELEASE_VERSION}",
                      "--staging-source=sample_suite/app.py", "--staging-run-id=bench-sample"]

            def start(report: Path, *more: str) -> subprocess.Popen[str]:
                return subprocess.Popen(sample_command(report, *common, *more), cwd=ROOT,
                                        env=clean_env(), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)

            def finish(process: subprocess.Popen[str]) -> tuple[int, float]:
                if process.stdout:
                    process.stdout.read()
                _, status, usage = os.wait4(process.pid, 0)
                return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime

            started = time.perf_counter()
            status, whole_cpu = finish(start(work / "whole"))
            whole_wall = time.perf_counter() - started
            assert status == 0
            started = time.perf_counter()
            processes = [start(work / f"shard-{k}", f"--staging-shard={k}/3") for k in (1, 2, 3)]
            results = [finish(p) for p in processes]
            shards_wall = time.perf_counter() - started
            assert [s for s, _ in results] == [0, 0, 0], results
            verdicts = [json.loads((work / f"shard-{k}" / "verdict.json").read_text())
                        for k in (1, 2, 3)]
            ran = Counter(t["nodeid"] for v in verdicts for t in v["tests"])
            collection = collection_of(verdicts[0]["shard"])
            builtin = [n for n in collection if n.startswith("staging-")]
            with contextlib.redirect_stdout(io.StringIO()):
                merged = cli(["merge", *(str(work / f"shard-{k}") for k in (1, 2, 3)),
                              "--out", str(work / "merged")])
            return {"whole_wall_s": round(whole_wall, 1), "whole_cpu_s": round(whole_cpu, 1),
                    "three_shards_wall_s": round(shards_wall, 1),
                    "three_shards_cpu_s": round(sum(c for _, c in results), 1),
                    "tests": len(collection), "builtin_items": len(builtin),
                    "run_twice": sum(1 for c in ran.values() if c > 1),
                    "missing": len(set(collection) - set(ran)),
                    "merge_exit": merged}
    finally:
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample", action="store_true",
                        help="also the sample suite, whole and in three shards (~1 min CPU)")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average": os.getloadavg()[0]}
    results["merge"] = bench_merge(args.rounds)
    print(json.dumps({"merge": results["merge"]}, indent=2), flush=True)
    results["split"] = bench_split(max(args.rounds, 4))
    print(json.dumps({"split": results["split"]}, indent=2), flush=True)
    if args.sample:
        results["sample"] = bench_sample()
        print(json.dumps({"sample": results["sample"]}, indent=2), flush=True)
    results["load_average_end"] = os.getloadavg()[0]
    out = HERE / "results" / "shards.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
