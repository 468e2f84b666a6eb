"""What a run selected, for the verdict: plain functions over plain data. No pytest import.

A run is ``partial`` when anything collected was left out of it: tests deselected (``-k``,
``-m``, ``--deselect``, ``--lf``, ``--sw``, ``--staging-gate``), node ids given on the command
line, or gates the policy declares that were not selected. A partial GO stays a GO for the
tests it ran, says so, and ``pytest-staging verify`` refuses it unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

#: Deselected node ids listed by name in the verdict (the count is always exact).
MAX_EXAMPLES = 20


def option_values(args: Sequence[str], flag: str) -> list[str]:
    """Every value of ``flag`` in raw ``args`` (``--flag=value`` and ``--flag value``)."""
    found: list[str] = []
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            found.append(args[i + 1])
        elif arg.startswith(flag + "="):
            found.append(arg[len(flag) + 1:])
    return found


def uncovered(declared: Sequence[PurePath], roots: Sequence[PurePath]) -> list[PurePath]:
    """The declared paths no collection root covers (a root covers itself and what is under
    it): what a run that collected only ``roots`` left out of the declared suite."""
    return [path for path in declared
            if not any(root == path or root in path.parents for root in roots)]


def filters_of(options: Mapping[str, Any], args: Sequence[str]) -> list[str]:
    """The command-line filters that narrow a run, as the user typed them."""
    found: list[str] = []
    if options.get("keyword"):
        found.append(f"-k {options['keyword']}")
    if options.get("markexpr"):
        found.append(f"-m {options['markexpr']}")
    if options.get("lf"):
        found.append("--lf")
    if options.get("stepwise"):
        found.append("--sw")
    for nodeid in options.get("deselect") or []:
        found.append(f"--deselect {nodeid}")
    node_args = [a for a in args if "::" in a]
    if node_args:
        found.append("node ids " + " ".join(node_args[:5])
                     + (f" (+{len(node_args) - 5})" if len(node_args) > 5 else ""))
    return found


def selection(*, filters: Iterable[str], deselected: int, examples: Iterable[str],
              gates_selected: Sequence[str], gates_declared: Sequence[str],
              gates_blocking: Sequence[str], not_run: int = 0,
              collection_skipped: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The verdict's ``selection`` object. ``not_run``: collected tests a blocked run (the
    target not ready) did not start; they were not selected away, so they never make a run
    partial. ``collection_skipped``: modules (or folders) skipped at collection, each
    ``{"nodeid", "gate", "blocking", "reason"}``; their tests are counted as skipped in their
    gate, not as left out."""
    found = list(filters)
    left_out = [g for g in gates_declared if g not in gates_selected]
    if left_out:
        found.append("--staging-gate " + ",".join(gates_selected))
    narrowing = [f for f in found if not f.startswith(("-k ", "-m "))]
    return {
        "partial": bool(deselected or left_out or narrowing),
        "gates_declared": list(gates_declared),
        "gates_blocking": list(gates_blocking),
        "gates_selected": list(gates_selected),
        "deselected": int(deselected),
        "deselected_examples": list(examples)[:MAX_EXAMPLES],
        "filters": found,
        **({"not_run": int(not_run)} if not_run else {}),
        **({"collection_skipped": [dict(c) for c in collection_skipped]}
           if collection_skipped else {}),
    }
