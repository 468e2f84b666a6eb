"""Real external ``locust --worker -f -`` processes for master-mode tests (the load farm).

The workers start once the master the plugin runs listens on its port, as an operator's
workers (a Helm release, a second CI job) would connect: nothing here is spawned by the
plugin. Every wait is bounded; every process is killed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def worker_argv(port: int, command: str | None = None) -> list[str]:
    """The worker command line: ``command`` as written (in the docs, with ``locust`` as this
    Python's ``python -m locust`` and the master at 127.0.0.1:``port``), else the plain one."""
    if command is None:
        command = f"locust --worker --master-host 127.0.0.1 --master-port {port} -f -"
    argv = shlex.split(command)
    assert argv[0] == "locust", command
    return [sys.executable, "-m", "locust", *argv[1:]]


def worker_env(tmp: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """A worker's environment with a temp dir of its own: ``-f -`` writes the files it gets
    from the master to the temp dir under their own names, so two workers sharing one (on one
    machine) can import a file the other is rewriting."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {**(os.environ if env is None else env), "TMPDIR": str(tmp)}


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class ExternalWorkers:
    """``count`` worker processes started by a thread once 127.0.0.1:``port`` listens."""

    def __init__(self, port: int, count: int, logs: Path, *, argv: Sequence[str] | None = None,
                 env: dict[str, str] | None = None, wait: float = 90.0) -> None:
        self.port = port
        self.count = count
        self.logs = logs
        self.argv = list(argv or worker_argv(port))
        self.env = env
        self.wait = wait
        self.procs: list[subprocess.Popen[bytes]] = []
        self._thread = threading.Thread(target=self._start, daemon=True)

    def _start(self) -> None:
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline and not listening(self.port):
            time.sleep(0.05)
        for index in range(self.count):
            log = (self.logs / f"worker-{index}.log").open("wb")
            self.procs.append(subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.logs, env=worker_env(self.logs / f"worker-{index}-tmp", self.env),
                start_new_session=True))

    def __enter__(self) -> ExternalWorkers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(self.wait)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def kill_when(self, ready: Callable[[], bool], index: int = 0,
                  timeout: float = 120.0) -> threading.Thread:
        """SIGKILL worker ``index`` (no goodbye to the master) once ``ready()`` is true."""

        def watch() -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if ready() and len(self.procs) > index:
                    with contextlib.suppress(ProcessLookupError):
                        self.procs[index].send_signal(signal.SIGKILL)
                    return
                time.sleep(0.05)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        return thread

    def returncodes(self) -> list[int | None]:
        return [proc.returncode for proc in self.procs]
