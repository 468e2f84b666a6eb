"""``pytest.exit()`` inside an xdist worker, as the run's verdict names it.

A worker that stops with pytest's "interrupted" status (2) is a stop xdist knows: it shuts the
run down. Any other ``returncode`` (``pytest.exit("msg")`` with its default 0 included on some
paths, ``returncode=1``) reaches xdist as a worker that finished with tests still pending, and
xdist's own ``assert not crashitem`` becomes the run's internal error: the verdict said
"internal error: assert not 'test_x.py::test_y'". On a worker of an active run the stop is
made an interruption (returncode 2, as a serial run's ``pytest.exit`` is) and its message
travels to the controller in ``workeroutput``, which names it: "pytest.exit() in worker gw1:
msg".
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_staging.printable import one_line

#: The workeroutput key: ``{"worker": id, "message": text}`` (builtins only).
WORKER_KEY = "staging_exit"


class WorkerExitHooks:
    """Registered on the xdist workers of an active run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def _stopped(self, exc: BaseException) -> None:
        output = getattr(self.config, "workeroutput", None)
        if output is None or WORKER_KEY in output:
            return
        worker = str((getattr(self.config, "workerinput", None) or {}).get("workerid", ""))
        message = str(getattr(exc, "msg", "") or "").strip().splitlines() or [""]
        output[WORKER_KEY] = {"worker": worker or "worker", "message": one_line(message[0], 300)}
        # The run stops here, as pytest.exit() means: xdist shuts down on a worker's 2.
        exc.returncode = pytest.ExitCode.INTERRUPTED  # type: ignore[attr-defined]

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except pytest.exit.Exception as exc:
            self._stopped(exc)
            raise

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, Any, Any]:
        try:
            return (yield)
        except pytest.exit.Exception as exc:
            self._stopped(exc)
            raise


def described(output: dict[str, Any]) -> str:
    """The controller's words for a worker's ``pytest.exit()`` ("" when it did not stop)."""
    stop = output.get(WORKER_KEY)
    if not isinstance(stop, dict):
        return ""
    message = str(stop.get("message") or "")
    return f"pytest.exit() in worker {stop.get('worker') or 'worker'}" + (
        f": {message}" if message else "")
