"""The active plugin's CPU cost at two commits, side by side in one run (issue 16's "compare
side by side, never with a number from another day"):

    python bench/ab_refs.py OLD_REF [--runs 8] [--sizes 200 3000]

A worktree of OLD_REF is made in a temporary folder; every run of both sides and of
``-p no:staging`` alternates (the minimum CPU of each is kept, as ``bench/run.py``'s fixed
benchmark does), and each side's fixed cost and per-test cost are the intercept and slope of its
extra CPU over ``-p no:staging`` between the two suite sizes. The old side is imported from its
worktree by ``PYTHONPATH`` (ahead of this checkout's editable install).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from run import _interleaved, _pytest, _write_trivial_suite  # noqa: E402
from servers import LoopbackServer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the commit to compare HEAD (this checkout) with")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs=2, default=(200, 3000))
    args = parser.parse_args(argv)
    server = LoopbackServer().start()
    with tempfile.TemporaryDirectory(prefix="ab-refs-") as tmp:
        work, old = Path(tmp), Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old),
                        args.old], check=True)
        try:
            commands, envs = {}, {}
            for size in args.sizes:
                _write_trivial_suite(work / f"trivial-{size}", size)
                commands[f"off-{size}"] = _pytest("-p", "no:staging", f"trivial-{size}")
                for side in ("old", "new"):
                    commands[f"{side}-{size}"] = _pytest(
                        "--staging-url", server.url, "--staging-gate", "integration",
                        "--staging-report-dir", f"report-{side}-{size}", f"trivial-{size}")
                    envs[f"{side}-{size}"] = {"PYTHONPATH": str(old)} if side == "old" else {}
            wrapped = {name: ["env", *(f"{k}={v}" for k, v in envs.get(name, {}).items()),
                              *cmd] for name, cmd in commands.items()}
            for cmd in wrapped.values():
                subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL)
            check = subprocess.run(
                ["env", f"PYTHONPATH={old}", sys.executable, "-c",
                 "import pytest_staging; print(pytest_staging.__file__)"],
                cwd=work, capture_output=True, text=True, check=True).stdout.strip()
            assert check.startswith(str(old)), f"the old side imports {check}"
            _, cpu = _interleaved(wrapped, args.runs, work)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)],
                           check=False)
            server.stop()
    small, large = args.sizes
    best = {name: min(values) for name, values in cpu.items()}
    result = {"old": args.old, "runs": args.runs, "cpu_min_s": best, "load": os.getloadavg()[0]}
    for side in ("old", "new"):
        extra = {n: best[f"{side}-{n}"] - best[f"off-{n}"] for n in args.sizes}
        per_test = (extra[large] - extra[small]) / (large - small)
        result[side] = {"fixed_cpu_s": round(extra[small] - small * per_test, 4),
                        "per_test_us": round(per_test * 1e6, 1),
                        "extra_cpu_s": {str(n): round(v, 3) for n, v in extra.items()}}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
