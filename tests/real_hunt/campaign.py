"""Many seeds: run them (a few at a time), gather findings by class and dimensions covered."""

from __future__ import annotations

import re
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .runner import Finding, Run, run_seed

SEVERITIES = ("false-go", "false-no-go", "invariant", "known", "info")
#: Classes already routed to the branch that owns the rule (TEAM.md): shown beside the class.
ROUTES = (
    (r"exit 0 with a NO-GO verdict: --collect-only", "judgement (exit codes of NO-GO)"),
    (r"refuses: .*required gate \S+ is empty", "verify (issue 20 item 9: min_tests = 0)"),
    (r"verify --allow-partial refuses", "verify (issue 20 item 8: the deploy side's consent)"),
    (r"module skipped at collection|max-skipped-collection", "scope (issue 20 item 10)"),
    (r"after verdict\.json was written|killed by \w+ after writing it",
     "lead: controller/plugin (handlers restored before the process ends)"),
    (r"escapes pytest's main|raised in a finalizer",
     "lead: plugin.pytest_cmdline_main re-raises what escapes pytest.main"),
    (r"INTERNALERROR: AssertionError: .*WorkerController", "upstream: pytest-xdist#1239"),
    (r"reaches an xdist worker", "lead: an xdist worker's own start-up/shutdown output"),
)


@dataclass
class Summary:
    runs: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    #: Oracle's view: GO expected / forbidden; signals sent while alive / after exit.
    oracle: Counter[str] = field(default_factory=Counter)
    dimensions: Counter[str] = field(default_factory=Counter)
    #: (severity, class) -> findings
    classes: dict[tuple[str, str], list[Finding]] = field(default_factory=dict)
    wall: float = 0.0
    cpu_children: float = 0.0

    def add(self, run: Run) -> None:
        self.runs += 1
        self.verdicts[run.verdict_name] += 1
        self.oracle["GO expected" if run.expectation.go_allowed else "GO forbidden"] += 1
        for _name, _, alive in run.sent:
            self.oracle[f"signal {'while running' if alive else 'after exit'}"] += 1
        self.dimensions.update(set(run.scenario.dimensions()))
        for finding in run.findings:
            self.classes.setdefault((finding.severity, finding.klass), []).append(finding)

    def count(self, severity: str) -> int:
        return sum(len(v) for (sev, _), v in self.classes.items() if sev == severity)


def repro(seed: int) -> str:
    return f"python bench/hunt.py --seed {seed} --runs 1 --keep"


def run_campaign(seeds: Iterable[int], root: Path, *, jobs: int = 1, keep: bool = False,
                 progress: Callable[[Run], None] | None = None) -> Summary:
    summary = Summary()
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        for run in pool.map(lambda seed: run_seed(seed, root, keep=keep), seeds):
            summary.add(run)
            if progress is not None:
                progress(run)
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary.wall = time.monotonic() - t0
    summary.cpu_children = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return summary


def format_summary(summary: Summary) -> str:
    lines = [f"runs: {summary.runs} in {summary.wall:.0f} s "
             f"(children's CPU {summary.cpu_children:.0f} s)",
             "verdicts: " + ", ".join(f"{k} {v}" for k, v in summary.verdicts.most_common()),
             "oracle: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.oracle.items())),
             f"false GOs: {summary.count('false-go')}, false NO-GOs: "
             f"{summary.count('false-no-go')}, other invariant breaks: "
             f"{summary.count('invariant')}, known limitations: {summary.count('known')}, "
             f"notes: {summary.count('info')}",
             "", "dimensions covered (runs):"]
    groups: dict[str, list[str]] = {}
    for dim, n in sorted(summary.dimensions.items()):
        group, _, value = dim.partition(":")
        groups.setdefault(group, []).append(f"{value} {n}")
    lines += [f"  {group}: {', '.join(values)}" for group, values in groups.items()]
    for severity in SEVERITIES:
        found = [(k, v) for k, v in summary.classes.items() if k[0] == severity]
        if not found:
            continue
        lines += ["", f"{severity} classes:"]
        for (_, klass), findings in sorted(found, key=lambda kv: -len(kv[1])):
            seeds = sorted({f.seed for f in findings})
            lines.append(f"  {len(findings):4d}x {klass}")
            route = next((owner for pattern, owner in ROUTES if re.search(pattern, klass)), "")
            if route:
                lines.append(f"        routed to: {route}")
            lines.append(f"        seeds {', '.join(map(str, seeds[:8]))}"
                         f"{' ...' if len(seeds) > 8 else ''}; e.g. {findings[0].detail[:200]}")
            lines.append(f"        reproduce: {repro(seeds[0])}")
    return "\n".join(lines)
