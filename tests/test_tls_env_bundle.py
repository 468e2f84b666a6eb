"""--staging-insecure and the readiness check also win over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

(test_client.py covers the staging client with --staging-ca-bundle.) requests lets those
variables replace a Session's ``verify`` (psf/requests#3829), and CI images commonly set them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import LoopbackServer

from pytest_staging.client import StagingSession
from pytest_staging.target import wait_ready


@pytest.fixture
def other_ca_in_env(tls_ca, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment points requests at a CA that does not trust the target; returns the
    file of the CA that does."""
    import trustme  # a test extra: missing is a failure, not a skip
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))
    right = tmp_path / "staging-ca.pem"
    tls_ca.cert_pem.write_to_path(str(right))
    return right


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_insecure_is_not_overridden_by_the_environment(tls_server: LoopbackServer,
                                                       other_ca_in_env: Path) -> None:
    with StagingSession(tls_server.url, verify=False, retries=0) as client:
        assert client.get("/health").status_code == 200


def test_readiness_uses_the_given_ca_bundle_over_the_environment(
        tls_server: LoopbackServer, other_ca_in_env: Path) -> None:
    ready = wait_ready(tls_server.url, "/health", wait=2, interval=0.1,
                       verify=str(other_ca_in_env))
    assert ready.ready, ready.reason
    untrusted = wait_ready(tls_server.url, "/health", wait=0.3, interval=0.1)
    assert not untrusted.ready and "TLS error" in untrusted.reason
