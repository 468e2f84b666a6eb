"""The hunter's loopback target: a real HTTP server on 127.0.0.1 with the scenario's fault, that
keeps its own log of what it answered (the oracle's evidence of readiness and redeploys)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from servers import LoopbackServer, Request, json_answer

from .scenario import DEPLOYED_VERSION, VERSION, Target


class HuntTarget:
    """``fault``: none | down (nothing listens) | health500 | slow_within / slow_beyond (the
    health check answers 503 until ``ready_after`` seconds after its first poll) | api500
    (``/api/*`` answers 500) | version_drift (``POST /_deploy`` changes the version) |
    version_mismatch (served like none)."""

    def __init__(self, spec: Target) -> None:
        self.spec = spec
        self.lock = threading.Lock()
        self.server: LoopbackServer | None = None
        self._held: socket.socket | None = None
        self.reset()

    def reset(self) -> None:
        """Forget what was answered and undo a redeploy (between a run and its --lf rerun)."""
        with self.lock:
            self.version = VERSION
            self.first_health: float | None = None
            self.health_ok_at: float | None = None
            self.deployed_at: float | None = None

    def start(self) -> HuntTarget:
        if self.spec.fault == "down":
            # Bound, never listening: a connection is refused, and no other server can take
            # the port while the run is going.
            self._held = socket.socket()
            self._held.bind(("127.0.0.1", 0))
            return self
        server = LoopbackServer()
        server.default = self._answer  # type: ignore[method-assign]
        self.server = server.start()
        return self

    @property
    def url(self) -> str:
        if self._held is not None:
            return f"http://127.0.0.1:{self._held.getsockname()[1]}/"
        assert self.server is not None
        return self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self._held is not None:
            self._held.close()

    def _answer(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        path = req.path.split("?", 1)[0]
        fault = self.spec.fault
        now = time.monotonic()
        with self.lock:
            if path == "/health":
                if self.first_health is None:
                    self.first_health = now
                if fault == "health500":
                    return json_answer({"status": "broken"}, 500)
                if fault.startswith("slow") and now < self.first_health + self.spec.ready_after:
                    return json_answer({"status": "starting"}, 503)
                if self.health_ok_at is None:
                    self.health_ok_at = now
                return json_answer({"status": "ok"})
            if path in ("/version", "/meta/build"):
                return json_answer({"version": self.version, "build": {"id": self.version}})
            if path == "/_deploy" and req.method == "POST":
                self.version = DEPLOYED_VERSION
                self.deployed_at = now
                return json_answer({"deployed": self.version})
            if path.startswith("/api/"):
                if fault == "api500":
                    return json_answer({"error": "internal"}, 500)
                return json_answer({"item": path.rsplit("/", 1)[-1]})
        return json_answer({"error": "not found"}, 404)

    def log(self) -> dict[str, Any]:
        with self.lock:
            return {"health_ok": self.health_ok_at is not None,
                    "deployed": self.deployed_at is not None,
                    "ready_after": (None if self.health_ok_at is None or self.first_health is None
                                    else round(self.health_ok_at - self.first_health, 3))}
