"""One live run per report dir: a lock held for the run's whole lifetime.

The first thing an active run does with its report dir (its early placeholder, before pytest
parses options) is to take an exclusive ``flock`` on ``.pytest-staging.lock`` in it, and it
holds it until its exit status is settled. A run that finds the lock taken writes nothing
there and refuses to start, naming the run that holds it. The kernel drops the lock when its
holder dies, however it dies (``kill -9`` included), so a crashed run never blocks the next
one; the lock file itself stays (deleting it would let two runs lock two different files).

xdist workers are part of their controller's run and never lock. ``fcntl`` is imported where
it is used: on a platform without it (Windows) there is no lock, and ``Controller.write()``'s
check of the run id on disk stays the only guard (a GO of another run is never claimed).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

LOCK_NAME = ".pytest-staging.lock"
#: Held locks of this invocation: resolved report dir -> open file descriptor.
LOCKS_KEY = pytest.StashKey[dict[str, int]]()
#: Why this invocation may not touch its report dir ("" when it may).
BUSY_KEY = pytest.StashKey[str]()


def _holder(fd: int) -> dict[str, Any]:
    """What the lock file says of the run holding it ({} while it is being written)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, TypeError, ProcessLookupError):
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def refusal(report_dir: Path, holder: dict[str, Any]) -> str:
    """The one line that says which run holds ``report_dir`` and what to do."""
    pid, run_id = holder.get("pid"), str(holder.get("run_id") or "")
    who = ", ".join(x for x in (
        f"pid {pid}" if pid else "", f"run {run_id[:12]}" if run_id else "",
        f"started {holder['started']}" if holder.get("started") else "") if x) or "unknown"
    if pid and not _alive(pid) and holder.get("host") == socket.gethostname():
        who += "; that process is gone, a process it started still holds the lock"
    return (f"report dir {report_dir} is in use by another run ({who}): wait for it to end, "
            "or give this run its own --staging-report-dir")


def claim(config: pytest.Config, report_dir: Path, run_id: str) -> str:
    """Take ``report_dir`` for this run until ``release()``: "" when it is this run's (taken
    now or before), else the refusal. Where no lock can be taken (no ``fcntl``, a file system
    without locks, a folder that cannot be created) it says "" and the write-time check of the
    verdict's run id remains."""
    locks = config.stash.setdefault(LOCKS_KEY, {})
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return ""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(report_dir)
    except OSError:
        return ""
    if key in locks:
        return ""
    try:
        fd = os.open(Path(key) / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return ""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        message = refusal(report_dir, _holder(fd))
        os.close(fd)
        return message
    except OSError:  # no locks on this file system (ENOLCK): as without fcntl
        os.close(fd)
        return ""
    info = {"pid": os.getpid(), "run_id": run_id, "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")
            .replace("+00:00", "Z")}
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
    locks[key] = fd
    return ""


def release(config: pytest.Config) -> None:
    """Let go of every report dir this invocation holds (closing the file drops the lock)."""
    for fd in config.stash.get(LOCKS_KEY, {}).values():
        with contextlib.suppress(OSError):
            os.close(fd)
    config.stash[LOCKS_KEY] = {}


def busy(config: pytest.Config) -> str:
    """Why this invocation must leave its report dir alone ("" when it may write there)."""
    return config.stash.get(BUSY_KEY, "")
