"""Which gate a test belongs to, and whether it blocks: the one rule, asked by every process
that collects tests (``items.ItemHooks``), by the performance gate's pre-marking of load
tests, and read back by the controller and the browser integration.

The rule: the test's closest marker naming a gate of the policy (``@pytest.mark.security``,
a module's ``pytestmark``, a built-in item's own marker); else ``performance`` for a load test
(it uses the ``staging_load`` fixture); else the policy's ``default_gate``. It blocks unless
marked ``@pytest.mark.advisory`` (a whole advisory gate is the verdict's business).

A module skipped at collection (``pytest.importorskip``, a module-level ``pytest.skip``) has
no items to ask: ``assign_unimported()`` applies the same rule to the marker names its
top-level ``pytestmark`` spells in its source, read without running it.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The gate a test was assigned at collection, and whether it blocks.
GATE_KEY = pytest.StashKey[tuple[str, bool]]()

#: The fixture that makes a test a load test.
LOAD_FIXTURE = "staging_load"
LOAD_GATE = "performance"


@dataclass(frozen=True)
class Assignment:
    gate: str
    blocking: bool
    #: Every marker name on the test (closest first walk), for the other per-test questions.
    markers: frozenset[str]


def is_load_test(item: pytest.Item) -> bool:
    """Whether ``item`` measures the target under load (it uses ``staging_load``)."""
    return LOAD_FIXTURE in getattr(item, "fixturenames", ())


def assign(item: pytest.Item, gates: Collection[str], default_gate: str) -> Assignment:
    """The gate of ``item`` under a policy declaring ``gates`` (one walk over its markers)."""
    gate, names = "", set()
    for mark in item.iter_markers():  # closest first: function, class, module
        names.add(mark.name)
        if not gate and mark.name in gates:
            gate = mark.name
    if not gate:
        gate = LOAD_GATE if is_load_test(item) and LOAD_GATE in gates else default_gate
    return Assignment(gate=gate, blocking="advisory" not in names, markers=frozenset(names))


def assigned(item: pytest.Item, default_gate: str) -> tuple[str, bool]:
    """``(gate, blocking)`` given to ``item`` at collection (``default_gate``, blocking, for
    an item the collection hooks never saw)."""
    return item.stash.get(GATE_KEY, (default_gate, True))


def run_last(item: pytest.Item) -> bool:
    """Sort key: the performance gate's tests run after every other gate's, so no other test
    overlaps a measurement (a stable sort: the gate's own pre-sort keeps load tests last)."""
    return item.stash.get(GATE_KEY, ("", True))[0] == LOAD_GATE


def _mark_names(value: ast.AST) -> Iterator[str]:
    """``NAME`` of every ``pytest.mark.NAME`` / ``mark.NAME`` in an expression, in order."""
    for node in ast.walk(value):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if ((isinstance(owner, ast.Attribute) and owner.attr == "mark")
                    or (isinstance(owner, ast.Name) and owner.id == "mark")):
                yield node.attr


def _pytestmark_values(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The values assigned to ``pytestmark`` at module level (also under ``if``/``try``)."""
    for stmt in body:
        if isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
                yield stmt.value
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
            if (isinstance(stmt.target, ast.Name) and stmt.target.id == "pytestmark"
                    and stmt.value is not None):
                yield stmt.value
        elif isinstance(stmt, ast.If):
            yield from _pytestmark_values(stmt.body)
            yield from _pytestmark_values(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody,
                          *(h.body for h in stmt.handlers)):
                yield from _pytestmark_values(block)


def module_marks(path: Path) -> list[str]:
    """Marker names of a module's top-level ``pytestmark``, in order, read from its source
    without importing it; [] when it has none or cannot be read."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    # ``MARKS = [pytest.mark.security]; pytestmark = MARKS``: a module-level name, one level.
    assigned_values = {t.id: stmt.value for stmt in tree.body if isinstance(stmt, ast.Assign)
                       for t in stmt.targets if isinstance(t, ast.Name)}
    names: list[str] = []
    for value in _pytestmark_values(tree.body):
        names.extend(_mark_names(value))
        for node in ast.walk(value):
            if isinstance(node, ast.Name) and node.id in assigned_values and (
                    node.id != "pytestmark"):
                names.extend(_mark_names(assigned_values[node.id]))
    return names


def assign_unimported(path: Path | None, gates: Collection[str],
                      default_gate: str) -> Assignment:
    """The gate of the tests of a module pytest did not import (skipped at collection):
    its ``pytestmark`` gate marker, else ``default_gate`` (also for a folder skipped by its
    conftest, and when the source cannot be read)."""
    names = module_marks(path) if path is not None and path.suffix == ".py" else []
    gate = next((n for n in names if n in gates), default_gate)
    return Assignment(gate=gate, blocking="advisory" not in names, markers=frozenset(names))
