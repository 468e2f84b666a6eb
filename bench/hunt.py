"""The real-run false-GO hunter's long campaign (issue 20 item 7).

Each seed draws a scenario (a random suite, pytest flags, a policy, a target fault, signals),
runs it as a real ``pytest`` subprocess of the plugin against a loopback target and judges it
with an oracle written from the scenario (tests/real_hunt/). The summary lists the runs, the
dimensions covered, false GOs, false NO-GOs and other invariant breaks, each class with its
seeds and a command that reproduces one.

    nice -n 10 python bench/hunt.py --runs 300 --seed 1000 --jobs 1
    python bench/hunt.py --seed 1234 --runs 1 --keep --show   # one seed: its files and command

The machine is shared: keep --jobs at 1 (each run starts one to three Python processes).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from real_hunt.campaign import format_summary, run_campaign  # noqa: E402
from real_hunt.runner import Run  # noqa: E402
from real_hunt.scenario import generate  # noqa: E402


def _show(seed: int, root: Path) -> None:
    from real_hunt.runner import pytest_args
    from real_hunt.suite import write_suite

    scenario = generate(seed)
    where = root / f"seed-{seed}"
    write_suite(scenario, where)
    print(f"# seed {seed}: {', '.join(scenario.dimensions())}")
    for path in sorted(where.iterdir()):
        if path.is_file() and path.suffix in (".py", ".toml", ".ini"):
            print(f"\n# --- {path.name}\n{path.read_text(encoding='utf-8')}")
    print("# command (URL: the hunter's loopback target):")
    print("python -m pytest " + " ".join(pytest_args(scenario, "$TARGET_URL")))
    print(f"# target: {scenario.target}; signals: {scenario.signals}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="number of seeds to run [50]")
    parser.add_argument("--seed", type=int, default=None,
                        help="first seed (the next runs take the following ones) [random]")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time [1]")
    parser.add_argument("--root", type=Path, default=None,
                        help="where the runs' folders go [a temporary dir]")
    parser.add_argument("--keep", action="store_true",
                        help="keep every run's folder (runs with findings are always kept)")
    parser.add_argument("--show", action="store_true",
                        help="print each seed's files and command before running it")
    parser.add_argument("--json", type=Path, default=None, help="write the findings here")
    parser.add_argument("--quiet", action="store_true", help="no line per run")
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else random.randrange(10**6)
    seeds = list(range(first, first + args.runs))
    root = args.root or Path(tempfile.mkdtemp(prefix="hunt-"))
    if args.show:
        for seed in seeds:
            _show(seed, root)

    def progress(run: Run) -> None:
        if args.quiet:
            return
        marks = " ".join(sorted({f.severity for f in run.findings}))
        print(f"seed {run.scenario.seed}: {run.verdict_name} exit {run.ret} "
              f"({'GO expected' if run.expectation.go_allowed else 'GO forbidden'}) "
              f"{run.duration:.1f}s {marks}", flush=True)
        for finding in run.findings:
            print(f"    {finding.line()}", flush=True)

    print(f"seeds {first}..{first + args.runs - 1}, runs in {root}", flush=True)
    summary = run_campaign(seeds, root, jobs=args.jobs, keep=args.keep, progress=progress)
    print()
    print(format_summary(summary))
    if args.json:
        args.json.write_text(json.dumps(
            [{"seed": f.seed, "severity": f.severity, "class": klass, "detail": f.detail}
             for (_, klass), found in summary.classes.items() for f in found], indent=1),
            encoding="utf-8")
    broken = summary.count("false-go") + summary.count("false-no-go") + summary.count("invariant")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
