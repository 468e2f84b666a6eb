"""Fault matrix, the target's side: a staging server that is down, slow, wrong, insecure or
redeployed while the gate runs. Each case is a whole pytest run against a real loopback server."""

from __future__ import annotations

import ssl
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

# Imported once here: pytester restores sys.modules after each test, and a second copy of
# cryptography's classes breaks its own isinstance checks.
import trustme
from harness import assert_go, assert_no_go, run_staging
from servers import LoopbackServer, Request, SilentServer, free_port, json_answer, text_answer

SUITE = """
def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_orders(staging):
    assert staging.get("/api/orders").status_code in (200, 404)
"""


def test_connection_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, f"http://127.0.0.1:{free_port()}/")
    verdict = assert_no_go(outcome, r"target not ready .*connection refused", exit_code=3)
    assert verdict["tests"] == [], "no test may run against a target that is down"
    assert verdict["target"]["reachable"] is False


def test_name_that_does_not_resolve(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, "http://staging.does-not-resolve.invalid/")
    assert_no_go(outcome, r"target not ready .*(does not resolve|connection failed)",
                 exit_code=3)


def test_server_that_never_answers(pytester: pytest.Pytester) -> None:
    silent = SilentServer()
    try:
        pytester.makepyfile(test_app=SUITE)
        started = time.monotonic()
        outcome = run_staging(pytester, silent.url)
        elapsed = time.monotonic() - started
    finally:
        silent.stop()
    assert_no_go(outcome, r"target not ready .*timed out", exit_code=3)
    assert elapsed < 30, "the readiness wait must bound the run"


def test_endpoint_that_hangs_fails_the_test_on_timeout(pytester: pytest.Pytester,
                                                       server: LoopbackServer) -> None:
    release = threading.Event()

    def hang(req: Request) -> tuple[int, dict[str, str], bytes]:
        release.wait(20)
        return text_answer("too late")

    server.routes["/api/slow"] = hang
    pytester.makepyfile(test_app="""
        def test_slow(staging):
            assert staging.get("/api/slow").status_code == 200
    """)
    try:
        outcome = run_staging(pytester, server.url, policy="[target]\nwait = 1\ntimeout = 0.5\n"
                                                          "retries = 0\n")
    finally:
        release.set()
    verdict = assert_no_go(outcome, r"test_slow failed: .*(Timeout|timed out)", exit_code=1)
    evidence = verdict["gates"]["integration"]["failures"][0]["evidence"]
    assert evidence and evidence[-1]["status"] is None and "Timeout" in evidence[-1]["error"]


