"""A real Playwright browser server on loopback: ``python -m playwright run-server`` (the
driver ships in the Python package), in its own process group so the test can stop it, or kill
it in the middle of a journey. Every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

START_TIMEOUT = 60.0


class BrowserServer:
    """``playwright run-server --host 127.0.0.1 --port 0`` (``--unsafe``: clients may name the
    browser executable), or ``argv``; ``ws`` is the endpoint it printed."""

    def __init__(self, log: Path, *, unsafe: bool = True,
                 argv: list[str] | None = None) -> None:
        if argv is None:
            argv = [sys.executable, "-m", "playwright", "run-server", "--host", "127.0.0.1",
                    "--port", "0", *(["--unsafe"] if unsafe else [])]
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log.open("wb"),
                                     stdin=subprocess.PIPE, start_new_session=True)
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                lines.put(raw.decode(errors="replace"))

        threading.Thread(target=read, daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"playwright run-server printed nothing in {START_TIMEOUT}s; "
                               f"see {log}") from None
        assert first.startswith("Listening on ws://"), first
        self.ws = first.removeprefix("Listening on ").strip()

    @property
    def port(self) -> int:
        return int(self.ws.rsplit(":", 1)[1].split("/", 1)[0])

    def kill(self) -> None:
        """SIGKILL the whole group (the Python wrapper and its Node driver): no goodbye."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue
