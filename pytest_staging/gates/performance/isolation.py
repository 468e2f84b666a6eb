"""Keep load measurements apart from other tests' traffic under pytest-xdist.

Every ordinary test holds a *shared* lock on ``run.lock`` while it runs; a load measurement
takes it *exclusively*, so it starts only when no other test is running on any worker and no
test starts until it ends. A second lock, ``gate.lock``, gives the measurement priority: once it
is waiting, new tests queue behind it instead of starving it. All workers of one run share a
directory derived from xdist's test run id. Each test also appends start/end lines to
``activity.log``, which is how an overlap (e.g. after the lock wait timed out) is detected and
reported rather than assumed away.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any


def _fcntl() -> ModuleType | None:
    """``fcntl``, imported where used: it does not exist on Windows, and the plugin must
    import everywhere pytest runs. Without it a load measurement runs unlocked (a warning)."""
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl


def shared_dir(testrunuid: str, create: bool = True) -> Path:
    """The directory every xdist worker of one run uses for its locks."""
    safe = "".join(c for c in testrunuid if c.isalnum())[:64] or "run"
    path = Path(tempfile.gettempdir()) / f"pytest-staging-{safe}"
    if create:
        path.mkdir(mode=0o700, exist_ok=True)
    return path


@dataclass
class Measurement:
    """How a measurement window went: whether it had the lock and what overlapped it."""

    acquired: bool = False
    waited: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    overlapping: list[str] = field(default_factory=list)
    #: No file locks on this platform (no ``fcntl``): nothing kept other tests out.
    lockless: bool = False

    def warning(self, name: str) -> str | None:
        """A verdict warning when the measurement was not isolated, else None."""
        if self.overlapping:
            shown = ", ".join(self.overlapping[:5])
            more = f" and {len(self.overlapping) - 5} more" if len(self.overlapping) > 5 else ""
            return f"performance: load {name} overlapped other tests: {shown}{more}"
        if self.lockless:
            return (f"performance: load {name} ran without isolation (no file locks on "
                    "this platform)")
        if not self.acquired:
            return (f"performance: load {name} ran without isolation "
                    f"(other tests still running after {self.waited:.0f}s)")  # fmt: skip
        return None


class MeasurementLock:
    """File-lock protocol shared by all processes of one test run."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.activity = self.directory / "activity.log"
        #: This process's shared hold on run.lock while an ordinary test runs, else None.
        self._reader_fd: int | None = None

    def _open(self, name: str) -> int:
        return os.open(self.directory / name, os.O_RDWR | os.O_CREAT, 0o600)

    def _log(self, kind: str, nodeid: str) -> None:
        line = f"{kind} {os.getpid()} {time.time():.6f} {nodeid}\n".encode()
        fd = os.open(self.activity, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def test_running(self, nodeid: str) -> Iterator[None]:
        """Held around an ordinary test: waits while a measurement runs."""
        gate, run = self._open("gate.lock"), self._open("run.lock")
        try:
            self._share(gate, run)
            self._reader_fd = run
            self._log("S", nodeid)
            try:
                yield
            finally:
                self._log("E", nodeid)
        finally:
            self._reader_fd = None
            os.close(run)
            os.close(gate)

    @staticmethod
    def _share(gate: int, run: int) -> None:
        """Take the shared side of run.lock, queueing behind a waiting measurement."""
        fcntl: Any = _fcntl()
        if fcntl is None:
            return
        fcntl.flock(gate, fcntl.LOCK_SH)
        fcntl.flock(run, fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def measurement(self, timeout: float, poll: float = 0.02) -> Iterator[Measurement]:
        """Held around a load run: waits up to ``timeout`` s for running tests to finish.

        On timeout it runs anyway (never hangs the suite) and the result says it was not
        isolated; after the run it lists any test that overlapped the window.
        """
        fcntl: Any = _fcntl()
        info = Measurement(lockless=fcntl is None)
        if fcntl is None:
            info.started = time.time()
            try:
                yield info
            finally:
                info.ended = time.time()
                info.overlapping = self.overlapping(info.started, info.ended)
            return
        # A test that reached staging_load only at run time (request.getfixturevalue) holds
        # the shared side itself: drop it for the measurement, or it would wait on itself.
        own = self._reader_fd
        if own is not None:
            fcntl.flock(own, fcntl.LOCK_UN)
        gate, run = self._open("gate.lock"), self._open("run.lock")
        start_wait = time.monotonic()
        held: list[int] = []
        try:
            for fd in (gate, run):
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        held.append(fd)
                        break
                    except BlockingIOError:
                        if time.monotonic() - start_wait > timeout:
                            break
                        time.sleep(poll)
            info.acquired = len(held) == 2
            info.waited = time.monotonic() - start_wait
            info.started = time.time()
            try:
                yield info
            finally:
                info.ended = time.time()
                info.overlapping = self.overlapping(info.started, info.ended)
        finally:
            os.close(run)
            os.close(gate)
            if own is not None:
                gate_again = self._open("gate.lock")
                try:
                    self._share(gate_again, own)
                finally:
                    os.close(gate_again)

    def overlapping(self, start: float, end: float) -> list[str]:
        """Tests of *other* processes that ran at any moment of ``[start, end]``."""
        try:
            lines = self.activity.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
        me = str(os.getpid())
        spans: dict[tuple[str, str], list[float | None]] = {}
        for line in lines:
            parts = line.split(" ", 3)
            if len(parts) != 4 or parts[1] == me:
                continue
            kind, pid, stamp, nodeid = parts
            key = (pid, nodeid)
            if kind == "S":
                spans[key] = [float(stamp), None]
            elif kind == "E" and key in spans:
                spans[key][1] = float(stamp)
        found = []
        for (_pid, nodeid), (began, finished) in spans.items():
            assert began is not None
            if began < end and (finished is None or finished > start):
                found.append(nodeid)
        return sorted(set(found))
