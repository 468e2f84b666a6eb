"""The demo shop on its own, and the sample suite against it as a separate deployment.

``python -m sample_suite.app`` is run as a real process; the sample suite then targets it with
``--staging-url`` exactly as it would target a real staging environment, over HTTP and over
HTTPS with a certificate from a private CA (trustme).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sample_runs import ROOT, clean_env, run_sample

from sample_suite.app import HTTPError as ShopError
from sample_suite.app import Shop, paginate, start_app, validate_product


@contextmanager
def app_process(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m sample_suite.app --port 0 ARGS``: yields (its URL, the process)."""
    process = subprocess.Popen([sys.executable, "-m", "sample_suite.app", "--port", "0", *args],
                               cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(15, process.kill)  # a hung start-up must not hang the test
    timer.start()
    try:
        first = process.stdout.readline() if process.stdout else ""
        timer.cancel()
        assert " on http" in first, first
        yield first.split(" on ", 1)[1].split()[0], process
    finally:
        timer.cancel()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_app_runs_by_hand_and_stops_cleanly(stop: signal.Signals) -> None:
    with app_process() as (url, process):
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert requests.get(url + "health", timeout=5).json() == {"status": "ok"}
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0


def test_app_rejects_an_unknown_defect() -> None:
    result = subprocess.run([sys.executable, "-m", "sample_suite.app", "--defect", "typo"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "invalid choice: 'typo'" in result.stderr
    with pytest.raises(ValueError, match="unknown defect"):
        Shop(["typo"])


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import trustme  # a test extra: missing is a failure, not a skip
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(files["cert"]), append=True)
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


@pytest.mark.slow
def test_sample_suite_against_a_separate_https_deployment_with_a_ca_bundle(tmp_path: Path,
                                                  tls_files: dict[str, Path]) -> None:
    with app_process("--certfile", str(tls_files["cert"]),
                     "--keyfile", str(tls_files["key"])) as (url, _):
        assert url.startswith("https://")
        untrusted = run_sample(tmp_path / "untrusted", f"--staging-url={url}", "-p",
                               "no:xdist", "--staging-wait=1")
        trusted = run_sample(tmp_path / "trusted", f"--staging-url={url}", "-p", "no:xdist",
                             f"--staging-ca-bundle={tls_files['ca']}")
        login = requests.post(url + "api/login", verify=str(tls_files["ca"]), timeout=5,
                              json={"email": "shopper@example.com",
                                    "password": "correct-horse-battery"})
    assert untrusted.verdict["verdict"] == "NO-GO"
    assert "TLS error" in untrusted.reasons and "--staging-ca-bundle" in untrusted.reasons
    assert trusted.exit_code == 0, trusted.output[-3000:]
    assert trusted.verdict["verdict"] == "GO"
    assert "Secure" in login.headers["Set-Cookie"]
    # A separate deployment (no demo embedded): the run's target is the given URL, and no
    # version is expected unless the run says so.
    assert trusted.verdict["target"]["url"] == url
    assert trusted.verdict["target"]["observed_version"]["start"] == "1.4.2"
    assert trusted.verdict["target"]["expected_version"] is None
    assert "demo shop" not in trusted.output


def test_cookie_is_secure_only_over_https() -> None:
    app = start_app()
    try:
        login = requests.post(app.url + "api/login", timeout=5, json={
            "email": "shopper@example.com", "password": "correct-horse-battery"})
    finally:
        app.stop()
    flags = [part.strip() for part in login.headers["Set-Cookie"].split(";")]
    assert "HttpOnly" in flags and "SameSite=Lax" in flags
    assert "Secure" not in flags


def test_pagination_and_validation_rules() -> None:
    items = [{"id": n} for n in range(1, 24)]
    page = paginate(items, {"page": "3", "per_page": "10"})
    assert [i["id"] for i in page["items"]] == [21, 22, 23]
    assert (page["total"], page["pages"]) == (23, 3)
    with pytest.raises(ShopError) as bad:
        paginate(items, {"page": "-1", "per_page": "1000"})
    assert bad.value.status == 422 and set(bad.value.fields or {}) == {"page", "per_page"}
    assert validate_product({"price_cents": 5}, partial=True) == {"price_cents": 5}
    with pytest.raises(ShopError) as bad:
        validate_product({"name": "x", "price_cents": True}, partial=False)
    assert set(bad.value.fields or {}) == {"price_cents"}


@pytest.mark.parametrize("length, status", [("-5", 400), ("abc", 400), ("999999999", 413)])
def test_bad_content_length_is_refused_without_reading(length: str, status: int) -> None:
    import http.client

    app = start_app()
    try:
        host, port = app.server.server_address[:2]
        connection = http.client.HTTPConnection(str(host), int(port), timeout=5)
        connection.putrequest("POST", "/api/login")
        connection.putheader("Content-Length", length)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == status
        assert response.getheader("Connection") == "close"
        connection.close()
    finally:
        app.stop()
