"""--staging-ca-bundle and --staging-insecure win over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

requests lets those environment variables replace a Session's ``verify`` (psf/requests#3829),
and corporate CI images commonly set them; the staging client and the readiness check must
still use the CA bundle (or the insecure switch) the run was given.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from servers import LoopbackServer

from pytest_staging.client import StagingSession
from pytest_staging.target import wait_ready

trustme = pytest.importorskip("trustme")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTPS server with a certificate from a private CA, and that CA's file."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "staging-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = LoopbackServer()
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    server.start()
    try:
        yield server.url.replace("http://", "https://"), ca_file
    finally:
        server.stop()


@pytest.fixture
def other_ca_in_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment points requests at a CA bundle that does not trust the target."""
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))


@pytest.mark.usefixtures("other_ca_in_env")
def test_client_uses_the_given_ca_bundle_over_the_environment(
        https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    with StagingSession(url, verify=str(ca_file), retries=0) as client:
        assert client.get("/health").status_code == 200


@pytest.mark.usefixtures("other_ca_in_env")
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_client_insecure_is_not_overridden_by_the_environment(
        https_server: tuple[str, Path]) -> None:
    url, _ = https_server
    with StagingSession(url, verify=False, retries=0) as client:
        assert client.get("/health").status_code == 200


@pytest.mark.usefixtures("other_ca_in_env")
def test_client_without_a_bundle_still_follows_the_environment(
        https_server: tuple[str, Path]) -> None:
    url, _ = https_server
    with StagingSession(url, retries=0) as client, pytest.raises(requests.exceptions.SSLError):
        client.get("/health")


@pytest.mark.usefixtures("other_ca_in_env")
def test_readiness_uses_the_given_ca_bundle_over_the_environment(
        https_server: tuple[str, Path]) -> None:
    url, ca_file = https_server
    ready = wait_ready(url, "/health", wait=2, interval=0.1, verify=str(ca_file))
    assert ready.ready, ready.reason
    untrusted = wait_ready(url, "/health", wait=0.3, interval=0.1)
    assert not untrusted.ready and "TLS error" in untrusted.reason
