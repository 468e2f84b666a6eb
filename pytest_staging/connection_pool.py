"""One urllib3 connection pool per pytest process (a serial run or one xdist worker), shared by
the per-test ``staging`` sessions.

Each test still gets its own ``StagingSession`` (own cookies, headers and evidence), but the
sessions mount the same ``SharedAdapter``: a test reuses the kept-alive connection (and TLS
session) of the test before it instead of paying a new TCP + TLS handshake. Closing a test's
session leaves the pool open; the pool closes when the pytest process ends (``config``
cleanup).
"""

from __future__ import annotations

import pytest

from pytest_staging.client import make_retry
from pytest_staging.deadline import DeadlineAdapter

#: Adapters of this process by retry count (the policy's ``target.retries``).
POOL_KEY = pytest.StashKey[dict[int, "SharedAdapter"]]()


class SharedAdapter(DeadlineAdapter):
    """A ``DeadlineAdapter`` (connections cut at each request's total deadline) whose
    connections outlive the sessions it is mounted on."""

    def close(self) -> None:
        """A session closing (the end of one test) keeps the process's pool open."""

    def close_pool(self) -> None:
        """Close every pooled connection (at the end of the pytest process)."""
        super().close()


def shared_adapter(config: pytest.Config, retries: int) -> SharedAdapter:
    """This process's adapter for ``retries``, created on first use."""
    adapters = config.stash.get(POOL_KEY, None)
    if adapters is None:
        adapters = config.stash[POOL_KEY] = {}
        config.add_cleanup(lambda: close_shared(config))
    adapter = adapters.get(retries)
    if adapter is None:
        adapter = adapters[retries] = SharedAdapter(max_retries=make_retry(retries))
    return adapter


def close_shared(config: pytest.Config) -> None:
    """Close and forget this process's pooled connections."""
    adapters = config.stash.get(POOL_KEY, None)
    if adapters is None:
        return
    del config.stash[POOL_KEY]
    for adapter in adapters.values():
        adapter.close_pool()
