"""Hostile loopback targets for the deadline and body-cap tests: a server that drips its answer
one byte at a time, and one that sends an endless (or huge) body. Plain socket servers, so the
pace is exactly what the test asks for."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Literal

Mode = Literal["headers", "body", "huge", "handshake"]


class DripServer:
    """``headers``: the status line and headers arrive one byte per ``pace`` seconds;
    ``body``: headers at once, then the body one byte per ``pace``; ``huge``: a body of
    ``size`` bytes as fast as the client reads it; ``handshake``: answers whatever arrives
    first with the start of a TLS record, one byte per ``pace`` (a handshake that drips).
    ``/health`` on a ``healthy_health`` server answers at once (so readiness passes and the
    drip hits a test or the version check)."""

    def __init__(self, mode: Mode, *, pace: float = 1.0, size: int = 300 * 1024 * 1024,
                 ssl_context: ssl.SSLContext | None = None, healthy_health: bool = False,
                 drip_path: str = "") -> None:
        self.mode, self.pace, self.size = mode, pace, size
        self.healthy_health = healthy_health
        self.drip_path = drip_path
        self._ssl = ssl_context
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._stop = threading.Event()
        self.served = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://127.0.0.1:{self._sock.getsockname()[1]}/"

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._ssl is not None:
                conn = self._ssl.wrap_socket(conn, server_side=True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.mode == "handshake":
                conn.recv(4096)
                record = b"\x16\x03\x03\x40\x00" + b"\x02" * 200  # a ServerHello, slowly
                for i in range(len(record)):
                    if self._stop.is_set():
                        return
                    conn.sendall(record[i:i + 1])
                    time.sleep(self.pace)
                return
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            self.served += 1
            path = request.split(b" ", 2)[1].decode()
            plain = path.split("?")[0]
            if (self.healthy_health and plain == "/health") or (
                    self.drip_path and plain != self.drip_path):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 15\r\nConnection: close\r\n\r\n"
                             b'{"status":"ok"}')
                return
            if self.mode == "huge":
                self._huge(conn)
            else:
                self._drip(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def _drip(self, conn: socket.socket) -> None:
        body = b'{"version": "1.0.0", "status": "ok"}' + b" " * 200
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        if self.mode == "headers":
            slow, fast = head + body, b""
        else:
            conn.sendall(head)
            slow, fast = body, b""
        for i in range(len(slow)):
            if self._stop.is_set():
                return
            conn.sendall(slow[i:i + 1])
            time.sleep(self.pace)
        conn.sendall(fast)

    def _huge(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(self.size).encode() + b"\r\n\r\n")
        chunk = b"x" * 65536
        sent = 0
        while sent < self.size and not self._stop.is_set():
            conn.sendall(chunk)
            sent += len(chunk)
