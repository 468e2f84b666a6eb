"""pytest_staging.deadline: a request's timeout is a total deadline (a drip is cut), over plain
HTTP and TLS, streamed or not, across redirects; the plugin's own reads are capped."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from drip_servers import DripServer
from servers import LoopbackServer, json_answer

from pytest_staging.client import StagingSession
from pytest_staging.deadline import DeadlineAdapter, DeadlineSession, TotalTimeout, read_capped
from pytest_staging.target import fetch_version, wait_ready

#: Slack over the deadline a cut may take on a loaded 2-core machine.
SLACK = 1.0


@pytest.fixture
def tls_context(tls_ca: Any, tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    return context, str(bundle)


@pytest.fixture(params=["http", "https"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def drip(mode: str, scheme: str, tls: tuple[ssl.SSLContext, str] | None,
         **kwargs: Any) -> tuple[DripServer, bool | str]:
    if scheme == "https":
        assert tls is not None
        return DripServer(mode, ssl_context=tls[0], **kwargs), tls[1]  # type: ignore[arg-type]
    return DripServer(mode, **kwargs), True  # type: ignore[arg-type]


@pytest.fixture
def maybe_tls(scheme: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield request.getfixturevalue("tls_context") if scheme == "https" else None


@pytest.mark.parametrize("mode", ["headers", "body"])
@pytest.mark.parametrize("stream", [False, True])
def test_drip_is_cut_at_the_deadline(mode: str, stream: bool, scheme: str,
                                     maybe_tls: Any) -> None:
    server, verify = drip(mode, scheme, maybe_tls, pace=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(requests.exceptions.Timeout, match="total deadline"), \
                DeadlineSession() as session:
            response = session.get(server.url + "slow", timeout=1.0, verify=verify,
                                   stream=stream)
            read_capped(response, 1 << 20)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert 0.9 <= elapsed < 1.0 + SLACK, elapsed


def test_staging_client_drip_and_redirects_share_one_deadline(server: LoopbackServer) -> None:
    slow = DripServer("body", pace=0.2)
    server.routes["/hop"] = lambda req: (307, {"Location": slow.url + "x"}, b"")
    client = StagingSession(server.url, timeout=1.2, retries=0)
    try:
        started = time.monotonic()
        with pytest.raises(TotalTimeout):
            client.get("/hop")
        elapsed = time.monotonic() - started
    finally:
        slow.stop()
        client.close()
    assert elapsed < 1.2 + SLACK, elapsed
    # The evidence says what happened, in one line.
    assert "total deadline" in client.exchanges[-1].error


def test_connections_are_reused_and_not_cut_after_the_request(server: LoopbackServer) -> None:
    adapter = DeadlineAdapter()
    client = StagingSession(server.url, timeout=0.5, retries=0, adapter=adapter)
    try:
        for _ in range(3):
            assert client.get("/health").status_code == 200
        time.sleep(0.8)  # past every earlier deadline: the pooled connection must survive
        assert client.get("/health").status_code == 200
        # One TCP connection served every request (keep-alive through the given adapter).
        pools = adapter.poolmanager.pools
        counts = [(pools[k].num_connections, pools[k].num_requests) for k in pools.keys()]  # noqa: SIM118
        assert counts == [(1, 4)]
    finally:
        client.close()


def test_readiness_drip_is_bounded_by_wait(scheme: str, maybe_tls: Any) -> None:
    server, verify = drip("body", scheme, maybe_tls, pace=1.0)
    try:
        started = time.monotonic()
        result = wait_ready(server.url, "/health", wait=2.0, interval=0.1, verify=verify)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert not result.ready and "timed out" in result.reason
    assert elapsed < 2.0 + SLACK, elapsed


def test_version_drip_is_bounded_by_timeout() -> None:
    server = DripServer("headers", pace=0.5)
    try:
        started = time.monotonic()
        version, why = fetch_version(server.url, "/version", timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert version is None and "timed out" in why
    assert elapsed < 1.0 + SLACK, elapsed


def test_version_endpoint_reads_a_capped_body(server: LoopbackServer) -> None:
    server.routes["/version"] = lambda req: json_answer({"version": "2.0.0", "pad": "x" * 200000})
    version, why = fetch_version(server.url, "/version", timeout=5)
    # 200 kB of JSON is cut at 64 KiB: not a version, and said so (never read whole).
    assert version is None and "neither JSON nor a plain version" in why


RSS_PROBE = """
import json, resource, sys
from pytest_staging.target import wait_ready, fetch_version
from pytest_staging.gates.security.http_checks import check_headers
from pytest_staging.deadline import DeadlineSession
url = sys.argv[1]
ready = wait_ready(url, "/health", wait=20, interval=0.1)
version = fetch_version(url, "/version", timeout=20)
with DeadlineSession() as session:
    findings = check_headers(session, url, timeout=20)

def peak_rss_kb():
    # VmHWM is this process's own peak (its memory since exec). ru_maxrss is not: on Linux it
    # keeps the high-water mark of the forked copy of the parent (a big xdist worker).
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

