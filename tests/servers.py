"""Real HTTP servers on 127.0.0.1 for the plugin's tests (threaded stdlib, Nagle off, port 0)."""

from __future__ import annotations

import atexit
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A route answers (status, headers, body) for a request.
Answer = tuple[int, dict[str, str], bytes]
Route = Callable[["Request"], Answer]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def json_answer(data: Any, status: int = 200, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode()


def text_answer(text: str, status: int = 200, **headers: str) -> Answer:
    return status, {"Content-Type": "text/plain; charset=utf-8", **headers}, text.encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed TLS handshakes and clients that hang up are part of the tests, not news.
        pass


#: What the security gate's built-in header checks ask of a hardened target.
HARDENED_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass
class LoopbackServer:
    """A programmable HTTP server: ``routes`` maps "METHOD /path" (or "/path") to a Route."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    version: str = "1.0.0"
    #: Serve HTTPS with this context (e.g. from trustme) instead of plain HTTP.
    ssl_context: ssl.SSLContext | None = None
    #: Headers added to every answer (e.g. HARDENED_HEADERS for a target the security gate
    #: must find clean).
    always_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"


            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                req = Request(self.command, self.path, dict(self.headers), body)
                owner.requests.append(req)
                route = owner.routes.get(f"{self.command} {path}") or owner.routes.get(path)
                if route is None:
                    status, headers, payload = owner.default(req)
                else:
                    status, headers, payload = route(req)
                self.send_response(status)
                for name, value in {**owner.always_headers, **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        self._server = _Server(("127.0.0.1", 0), Handler)
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket,
                                                               server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def default(self, req: Request) -> Answer:
        path = req.path.split("?", 1)[0]
        if path == "/version":
            return json_answer({"version": self.version})
        if path in ("/", "/health"):
            return json_answer({"status": "ok"})
        return json_answer({"error": "not found"}, 404)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{port}/"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SilentServer:
    """Accepts TCP connections and never answers a byte: every request times out."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        # The kernel completes the handshakes from the backlog; nobody ever reads.
        self._sock.listen(64)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/"

    def stop(self) -> None:
        self._sock.close()


#: Sockets bound without listening, held for the life of the test process (see free_port).
_HELD: list[socket.socket] = []


@atexit.register
def _release_held() -> None:
    for sock in _HELD:
        sock.close()


def free_port() -> int:
    """A port where a connection is refused, for connection-refused tests. The port stays bound
    (never listening) until the process ends: released, another test's server could take it
    between this call and the connection, and the test would reach a live server."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
