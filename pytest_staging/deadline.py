"""Total deadlines per request and bounded body reads.

requests' ``timeout`` bounds each socket operation, not the request: a target that drips one
byte a second never trips it. Here the timeout becomes a deadline for the whole request (every
redirect hop, retry and the body of a non-streamed answer). Each connection of a
:class:`DeadlineAdapter` registers itself with the request in progress (a ``ContextVar``);
one watchdog thread shuts the registered sockets down when the deadline passes, which ends a
blocked read at once, for plain HTTP and TLS alike. The socket timeout of each hop is also
clipped to the time left.

:func:`read_capped` reads at most N bytes of a streamed answer, so a 300 MB health page costs
64 KiB, not 300 MB. :func:`tls_handshake` is the same total deadline for a bare TLS handshake
(the security and parity gates' certificate and protocol checks).
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError

if TYPE_CHECKING:
    from pytest_staging.trace_context import Trace

#: Bytes of the health and version answers the plugin reads (the rest is never downloaded).
SMALL_BODY_LIMIT = 65536


class TotalTimeout(requests.exceptions.ReadTimeout):
    """The request did not complete within its total deadline (``total`` seconds)."""

    def __init__(self, *args: object, total: float | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.total = total


class Deadline:
    """The deadline of one request (all its hops) and the connections working for it."""

    def __init__(self, total: float) -> None:
        self.total = total
        self.at = time.monotonic() + total
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[Any] = []

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        """Whether the deadline is over: cut by the watchdog, or a socket time-out (clipped to
        the time left) fired just before the watchdog got to it. Either way the request ran
        out of its total time, and says so the same way."""
        return self.expired or self.remaining() <= 0

    def register(self, connection: Any) -> None:
        with self._lock:
            connection.staging_deadline = self
            self._connections.append(connection)
            expired = self.expired
        if expired:
            _cut(connection)

    def expire(self) -> None:
        """Shut down every socket still working for this request (the watchdog calls it)."""
        with self._lock:
            self.expired = True
            connections, self._connections = self._connections, []
        for connection in connections:
            # A connection back in the pool and taken by a later request is not ours to cut.
            if getattr(connection, "staging_deadline", None) is self:
                _cut(connection)

    def release(self) -> None:
        """The request is over: its connections may serve other requests untouched."""
        _WATCHDOG.cancel(self)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            if getattr(connection, "staging_deadline", None) is self:
                connection.staging_deadline = None

    def error(self) -> TotalTimeout:
        return TotalTimeout(f"no complete answer within {seconds(self.total)}s (total "
                            f"deadline of the request)", total=self.total)


def seconds(total: float) -> str:
    """``10``, ``2.5``, ``1`` (a wait clipped to 0.999848 s reads as the second it is)."""
    return f"{round(total, 2):g}"


def _cut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # Through a duplicate of the descriptor: shutting down an SSLSocket itself drops its
        # TLS state under the feet of the thread reading from it.
        with socket.socket(fileno=_dup(sock)) as twin:
            twin.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass


def _dup(sock: socket.socket) -> int:
    return os.dup(sock.fileno())


class _Watchdog:
    """One daemon thread that expires deadlines in time order (no thread per request)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cancelled: set[int] = set()
        self._ids: dict[int, int] = {}
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline) -> None:
        with self._cond:
            number = next(self._counter)
            self._ids[id(deadline)] = number
            heapq.heappush(self._heap, (deadline.at, number, deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pytest-staging-deadline",
                                                daemon=True)
                self._thread.start()
            if self._heap[0][1] == number:
                # Only an earlier deadline than the one the thread sleeps towards wakes it.
                self._cond.notify()

    def cancel(self, deadline: Deadline) -> None:
        with self._cond:
            number = self._ids.pop(id(deadline), None)
            if number is not None:
                self._cancelled.add(number)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                at, number, deadline = self._heap[0]
                if number in self._cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled.discard(number)
                    continue
                wait = at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._ids.pop(id(deadline), None)
            deadline.expire()


_WATCHDOG = _Watchdog()
_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "pytest_staging_deadline", default=None)


