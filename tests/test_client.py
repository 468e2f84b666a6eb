"""The staging client against real loopback servers: joining, timeouts, retries, evidence."""

from __future__ import annotations

import itertools
import time

import pytest
import requests
from servers import LoopbackServer, json_answer, text_answer

from pytest_staging.client import StagingSession, join_url
from pytest_staging.redact import MASK, Redactor


def test_join_url() -> None:
    base = "https://staging.test/app/"
    assert join_url(base, "/health") == "https://staging.test/app/health"
    assert join_url(base, "api/items?page=2") == "https://staging.test/app/api/items?page=2"
    assert join_url(base, "https://other.test/x") == "https://other.test/x"


def test_relative_paths_and_headers(server: LoopbackServer) -> None:
    client = StagingSession(server.url, headers={"X-Tenant": "acme"})
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("version").json() == {"version": "1.0.0"}
    assert server.requests[-1].headers["X-Tenant"] == "acme"


def test_default_timeout_applies(server: LoopbackServer) -> None:
    def slow(req: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.0)
        return text_answer("late")

    server.routes["/slow"] = slow
    client = StagingSession(server.url, timeout=0.2, retries=0)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        client.get("/slow")
    assert time.monotonic() - started < 0.9
    assert client.get("/slow", timeout=3).text == "late"


def test_idempotent_requests_retry_on_503(server: LoopbackServer) -> None:
    counter = itertools.count()
    server.routes["/flaky"] = lambda req: (
        json_answer({"n": n}) if (n := next(counter)) >= 2 else text_answer("busy", 503))
    client = StagingSession(server.url, retries=3)
    response = client.get("/flaky")
    assert response.status_code == 200
    assert response.json() == {"n": 2}


def test_post_is_not_retried(server: LoopbackServer) -> None:
    server.routes["POST /orders"] = lambda req: text_answer("busy", 503)
    client = StagingSession(server.url, retries=3)
    assert client.post("/orders", json={}).status_code == 503
    assert sum(1 for r in server.requests if r.method == "POST") == 1


def test_connection_errors_are_kept_as_evidence() -> None:
    from servers import free_port

    client = StagingSession(f"http://127.0.0.1:{free_port()}/", retries=0, timeout=1)
    with pytest.raises(requests.ConnectionError):
        client.get("/health")
    evidence = client.evidence(Redactor())
    assert evidence[0]["status"] is None
    assert "ConnectionError" in evidence[0]["error"]


def test_evidence_is_bounded_and_redacted(server: LoopbackServer) -> None:
    server.routes["/big"] = lambda req: text_answer("token=s3cr3t-value " + "x" * 100_000)
    client = StagingSession(server.url, keep=2, body_limit=100,
                            headers={"Authorization": "Bearer s3cr3t-value"})
    for _ in range(3):
        client.get("/big")
    client.get("/health?api_key=abcdef99")
    evidence = client.evidence(Redactor(["s3cr3t-value"]))
    assert len(evidence) == 2
    big, health = evidence
    assert len(big["body"]) <= 100 + len(" [truncated]")
    assert big["body"].endswith("[truncated]")
    assert "s3cr3t-value" not in str(evidence)
    assert big["request_headers"]["Authorization"] == MASK
    assert "abcdef99" not in health["url"]


def test_streamed_body_is_left_to_the_test(server: LoopbackServer) -> None:
    server.routes["/stream"] = lambda req: text_answer("chunked body")
    client = StagingSession(server.url)
    response = client.get("/stream", stream=True)
    assert response.text == "chunked body"
    assert client.evidence(Redactor())[0]["body"] == ""


def test_ca_bundle_beats_requests_ca_bundle_env(tls_server: LoopbackServer, tls_ca,
                                                tmp_path, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    client = StagingSession(tls_server.url, verify=str(bundle), retries=0)
    assert client.get("/health").json() == {"status": "ok"}
    untrusting = StagingSession(tls_server.url, retries=0)
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.get("/health")
