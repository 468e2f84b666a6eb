"""How a suite is split into shards: plain functions over node ids. No pytest import.

``--staging-shard=K/N`` runs the K-th of N disjoint slices of the collection. Every shard
collects the whole suite and computes the same split from it, so N machines agree without
talking to each other:

- every test is a unit, except the load tests (``staging_load``), which form one unit: they
  measure the target, and two loads on two machines at once would measure each other;
- a unit weighs its recorded duration (``--staging-shard-durations``, an earlier verdict; a
  test it does not know weighs the mean of those it knows), else 1;
- units are taken heaviest first (ties in the order of a stable hash of the node id: BLAKE2b,
  not Python's salted ``hash()``, then the node id) and each goes to the shard with the least
  weight so far (ties: the lowest K). With equal weights that is a round robin in hash order, so the
  shards' sizes differ by at most one test.

The split depends on the collection only, never on its order (pytest-randomly may shuffle it).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_staging.canonical import canonical_json

HASH = "hash"
DURATIONS = "durations"
#: More shards than this is a typo, not a CI matrix.
MAX_SHARDS = 1000
#: A test recorded at 0 s still costs something (its setup): weigh it at least this.
MIN_WEIGHT = 0.001
_SPEC = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*")


class ShardError(ValueError):
    """A shard setting that cannot be used (one line)."""


@dataclass(frozen=True)
class ShardSpec:
    """The K-th (from 1) of N shards."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """``"2/4"`` -> ``ShardSpec(2, 4)``; ShardError (one line) for anything else."""
    match = _SPEC.fullmatch(str(text))
    if match is None:
        raise ShardError(f"{str(text)[:40]!r} is not K/N (e.g. 2/4: the second of four "
                         "shards)")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise ShardError(f"{index}/{count}: N must be between 1 and {MAX_SHARDS}")
    if not 1 <= index <= count:
        raise ShardError(f"{index}/{count}: K must be between 1 and {count} (shards are "
                         "numbered from 1)")
    return ShardSpec(index, count)


def _key(nodeid: str) -> bytes:
    """The hash order of a node id: its BLAKE2b digest, then the node id itself (so even a
    collision of digests leaves one order, whatever the order of the collection)."""
    raw = nodeid.encode("utf-8", "surrogateescape")
    return hashlib.blake2b(raw, digest_size=8).digest() + raw


def split(nodeids: Iterable[str], count: int, *, grouped: Iterable[str] = (),
          durations: Mapping[str, float] | None = None) -> dict[str, int]:
    """``{node id: shard (1..count)}`` for every node id. ``grouped`` node ids (the load
    tests) share one shard; ``durations`` weigh the units (see the module docstring)."""
    together = set(grouped)
    singles = {n for n in nodeids if n not in together}
    if durations is None and not together:
        # Equal weights: a round robin in hash order (what the general case below computes).
        return {n: position % count + 1
                for position, n in enumerate(sorted(singles, key=_key))}
    if durations:
        known = [float(durations[n]) for n in (*singles, *together) if n in durations]
        default = max(sum(known) / len(known), MIN_WEIGHT) if known else 1.0

        def weight(nodeid: str) -> float:
            value = durations.get(nodeid)
            return default if value is None else max(float(value), MIN_WEIGHT)
    else:
        def weight(nodeid: str) -> float:
            return 1.0
    # (weight, key, node ids): heaviest first, then in hash order.
    units: list[tuple[float, bytes, tuple[str, ...]]] = [
        (weight(n), _key(n), (n,)) for n in singles]
    if together:
        members = tuple(sorted(together))
        units.append((sum(weight(n) for n in members), _key(members[0]), members))
    units.sort(key=lambda u: (-u[0], u[1]))
    shard_of: dict[str, int] = {}
    loads = [(0.0, index) for index in range(1, count + 1)]  # (weight so far, K): a heap
    for unit_weight, _, members in units:
        load, index = loads[0]
        heapq.heapreplace(loads, (load + unit_weight, index))
        for nodeid in members:
            shard_of[nodeid] = index
    return shard_of


def collection_digest(entries: Iterable[Sequence[Any]]) -> str:
    """sha256 of the collection: each ``(node id, gate, blocking)``, sorted, as canonical
    JSON. Shards that collected different suites (or assigned gates differently) differ."""
    return hashlib.sha256(canonical_json(sorted(
        [str(n), str(g), bool(b)] for n, g, b in entries))).hexdigest()


def durations_of(verdict: Mapping[str, Any]) -> dict[str, float]:
    """``{node id: seconds}`` of an earlier verdict's tests (ShardError when it has none)."""
    tests = verdict.get("tests")
    if not isinstance(tests, list):
        raise ShardError("it has no list of tests with durations")
    found: dict[str, float] = {}
    for test in tests:
        if not isinstance(test, Mapping) or not isinstance(test.get("nodeid"), str):
            continue
        value = test.get("duration")
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value) and value >= 0:
            found[test["nodeid"]] = float(value)
    if not found:
        raise ShardError("it records no test durations")
    return found


def durations_digest(durations: Mapping[str, float]) -> str:
    """sha256 of the durations a split used: shards that used different files differ."""
    return hashlib.sha256(canonical_json(dict(durations))).hexdigest()