print(json.dumps({"ready": ready.ready, "version": version[0], "rss_kb": peak_rss_kb()}))
"""


def test_huge_bodies_are_never_read_into_memory(tmp_path: Path) -> None:
    pytest.importorskip("resource")
    server = DripServer("huge", size=300 * 1024 * 1024)
    try:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", RSS_PROBE, server.url], capture_output=True,
                              text=True, timeout=60, check=True)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ready"] is True
    # 300 MB read whole would be > 600 MB of RSS; capped reads stay at the interpreter's size.
    assert result["rss_kb"] < 150 * 1024, result
    assert elapsed < 30, elapsed


def test_transport_handshake_drip_is_bounded() -> None:
    from pytest_staging.gates.security.http_checks import SecurityCheckError
    from pytest_staging.gates.security.transport import check_certificate

    # Answers the ClientHello one byte at a time. CPython's ssl module bounds the whole
    # handshake by the socket timeout (not each read): this guards that the check keeps one.
    server = DripServer("handshake", pace=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(SecurityCheckError, match=r"TLS handshake .* failed"):
            check_certificate(server.url.replace("http://", "https://"), timeout=1.0)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert elapsed < 2 * 1.0 + SLACK, elapsed  # the strict and the loose handshake


# -- every client that talks to a server: the same deadline (issue 20.3) ----------------------
def _parity_fetch(url: str, timeout: float) -> None:
    from pytest_staging.gates.parity.client import ReadOnlyClient
    from pytest_staging.gates.parity.compare import fetch

    with ReadOnlyClient(url, budget=5, name="production", timeout=timeout) as client:
        fetch(client, "/version")


def _parity_security(url: str, timeout: float) -> None:
    from pytest_staging.gates.parity.client import ReadOnlyClient
    from pytest_staging.gates.parity.compare import observe_security

    with ReadOnlyClient(url, budget=5, name="production", timeout=timeout) as client:
        observe_security(client)


def _parity_transport_redirect(url: str, timeout: float) -> None:
    # A GET sent the plain way (the body inside send()): the client's own deadline.
    from pytest_staging.gates.parity.client import ReadOnlyClient

    with ReadOnlyClient(url, budget=5, name="production", timeout=timeout) as client:
        client.get(url, allow_redirects=False)


def _contract_schema(url: str, timeout: float) -> None:
    from pytest_staging.gates.contract.runner import load_document
    from pytest_staging.redact import Redactor

    load_document("/openapi.json", base_url=url, headers={}, params={}, verify=True,
                  timeout=timeout, base_dir=Path("."), redactor=Redactor())


def _security_headers(url: str, timeout: float) -> None:
    from pytest_staging.deadline import DeadlineSession
    from pytest_staging.gates.security.http_checks import check_headers

    with DeadlineSession() as session:
        check_headers(session, url, timeout=timeout)


CLIENTS = {"parity fetch": _parity_fetch, "parity security (page, CORS)": _parity_security,
           "parity plain GET": _parity_transport_redirect, "contract schema": _contract_schema,
           "security probe": _security_headers}


@pytest.mark.parametrize("mode", ["headers", "body"])
@pytest.mark.parametrize("client", list(CLIENTS))
def test_every_client_that_talks_to_a_server_is_bounded(client: str, mode: str) -> None:
    """A server that drips its answer (~250 bytes at 2 per second: two minutes) holds no
    client of the plugin past its timeout: each fails within it, with a reason that says so."""
    server = DripServer(mode, pace=0.5)  # type: ignore[arg-type]
    url = server.url
    try:
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            CLIENTS[client](url, 1.0)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert elapsed < 1.0 + SLACK, elapsed
    if isinstance(caught.value, TotalTimeout):  # the bare client: its callers word it
        return
    text = str(caught.value)
    assert "timed out (no complete answer within 1s)" in text, text
    assert url.rstrip("/") in text, text


def test_the_reason_names_the_cause_first() -> None:
    """One wording for a request that got no answer, whoever sent it (staging's readiness,
    production's comparison, the schema fetch): the cause, never urllib3's text cut short."""
    from servers import free_port

    from pytest_staging.request_problems import describe, request_failed

    url = f"http://127.0.0.1:{free_port()}/health"
    with pytest.raises(requests.RequestException) as refused:
        requests.get(url, timeout=2)
    assert describe(refused.value) == "connection refused"
    assert request_failed("get", url, refused.value) == f"cannot GET {url}: connection refused"
    assert describe(TotalTimeout("x", total=2.5)) == "timed out (no complete answer within 2.5s)"
    assert describe(requests.exceptions.ConnectTimeout("x")) == "no answer (timed out)"
    assert describe(TimeoutError("_ssl.c:983: The handshake operation timed out")) == \
        "no answer (timed out)"
    assert describe(requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='h', port=1): Max retries exceeded (Caused by "
        "NewConnectionError('<conn>: Failed to establish a new connection: [Errno 113] No "
        "route to host'))")) == "connection failed (no route to host)"
    assert describe(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")) \
        .startswith("TLS error: the server did not speak TLS")


def test_parity_tls_handshake_drip_is_bounded() -> None:
    """The parity transport comparison's handshakes share the security check's one bounded
    handshake (deadline.tls_handshake): a production whose ServerHello drips is cut."""
    from pytest_staging.gates.parity.client import ReadOnlyClient
    from pytest_staging.gates.parity.compare import ParityCheckError, observe_transport

    server = DripServer("handshake", pace=0.3)
    url = server.url.replace("http://", "https://")
    try:
        started = time.monotonic()
        with ReadOnlyClient(url, budget=5, name="production", timeout=1.0) as client, \
                pytest.raises(ParityCheckError) as caught:
            observe_transport(client)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert elapsed < 1.0 + SLACK, elapsed
    assert str(caught.value) == (f"production: TLS handshake with {url} failed: "
                                 "no answer (timed out)")
