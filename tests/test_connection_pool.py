"""The ``staging`` sessions of one process share one connection pool, not their cookies."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from servers import LoopbackServer, json_answer

from pytest_staging.client import StagingSession
from pytest_staging.connection_pool import SharedAdapter


def count_connections(srv: LoopbackServer) -> list[int]:
    """A one-item list counting the TCP connections ``srv`` accepts from now on."""
    count = [0]
    lock = threading.Lock()
    accept = srv._server.process_request

    def counting(request: Any, client_address: Any) -> None:
        with lock:
            count[0] += 1
        accept(request, client_address)

    srv._server.process_request = counting  # type: ignore[method-assign]
    return count


def test_closing_a_session_keeps_the_shared_pool(tls_server: LoopbackServer, tls_ca,
                                                 tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    connections = count_connections(tls_server)
    adapter = SharedAdapter()
    for _ in range(5):
        client = StagingSession(tls_server.url, verify=str(bundle), adapter=adapter)
        assert client.get("/health").json() == {"status": "ok"}
        client.close()
    assert connections[0] == 1
    adapter.close_pool()
    client = StagingSession(tls_server.url, verify=str(bundle), adapter=adapter)
    assert client.get("/health").ok
    assert connections[0] == 2


#: tests/conftest.py's run modes (not imported: tests/faults has a conftest module too).
MODES = {"serial": ["-p", "no:xdist"], "xdist": ["-n", "2"]}

SUITE = """
import pytest

def test_a_logs_in(staging):
    assert staging.get("/login").ok
    assert staging.cookies.get("sid") == "secret-session"
    staging.headers["X-Only-A"] = "1"

def test_b_starts_clean(staging):
    assert not staging.cookies
    assert "X-Only-A" not in staging.headers
    assert staging.get("/echo").json() == {"cookie": None, "x_only_a": None}

@pytest.mark.parametrize("n", range(8))
def test_more(staging, n):
    assert staging.get("/health").ok
"""


@pytest.mark.parametrize("mode", list(MODES))
def test_tests_reuse_connections_but_not_cookies(run_staging, pytester: pytest.Pytester,
                                                 tls_server: LoopbackServer, tls_ca,
                                                 mode: str) -> None:
    tls_server.routes["/login"] = lambda req: json_answer(
        {"ok": True}, **{"Set-Cookie": "sid=secret-session; Path=/"})
    tls_server.routes["/echo"] = lambda req: json_answer(
        {"cookie": req.headers.get("Cookie"), "x_only_a": req.headers.get("X-Only-A")})
    bundle = pytester.path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    pytester.makepyfile(test_pool=SUITE)
    connections = count_connections(tls_server)
    # -p 1: one worker, so both tests of the cookie check run in the same process.
    extra = ["-n", "1"] if mode == "xdist" else MODES[mode]
    run = run_staging(*extra, "--staging-gate=integration", f"--staging-ca-bundle={bundle}",
                      url=tls_server.url)
    assert run.ret == 0, run.output
    assert run.verdict["verdict"] == "GO"
    tested = [r for r in tls_server.requests if r.path in ("/login", "/echo", "/health")]
    assert len(tested) >= 10
    # Ten tests' requests, plus the controller's readiness checks: without the shared pool
    # every test opened its own connection (and TLS handshake).
    assert connections[0] <= 4, connections[0]
