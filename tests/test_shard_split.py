"""The split of a collection into shards (``shard_split``): plain functions, no pytest run."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from pytest_staging.shard_split import (
    ShardError,
    ShardSpec,
    collection_digest,
    durations_of,
    parse_shard,
    split,
)

NODEIDS = [f"tests/test_{m}.py::test_{t}[{p}]" for m in "abc" for t in range(9) for p in "xy"]


def test_parse_shard_reads_k_of_n() -> None:
    assert parse_shard("2/4") == ShardSpec(2, 4)
    assert parse_shard(" 1 / 1 ") == ShardSpec(1, 1)
    assert str(parse_shard("3/3")) == "3/3"


@pytest.mark.parametrize("text, says", [
    ("0/3", "K must be between 1 and 3"), ("4/3", "K must be between 1 and 3"),
    ("x", "is not K/N"), ("", "is not K/N"), ("1/0", "N must be between 1"),
    ("-1/3", "is not K/N"), ("1/3/2", "is not K/N"), ("1.5/3", "is not K/N"),
    ("\u0661/\u0663", "is not K/N"), ("1/1001", "N must be between 1 and 1000")])
def test_parse_shard_refuses_in_one_line(text: str, says: str) -> None:
    with pytest.raises(ShardError) as caught:
        parse_shard(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 54, 60])
def test_every_test_is_in_exactly_one_shard_and_the_counts_differ_by_one_at_most(
        count: int) -> None:
    shard_of = split(NODEIDS, count)
    assert set(shard_of) == set(NODEIDS)
    assert set(shard_of.values()) <= set(range(1, count + 1))
    sizes = [list(shard_of.values()).count(k) for k in range(1, count + 1)]
    assert max(sizes) - min(sizes) <= 1


def test_the_split_ignores_the_order_of_the_collection_and_duplicates() -> None:
    shuffled = NODEIDS[:]
    random.Random(7).shuffle(shuffled)
    assert split(shuffled + NODEIDS[:5], 4) == split(NODEIDS, 4)


def test_the_hash_is_stable_across_interpreters() -> None:
    """Not Python's salted hash(): two processes with different PYTHONHASHSEED agree."""
    code = ("import json, sys; from pytest_staging.shard_split import split; "
            "print(json.dumps(split(json.loads(sys.argv[1]), 3), sort_keys=True))")
    results = {subprocess.run(
        [sys.executable, "-c", code, json.dumps(NODEIDS)], capture_output=True, text=True,
        env={**os.environ, "PYTHONHASHSEED": seed}, check=True, timeout=60).stdout
        for seed in ("1", "2")}
    assert len(results) == 1
    assert json.loads(results.pop()) == split(NODEIDS, 3)


def test_load_tests_share_one_shard() -> None:
    loads = NODEIDS[::9]
    shard_of = split(NODEIDS, 3, grouped=loads)
    assert len({shard_of[n] for n in loads}) == 1


def test_durations_balance_the_shards_by_time() -> None:
    durations = {n: 10.0 if n.endswith("[x]") and "test_a" in n else 0.5 for n in NODEIDS}
    shard_of = split(NODEIDS, 3, durations=durations)
    totals = [sum(durations[n] for n, k in shard_of.items() if k == i) for i in (1, 2, 3)]
    # Longest first, to the least loaded: no shard ends more than the heaviest test later.
    assert max(totals) - min(totals) <= 10.0
    assert split(list(reversed(NODEIDS)), 3, durations=durations) == shard_of


def test_a_test_without_a_recorded_duration_weighs_the_mean() -> None:
    known = {"a": 9.0, "b": 1.0}  # mean 5: each new test weighs 5
    shard_of = split(["a", "b", "new1", "new2"], 2, durations=known)
    # a (9) | new1 (5) + new2 (5) | then b (1) joins a: 10 and 10. Weighing the new tests 1
    # would put a alone against b, new1 and new2 (9 against 3).
    assert shard_of["a"] == shard_of["b"] != shard_of["new1"] == shard_of["new2"]


def test_the_collection_digest_is_order_free_and_names_the_gate() -> None:
    entries = [(n, "integration", True) for n in NODEIDS]
    assert collection_digest(entries) == collection_digest(list(reversed(entries)))
    moved = [(NODEIDS[0], "security", True), *entries[1:]]
    assert collection_digest(moved) != collection_digest(entries)
    advisory = [(NODEIDS[0], "integration", False), *entries[1:]]
    assert collection_digest(advisory) != collection_digest(entries)


def test_durations_come_from_a_verdicts_tests() -> None:
    verdict = {"tests": [{"nodeid": "a", "duration": 1.5}, {"nodeid": "b", "duration": -1},
                         {"nodeid": "c", "duration": float("nan")}, {"nodeid": "d"}, "junk"]}
    assert durations_of(verdict) == {"a": 1.5}
    for bad in ({}, {"tests": "no"}, {"tests": [{"nodeid": "a"}]}):
        with pytest.raises(ShardError):
            durations_of(bad)
