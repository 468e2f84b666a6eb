"""A KeyboardInterrupt Python could not raise. In a ``__del__``, a weakref finalizer or a gc
callback it is "ignored" (``sys.unraisablehook``): the run goes on as if nothing happened, and
pytest's warnings summary shows its traceback. A Ctrl-C (or the KeyboardInterrupt of the
controller's SIGINT/SIGTERM handler) that lands there is an interruption all the same: it is
recorded, the verdict is NO-GO, and pytest's warning about it keeps its one line, without the
traceback.

Installed at session start (over pytest's own hook, installed at configure) on every process of
an active run: the serial run, the xdist controller and each worker, whose record travels to
the controller in ``workeroutput``.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import pytest

from pytest_staging.printable import one_line

LOST_KEY = pytest.StashKey[list[str]]()
#: The workeroutput key of a worker's record (a list of str).
WORKER_KEY = "staging_lost_interrupts"


class _WithoutTraceback:
    """The unraisable's fields for pytest's hook, minus the traceback (its one line stays)."""

    def __init__(self, unraisable: Any) -> None:
        self.exc_type = unraisable.exc_type
        self.exc_value = unraisable.exc_value
        self.exc_traceback = None
        self.err_msg = unraisable.err_msg
        self.object = unraisable.object


def install(config: pytest.Config) -> None:
    """Record every unraisable KeyboardInterrupt of this process from now on."""
    if LOST_KEY in config.stash:
        return
    lost: list[str] = []
    config.stash[LOST_KEY] = lost
    output = getattr(config, "workeroutput", None)
    if output is not None:
        output[WORKER_KEY] = lost  # the same list: filled until the worker ends
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        exc_type = unraisable.exc_type
        if exc_type is None or not issubclass(exc_type, KeyboardInterrupt):
            previous(unraisable)
            return
        where = unraisable.err_msg or "Exception ignored in"
        lost.append(one_line(f"{exc_type.__name__} in a finalizer, which Python ignored "
                             f"({where}: {unraisable.object!r})", 300))
        if previous is not sys.__unraisablehook__:
            # pytest's hook turns it into a warning: say it, without the traceback.
            with contextlib.suppress(Exception):
                previous(_WithoutTraceback(unraisable))

    sys.unraisablehook = hook

    def restore() -> None:
        if sys.unraisablehook is hook:
            sys.unraisablehook = previous

    config.add_cleanup(restore)


def recorded(config: pytest.Config) -> list[str]:
    """This process's unraisable KeyboardInterrupts so far."""
    return list(config.stash.get(LOST_KEY, []))


class LostInterruptHooks:
    """Registered on every process of an active run that runs tests."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        install(session.config)
