"""pytest glue of ``--staging-shard=K/N``: the settings, the slice taken at collection, and the
shard's record in its verdict.

- ``configure(config)``: ``--staging-shard`` / ``STAGING_SHARD``, the run id the N shards
  share (``--staging-run-id`` / ``STAGING_RUN_ID``, else the CI system's run id) and
  ``--staging-shard-durations``; a value that cannot be used is a ``ShardError`` (a usage
  error of the run, so a NO-GO).
- ``ShardHooks``: on the process that collects (the serial run, or each xdist worker), after
  every other collection hook (gates assigned, ``-k``/``-m`` applied), the whole collection is
  recorded and the other shards' tests leave ``items``. They are not "deselected": a shard is
  not a partial run, its verdict says which slice it is.
- ``ShardXdistHooks``: on the xdist controller, the spec goes to the workers and the
  collection comes back (``workeroutput``).
- ``record(config, facts)``: the verdict's ``shard`` object, everything ``pytest-staging
  merge`` needs to judge N shards as one run (see ``shard_merge``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from pytest_staging.canonical import canonical_json
from pytest_staging.gate_assignment import assigned, is_load_test
from pytest_staging.provenance import detect_ci
from pytest_staging.settings import setting
from pytest_staging.shard_split import (
    DURATIONS,
    HASH,
    ShardError,
    ShardSpec,
    collection_digest,
    durations_digest,
    durations_of,
    parse_shard,
    split,
)

#: What travels between the xdist controller and its workers (workerinput / workeroutput).
WORKER_KEY = "staging_shard"
#: Fields of ``RunFacts`` the shard record leaves out: they are the verdict's own top-level
#: ``provenance`` and ``selection`` objects, or the sharding records themselves.
NOT_RECORDED = ("shard", "merged", "merge_problems", "provenance", "selection")


@dataclass
class ShardRun:
    """This process's shard: its settings, and once collected, its slice of the collection."""

    spec: ShardSpec
    run_id: str = ""
    run_id_source: str = ""
    durations: dict[str, float] | None = None
    durations_file: str = ""
    #: Every node id of the whole collection (None: not collected), and the ``(gate,
    #: blocking)`` of each: two lists, so collecting 10,000 tests makes no tuple per test
    #: (what the garbage collector would then walk a big heap for).
    nodeids: list[str] | None = None
    assignments: list[tuple[str, bool]] = field(default_factory=list)
    #: The node ids of this shard's slice, in run order.
    slice: list[str] = field(default_factory=list)
    #: Collected tests left to the other shards.
    left: int = 0

    def entries(self) -> list[tuple[str, str, bool]]:
        """``(node id, gate, blocking)`` of each test of the collection."""
        return [(n, g, b) for n, (g, b) in zip(self.nodeids or [], self.assignments,
                                               strict=True)]

    def split_record(self) -> dict[str, Any]:
        if self.durations is None:
            return {"method": HASH}
        return {"method": DURATIONS, "durations_digest": durations_digest(self.durations),
                "durations_file": self.durations_file}


SHARD_KEY = pytest.StashKey[ShardRun]()


def _run_id(config: Any, environ: Mapping[str, str]) -> tuple[str, str]:
    given = setting(config, "run_id", environ=environ)
    if given.given and str(given.value).strip():
        return str(given.value).strip(), given.label
    ci = detect_ci(environ)
    if ci.get("run_id"):
        return str(ci["run_id"]), f"{ci['system']} run id"
    return "", ""


def configure(config: Any, environ: Mapping[str, str] | None = None,
              *, need_run_id: bool = True) -> ShardRun | None:
    """The shard of this run (None when not sharded); ShardError when a value is unusable."""
    env = os.environ if environ is None else environ
    given = setting(config, "shard", environ=env)
    durations_file = setting(config, "shard_durations", environ=env)
    if not given.given:
        if durations_file.given:
            raise ShardError("--staging-shard-durations needs --staging-shard K/N")
        return None
    try:
        spec = parse_shard(str(given.value))
    except ShardError as exc:
        raise ShardError(f"{given.label}: {exc}") from None
    run = ShardRun(spec)
    run.run_id, run.run_id_source = _run_id(config, env)
    if need_run_id and not run.run_id:
        raise ShardError(
            f"{given.label} {spec}: no run id the shards share, so their verdicts could not "
            "be told from another run's: pass the same --staging-run-id (or STAGING_RUN_ID) "
            "to every shard (GitHub Actions, GitLab CI, Jenkins, CircleCI and Buildkite give "
            "their own run id)")
    if durations_file.given:
        path = str(durations_file.value)
        from pytest_staging.verify import VerifyError, load_verdict

        try:
            run.durations = durations_of(load_verdict(path))
        except (VerifyError, ShardError) as exc:
            why = exc.detail if isinstance(exc, VerifyError) else str(exc)
            raise ShardError(f"--staging-shard-durations {path}: {why}") from None
        run.durations_file = os.path.basename(path)
    return run


def register(config: pytest.Config, run: ShardRun, *, collects: bool) -> None:
    """Stash the shard; on the process that collects, take the slice; on the xdist
    controller, exchange with the workers."""
    config.stash[SHARD_KEY] = run
    if collects:
        config.pluginmanager.register(ShardHooks(run), "staging-shard")
    else:
        config.pluginmanager.register(ShardXdistHooks(run), "staging-shard-xdist")


