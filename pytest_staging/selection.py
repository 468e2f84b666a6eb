"""What a run selected, for the verdict: plain functions over plain data. No pytest import.

A run is ``partial`` when anything collected was left out of it: tests deselected (``-k``,
``-m``, ``--deselect``, ``--lf``, ``--sw``, ``--staging-gate``), node ids given on the command
line, or gates the policy declares that were not selected. A partial GO stays a GO for the
tests it ran, says so, and ``pytest-staging verify`` refuses it unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Deselected node ids listed by name in the verdict (the count is always exact).
MAX_EXAMPLES = 20


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
              gates_blocking: Sequence[str]) -> dict[str, Any]:
    """The verdict's ``selection`` object."""
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
    }
