"""Real loopback servers for the security gate's tests (threaded stdlib, 127.0.0.1, port 0)."""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Reply = tuple[int, list[tuple[str, str]], bytes]
Route = Callable[[BaseHTTPRequestHandler], Reply]

#: Headers of a page that passes every passive header check.
SECURE_HEADERS: list[tuple[str, str]] = [
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("Server", "staging"),
]


def secure_app(handler: BaseHTTPRequestHandler) -> Reply:
    """A well-configured app: security headers everywhere, a proper 404, hardened cookie."""
    path = handler.path.split("?")[0]
    if path == "/":
        headers = [*SECURE_HEADERS, ("Content-Type", "text/html"),
                   ("Set-Cookie", "sessionid=abc; Path=/; Secure; HttpOnly; SameSite=Lax")]
        return 200, headers, b"<html><title>demo</title><body>ok</body></html>"
    return 404, [*SECURE_HEADERS, ("Content-Type", "text/plain")], b"not found"


class _Handler(BaseHTTPRequestHandler):
    route: Route = staticmethod(secure_app)  # type: ignore[assignment]
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        status, headers, body = type(self).route(self)
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_OPTIONS = do_HEAD = _reply

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # failed TLS handshakes from the probes are expected


@contextlib.contextmanager
def serve(route: Route = secure_app, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``route`` on 127.0.0.1 (HTTPS when ``tls`` is given); yields the base URL."""
    handler = type("Handler", (_Handler,), {"route": staticmethod(route)})
    server = _QuietServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def python_http_server(directory: Path) -> Iterator[str]:
    """Python's own ``http.server`` (a third-party app for these tests) serving ``directory``."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
         "--directory", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"port (\d+)", line)
            if match:
                break
        else:
            raise RuntimeError(f"http.server did not start: {line!r}")
        yield f"http://127.0.0.1:{match.group(1)}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