def worker_run(workerinput: Mapping[str, Any]) -> ShardRun | None:
    """On an xdist worker: the controller's shard (None when the run is not sharded)."""
    data = workerinput.get(WORKER_KEY)
    if not data:
        return None
    durations = data.get("durations")
    return ShardRun(ShardSpec(int(data["index"]), int(data["count"])),
                    durations=dict(durations) if durations is not None else None)


class ShardHooks:
    """On the process that collects: the slice, after every other collection hook."""

    def __init__(self, run: ShardRun) -> None:
        self.run = run

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> Any:
        """Keep this shard's slice of what every other hook selected (gates, -k, -m)."""
        result = yield
        self.take_slice(config, items)
        return result

    def take_slice(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        run = self.run
        from pytest_staging.settings import settings_of

        settings = settings_of(config)
        default = settings.policy.default_gate if settings is not None else ""
        nodeids = [item.nodeid for item in items]
        loads = [n for n, item in zip(nodeids, items, strict=True) if is_load_test(item)]
        shard_of = split(nodeids, run.spec.count, grouped=loads, durations=run.durations)
        index = run.spec.index
        mine = [shard_of[n] == index for n in nodeids]
        run.nodeids = nodeids
        run.assignments = [assigned(item, default) for item in items]  # the stash's tuples
        run.slice = [n for n, keep in zip(nodeids, mine, strict=True) if keep]
        run.left = len(items) - len(run.slice)
        items[:] = [item for item, keep in zip(items, mine, strict=True) if keep]
        output = getattr(config, "workeroutput", None)
        if output is not None:
            output[WORKER_KEY] = {"nodeids": nodeids,
                                  "assignments": [list(a) for a in run.assignments],
                                  "slice": run.slice, "left": run.left}


class ShardXdistHooks:
    """On the xdist controller (which collects nothing): the workers take the slice."""

    def __init__(self, run: ShardRun) -> None:
        self.run = run

    def pytest_configure_node(self, node: Any) -> None:
        run = self.run
        node.workerinput[WORKER_KEY] = {"index": run.spec.index, "count": run.spec.count,
                                        "durations": run.durations}

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Every worker collected the same suite (xdist checks it): the first one says."""
        data = (getattr(node, "workeroutput", None) or {}).get(WORKER_KEY)
        if self.run.nodeids is not None or not isinstance(data, dict):
            return
        self.run.nodeids = [str(n) for n in data["nodeids"]]
        self.run.assignments = [(str(g), bool(b)) for g, b in data["assignments"]]
        self.run.slice = [str(n) for n in data["slice"]]
        self.run.left = int(data["left"])


def of(config: Any) -> ShardRun | None:
    """This run's shard, or None."""
    stash = getattr(config, "stash", None)
    return stash.get(SHARD_KEY, None) if stash is not None else None


def left_out(config: Any) -> int:
    """Collected tests this shard left to the others (not deselected, not dropped)."""
    run = of(config)
    return run.left if run is not None else 0


def collection_nodeids(config: Any) -> list[str]:
    """Every node id of the whole collection ([] when not sharded): the suite a shard's
    provenance digests is the whole suite, not its slice."""
    run = of(config)
    return list(run.nodeids or []) if run is not None else []


def shared_seed(config: Any) -> int | None:
    """A seed every shard of the run derives alike (from the run id), for generated requests
    no one fixed (the contract gate's): None when not sharded."""
    run = of(config)
    if run is None or not run.run_id:
        return None
    return int.from_bytes(hashlib.sha256(run.run_id.encode()).digest()[:4], "big") % 2**31


def share(config: Any) -> tuple[int, int]:
    """(N, K-1): this process's part of budgets shared by the whole run ((1, 0) unsharded)."""
    run = of(config)
    return (run.spec.count, run.spec.index - 1) if run is not None else (1, 0)


def grouped(collection: list[tuple[str, str, bool]]) -> dict[str, Any]:
    """The collection as the shard record holds it: node ids by gate (in collection order),
    and those that do not block (``advisory``); compact, for 20,000 tests in every shard."""
    gates: dict[str, list[str]] = {}
    for nodeid, gate, _ in collection:
        gates.setdefault(gate, []).append(nodeid)
    return {"gates": gates, "advisory": [n for n, _, blocking in collection if not blocking]}


def record(run: ShardRun, facts: Any, policy_values: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict's ``shard`` object: K/N, the run id, how the suite was split, the whole
    collection and its digest, the slice, the effective policy and the run's facts."""
    collection = run.entries()
    data = asdict(facts)
    for name in NOT_RECORDED:
        data.pop(name, None)
    return {
        "index": run.spec.index,
        "count": run.spec.count,
        "run_id": run.run_id,
        "run_id_source": run.run_id_source,
        "split": run.split_record(),
        "collection": {
            "collected": run.nodeids is not None,
            "digest": collection_digest(collection),
            "count": len(collection),
            **grouped(collection),
        },
        "slice": list(run.slice),
        # As JSON values (a TOML date of an accepted risk is its ISO text, as the policy
        # digest takes it): a signature covers JSON only.
        "policy": json.loads(canonical_json(dict(policy_values))),
        "facts": data,
    }
