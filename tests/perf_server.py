"""A real loopback HTTP server for the performance gate's tests (threaded, Nagle off, port 0)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, fail_every: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_every = fail_every
        self.flaky_count = 0
        self.hits = 0
        self.lock = threading.Lock()
        self.log: list[tuple[float, str]] = []

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()

    def handle_error(self, request: object, client_address: object) -> None:
        # Load generators drop keep-alive connections when they stop: not worth a traceback.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes = b"ok") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.hits += 1
            self.server.log.append((time.time(), path))
        if path == "/slow":
            time.sleep(0.05)
            self._send(200)
        elif path == "/flaky":
            with self.server.lock:
                self.server.flaky_count += 1
                fail = self.server.flaky_count % self.server.fail_every == 0
            self._send(500 if fail else 200, b"boom" if fail else b"ok")
        elif path == "/broken":
            self._send(503, b"down")
        else:
            self._send(200)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:
            self.server.hits += 1
        self._send(201, b"created")

    do_HEAD = do_GET


@contextmanager
def loopback_server(fail_every: int = 200) -> Iterator[_Server]:
    """Serve on 127.0.0.1:<free port>; ``server.server_address`` gives the port."""
    server = _Server(fail_every=fail_every)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def base_url(server: _Server) -> str:
    """``http://127.0.0.1:PORT``."""
    return f"http://127.0.0.1:{server.server_address[1]}"