def test_server_that_dies_mid_run(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    def die(req: Request) -> tuple[int, dict[str, str], bytes]:
        threading.Thread(target=server.stop, daemon=True).start()
        # A dying server drops its connections too (stop() only closes the listener): the
        # next test must not reuse this one from the shared pool.
        return json_answer({"bye": True}, Connection="close")

    server.routes["/api/die"] = die
    pytester.makepyfile(test_app="""
        def test_1_kill(staging):
            assert staging.get("/api/die").status_code == 200

        def test_2_after(staging):
            assert staging.get("/health").status_code == 200
    """)
    outcome = run_staging(pytester, server.url, "--staging-expect-version", "1.0.0", "-p",
                          "no:randomly")
    verdict = assert_no_go(outcome, r"test_2_after failed: .*(ConnectionError|refused)",
                           exit_code=1)
    assert any("version 1.0.0 expected but not observed" in r for r in verdict["reasons"])


def test_503_while_starting_then_healthy_is_go(pytester: pytest.Pytester,
                                               server: LoopbackServer) -> None:
    """A deploy that is still warming up: the readiness wait absorbs it."""
    pytester.makepyfile(test_app=SUITE)
    first_poll: list[float] = []

    def warming(req: Request) -> tuple[int, dict[str, str], bytes]:
        # Counted from the first poll: the run's own start-up time varies with machine load.
        first_poll.append(time.monotonic())
        if time.monotonic() < first_poll[0] + 1.0:
            return json_answer({"status": "starting"}, 503)
        return json_answer({"status": "ok"})

    server.routes["/health"] = warming
    outcome = run_staging(pytester, server.url, policy="[target]\nhealth = '/health'\n"
                                                      "wait = 8\ninterval = 0.2\n")
    verdict = assert_go(outcome)
    assert verdict["target"]["ready_after"] >= 0.5


def test_503_for_longer_than_the_wait(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE)
    server.routes["/"] = lambda req: json_answer({"status": "starting"}, 503)
    outcome = run_staging(pytester, server.url)
    assert_no_go(outcome, r"target not ready after .*answered 503", exit_code=3)


@pytest.fixture
def tls_ca():  # type: ignore[no-untyped-def]
    return trustme.CA(key_type=trustme.KeyType.RSA)


def _tls_server(ca, *, expired: bool = False) -> LoopbackServer:  # type: ignore[no-untyped-def]
    rsa = trustme.KeyType.RSA  # the ECDSA default trips over newer cryptography releases
    if expired:
        now = datetime.now(timezone.utc)
        cert = ca.issue_cert("127.0.0.1", not_before=now - timedelta(days=30),
                             not_after=now - timedelta(days=1), key_type=rsa)
    else:
        cert = ca.issue_cert("127.0.0.1", key_type=rsa)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return LoopbackServer(ssl_context=context).start()


def test_self_signed_certificate(pytester: pytest.Pytester, tls_ca) -> None:  # type: ignore[no-untyped-def]
    server = _tls_server(tls_ca)
    try:
        pytester.makepyfile(test_app=SUITE)
        outcome = run_staging(pytester, server.url)
    finally:
        server.stop()
    assert_no_go(outcome, r"target not ready .*TLS error", exit_code=3)


def test_expired_certificate(pytester: pytest.Pytester, tls_ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = _tls_server(tls_ca, expired=True)
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    try:
        pytester.makepyfile(test_app=SUITE)
        outcome = run_staging(pytester, server.url, f"--staging-ca-bundle={bundle}")
    finally:
        server.stop()
    assert_no_go(outcome, r"target not ready .*TLS error", exit_code=3)


def test_trusted_certificate_is_go(pytester: pytest.Pytester, tls_ca, tmp_path: Path,  # type: ignore[no-untyped-def]
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The control case of the TLS faults: the same server, its CA given, is a GO, even when
    REQUESTS_CA_BUNDLE is set (as in many CI images; requests lets it beat Session.verify)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    server = _tls_server(tls_ca)
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    try:
        pytester.makepyfile(test_app=SUITE)
        outcome = run_staging(pytester, server.url, f"--staging-ca-bundle={bundle}")
    finally:
        server.stop()
    assert_go(outcome)


def test_redirect_to_another_host(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    elsewhere = LoopbackServer().start()
    try:
        server.routes["/"] = lambda req: (302, {"Location": elsewhere.url}, b"")
        pytester.makepyfile(test_app=SUITE)
        outcome = run_staging(pytester, server.url)
    finally:
        elsewhere.stop()
    verdict = assert_no_go(outcome, r"redirects to another host", exit_code=3)
    assert verdict["target"]["redirects"], "the redirect chain belongs in the verdict"
    assert verdict["tests"] == [], "no test may run against the wrong host"


def test_huge_responses_keep_evidence_bounded(pytester: pytest.Pytester,
                                              server: LoopbackServer) -> None:
    big_body = b"x" * (20 * 1024 * 1024)
    big_header = "y" * 60_000
    server.routes["/api/big"] = lambda req: (500, {"X-Debug": big_header}, big_body)
    pytester.makepyfile(test_app="""
        def test_big(staging):
            for _ in range(8):
                response = staging.get("/api/big")
            assert response.status_code == 200
    """)
    outcome = run_staging(pytester, server.url, policy="[target]\nwait = 1\nretries = 0\n")
    verdict = assert_no_go(outcome, r"test_big failed", exit_code=1)
    evidence = verdict["gates"]["integration"]["failures"][0]["evidence"]
    assert 0 < len(evidence) <= 5
    for exchange in evidence:
        assert len(exchange["body"]) <= 2048 + len(" [truncated]")
        assert len(exchange["response_headers"]["X-Debug"]) <= 512 + len(" [truncated]")
    for name in ("verdict.json", "verdict.md"):
        size = (outcome.report_dir / name).stat().st_size
        assert size < 256 * 1024, f"{name} is {size} bytes"
    # The plugin's evidence section and summary are bounded too (the test prints no body).
    assert len(outcome.output) < 64 * 1024


def test_version_mismatch(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "--staging-expect-version", "2.0.0")
    verdict = assert_no_go(outcome, r"version mismatch at start: expected 2\.0\.0, observed "
                                    r"1\.0\.0", exit_code=3)
    assert verdict["target"]["observed_version"]["start"] == "1.0.0"


def test_version_endpoint_missing(pytester: pytest.Pytester, server: LoopbackServer) -> None:
    server.routes["/version"] = lambda req: json_answer({"error": "not found"}, 404)
    pytester.makepyfile(test_app=SUITE)
    outcome = run_staging(pytester, server.url, "--staging-expect-version", "1.0.0")
    assert_no_go(outcome, r"version 1\.0\.0 expected but not observed: .*answered 404",
                 exit_code=3)


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "n2"])
def test_version_changes_mid_run(pytester: pytest.Pytester, server: LoopbackServer,
                                 extra: list[str]) -> None:
    def redeploy(req: Request) -> tuple[int, dict[str, str], bytes]:
        server.version = "1.0.1"
        return json_answer({"deployed": server.version})

    server.routes["/api/redeploy"] = redeploy
    pytester.makepyfile(test_app=SUITE + """
def test_redeploy(staging):
    assert staging.post("/api/redeploy").status_code == 200
""")
    outcome = run_staging(pytester, server.url, "--staging-expect-version", "1.0.0", *extra)
    verdict = assert_no_go(outcome, r"version changed during the run: 1\.0\.0 -> 1\.0\.1",
                           exit_code=3)
    assert verdict["target"]["observed_version"] == {"start": "1.0.0", "end": "1.0.1"}


def test_insecure_accepts_self_signed_with_a_warning(pytester: pytest.Pytester, tls_ca,  # type: ignore[no-untyped-def]
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """--staging-insecure must work even when REQUESTS_CA_BUNDLE is set (as in many CI images)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    server = _tls_server(tls_ca)
    try:
        pytester.makepyfile(test_app=SUITE)
        outcome = run_staging(pytester, server.url, "--staging-insecure")
    finally:
        server.stop()
    verdict = assert_go(outcome)
    assert any("verification disabled" in w for w in verdict["warnings"])
