"""The trace of each test on the process that runs it (``trace_context`` holds the rules).

The run's seed is the controller's run id; xdist workers get it through ``workerinput``
(:data:`WORKER_SEED`), so a test's trace id is the same wherever it is computed: on the worker
whose clients stamp it on requests, on the controller that writes it into verdict.json and
exports the test's span. The trace of a test lives in its item's stash (reruns keep it).
"""

from __future__ import annotations

import uuid

import pytest

from pytest_staging.trace_context import RUN_TRACE_NAME, Trace, derive_trace_id

#: (seed, staging URL) of this process.
SEED_KEY = pytest.StashKey[tuple[str, str]]()
TRACE_KEY = pytest.StashKey[Trace]()
RUN_TRACE_KEY = pytest.StashKey[Trace]()
#: workerinput key carrying the controller's run id to xdist workers.
WORKER_SEED = "staging_trace_seed"
#: JUnit properties of every test case.
JUNIT_TRACE_ID = "staging_trace_id"
JUNIT_TRACE_URL = "staging_trace_url"


def configure(config: pytest.Config, seed: str, url: str) -> None:
    """Seed this process's traces (the run id) for requests to ``url``'s origin."""
    config.stash[SEED_KEY] = (seed or uuid.uuid4().hex, url)


def seed_of(config: pytest.Config) -> str:
    return config.stash[SEED_KEY][0] if SEED_KEY in config.stash else ""


def trace_id_for(config: pytest.Config, nodeid: str) -> str:
    """The trace id of test ``nodeid`` in this run ("" outside an active run)."""
    seed = seed_of(config)
    return derive_trace_id(seed, nodeid) if seed else ""


def trace_of(item: pytest.Item) -> Trace | None:
    """The test's trace, which every client of the test stamps on its requests (None outside
    an active run)."""
    trace = item.stash.get(TRACE_KEY, None)
    if trace is None:
        seeded = item.config.stash.get(SEED_KEY, None)
        if seeded is None:
            return None
        seed, url = seeded
        trace = item.stash[TRACE_KEY] = Trace(derive_trace_id(seed, item.nodeid), url, seed)
    return trace


def run_trace(config: pytest.Config) -> Trace | None:
    """The run's own trace (readiness and version probes), None outside an active run."""
    trace = config.stash.get(RUN_TRACE_KEY, None)
    if trace is None:
        seeded = config.stash.get(SEED_KEY, None)
        if seeded is None:
            return None
        seed, url = seeded
        trace = config.stash[RUN_TRACE_KEY] = Trace(derive_trace_id(seed, RUN_TRACE_NAME), url,
                                                    seed)
    return trace
