"""Two loopback environments (production and staging) for the parity gate's tests.

Each :class:`Environment` is a real threaded HTTP server on 127.0.0.1 that answers every method
(so a request the comparison must never send is seen and counted, not refused by the stdlib
with a 501), records each request, and serves JSON documents by path.
"""

from __future__ import annotations

import copy
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HARDENED = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}
DOCUMENTS: dict[str, Any] = {
    "/health": {"status": "ok", "db_schema": "42"},
    "/version": {"version": "1.0.0"},
    "/api/products": {"items": [{"id": 1, "name": "mug", "price_cents": 900,
                                 "tags": ["kitchen"]}],
                      "total": 1, "next": None},
}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass
class Environment:
    """A deployed environment: security headers on every answer, JSON documents by path."""

    headers: dict[str, str] = field(default_factory=lambda: dict(HARDENED))
    documents: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DOCUMENTS))
    seen: list[Seen] = field(default_factory=list)
    #: path -> Location: answered with a 302 (e.g. a redirect loop to spend a budget).
    redirects: dict[str, str] = field(default_factory=dict)
    #: Serve HTTPS with this context (e.g. from trustme) instead of plain HTTP.
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                owner.seen.append(Seen(self.command, self.path, dict(self.headers)))
                if path in owner.redirects:
                    status, body, kind = 302, b"", "text/plain"
                elif path == "/":
                    status, body, kind = 200, b"<html><body>shop</body></html>", "text/html"
                elif path in owner.documents:
                    status, body = 200, json.dumps(_echo(owner.documents[path],
                                                         dict(self.headers))).encode()
                    kind = "application/json"
                else:
                    status, body, kind = 404, b'{"error": "not found"}', "application/json"
                self.send_response(status)
                for name, value in owner.headers.items():
                    self.send_header(name, value)
                if path in owner.redirects:
                    self.send_header("Location", owner.redirects[path])
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = _Server(("127.0.0.1", 0), Handler)
        if self.ssl_context is not None:
            self._server.socket = self.ssl_context.wrap_socket(self._server.socket,
                                                               server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}/"

    def methods(self) -> set[str]:
        return {s.method for s in self.seen}

    def start(self) -> Environment:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _echo(value: Any, headers: dict[str, str]) -> Any:
    """``"<echo:Name>"`` in a document becomes the request's header ``Name`` (a server that
    reflects a credential: what the redaction must survive)."""
    if isinstance(value, str) and value.startswith("<echo:") and value.endswith(">"):
        return headers.get(value[6:-1], "")
    if isinstance(value, dict):
        return {k: _echo(v, headers) for k, v in value.items()}
    if isinstance(value, list):
        return [_echo(v, headers) for v in value]
    return value