class _Registering:
    """Mixin of the connection classes: join the current request's deadline on every use."""

    def connect(self) -> None:
        deadline = _CURRENT.get()
        if deadline is not None:
            if deadline.remaining() <= 0:
                raise ConnectTimeoutError(self, "the request's total deadline has passed")
            deadline.register(self)
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = _CURRENT.get()
        if deadline is not None:
            deadline.register(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class DeadlineHTTPConnection(_Registering, HTTPConnection):
    pass


class DeadlineHTTPSConnection(_Registering, HTTPSConnection):
    pass


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


POOL_CLASSES = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections can be cut at a request's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(POOL_CLASSES)
        return manager


def total_of(timeout: Any) -> float | None:
    """The total seconds a requests ``timeout`` allows: a number, or connect + read."""
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        parts = [t for t in timeout if t is not None]
        return float(sum(parts)) if len(parts) == len(timeout) else None
    return float(timeout)


def _clip(timeout: Any, remaining: float) -> Any:
    if isinstance(timeout, tuple):
        return tuple(remaining if t is None else min(float(t), remaining) for t in timeout)
    return remaining if timeout is None else min(float(timeout), remaining)


class DeadlineSession(requests.Session):
    """A ``requests.Session`` where ``timeout`` is a total deadline per request.

    ``adapter`` replaces the default :class:`DeadlineAdapter` (e.g. one shared by several
    sessions); it should be a DeadlineAdapter for a drip to be cut, otherwise only the
    per-operation socket timeout clipping applies.

    ``trace`` (a :class:`~pytest_staging.trace_context.Trace`) stamps W3C trace context on
    every request and redirect hop to the staging origin; None (the default, and the parity
    gate's compare client) sends none.
    """

    def __init__(self, *, adapter: HTTPAdapter | None = None, trace: Trace | None = None
                 ) -> None:
        super().__init__()
        adapter = adapter if adapter is not None else DeadlineAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.trace = trace

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.trace is not None:
            # Every hop passes here (requests sends redirects through send()): the hop's
            # origin decides, and a hop elsewhere loses the header the last one had.
            self.trace.stamp(request.headers, str(request.url or ""))
        deadline = _CURRENT.get()
        outer = deadline is None
        token = None
        if outer:
            total = total_of(kwargs.get("timeout"))
            if total is None:
                return super().send(request, **kwargs)
            deadline = Deadline(total)
            token = _CURRENT.set(deadline)
            _WATCHDOG.arm(deadline)
        assert deadline is not None
        done = False
        try:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise deadline.error()
            kwargs["timeout"] = _clip(kwargs.get("timeout"), remaining)
            try:
                response = super().send(request, **kwargs)
            except requests.RequestException as exc:
                if deadline.passed() and not isinstance(exc, TotalTimeout):
                    raise deadline.error() from None
                raise
            if outer:
                response.staging_deadline = deadline  # type: ignore[attr-defined]
                # A streamed body is read later: the deadline keeps guarding it until then.
                done = not kwargs.get("stream")
            return response
        except BaseException:
            done = True
            raise
        finally:
            if outer:
                _CURRENT.reset(token)  # type: ignore[arg-type]
                if done:
                    deadline.release()


def read_capped(response: requests.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of a streamed ``response``, then close it.

    Raises :class:`TotalTimeout` when the request's deadline cut the body short.
    """
    deadline: Deadline | None = getattr(response, "staging_deadline", None)
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(8192):
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
            if deadline is not None and deadline.remaining() <= 0:
                raise deadline.error()
    except requests.RequestException as exc:
        if deadline is not None and deadline.passed() and not isinstance(exc, TotalTimeout):
            raise deadline.error() from None
        raise
    finally:
        response.close()
        if deadline is not None:
            deadline.release()
    return b"".join(chunks)[:limit]


def response_text(response: requests.Response, body: bytes) -> str:
    return body.decode(response.encoding or "utf-8", errors="replace")


def tls_handshake(host: str, port: int, context: ssl.SSLContext, timeout: float
                  ) -> tuple[dict[str, Any], bytes | None, str | None]:
    """Connect and complete a TLS handshake within ``timeout`` seconds in total: (the verified
    certificate as a dict, or {} when unverified; the DER certificate; the protocol version).

    CPython bounds a whole handshake by the socket's timeout (not each read), so a handshake
    that drips is cut; the connect's time is taken off what the handshake gets.
    """
    at = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as raw:
        remaining = at - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no TLS handshake with {host}:{port} within {timeout:g}s")
        raw.settimeout(remaining)
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.getpeercert() or {}, tls.getpeercert(binary_form=True), tls.version()
