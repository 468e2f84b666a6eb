"""``--staging-perf-baseline=last-go``: the load metrics of the last GO on the same target,
read from the history store (by whichever process runs the load: an xdist worker reads, it
never writes). ``max_regression`` is then judged by ``gates/performance/baseline.compare`` as
for a baseline file. No pytest import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_staging.history.store import StoreError, last_go, load_metrics, open_store


def last_go_loads(path: str | Path, target: str) -> tuple[dict[str, Any] | None, str]:
    """``({load: metrics}, "the last GO (run ..., finished ...)")`` of ``target``, or
    ``(None, why)`` when the store has no GO for it yet. Raises StoreError when the store
    exists but cannot be read: the verdict depends on it, so the caller fails closed."""
    file = Path(path)
    if not file.is_file() or file.stat().st_size == 0:
        return None, f"history store {file} does not exist yet"
    with open_store(file, write=False) as store:
        row = last_go(store, target)
        if row is None:
            return None, f"history store {file} has no GO for {target}"
        return load_metrics(store, int(row["id"])), (
            f"the last GO (run {str(row['run_id'])[:12]}, finished {row['finished']})")


__all__ = ["StoreError", "last_go_loads"]
