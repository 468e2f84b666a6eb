"""Which gate a test belongs to, and whether it blocks: the one rule, asked by every process
that collects tests (``items.ItemHooks``), by the performance gate's pre-marking of load
tests, and read back by the controller and the browser integration.

The rule: the test's closest marker naming a gate of the policy (``@pytest.mark.security``,
a module's ``pytestmark``, a built-in item's own marker); else ``performance`` for a load test
(it uses the ``staging_load`` fixture); else the policy's ``default_gate``. It blocks unless
marked ``@pytest.mark.advisory`` (a whole advisory gate is the verdict's business).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

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
