"""Secret-leak scan: secrets in a header (``$VAR`` expanded), in the URL's userinfo and in a
query string; the run makes failing requests so evidence is attached; then every file the run
wrote and the whole terminal output are searched for every form of every secret."""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from harness import FAST_POLICY, REPORT_DIR, assert_no_go, run_staging
from servers import LoopbackServer, Request, json_answer

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SUITE = REPO / "sample_suite"

#: Our own small suite until the sample suite lands: failing requests that carry every secret.
OWN_SUITE = """
import os
import pytest

def test_health(staging):
    assert staging.get("/health").status_code == 200

def test_echo_fails(staging):
    response = staging.get("/api/echo")
    print("server said", response.text[:200])
    assert response.status_code == 200

def test_query_token_fails(staging):
    token = os.environ["LEAK_QUERY_TOKEN"]
    response = staging.get("/api/orders", params={"access_token": token, "page": "2"})
    assert response.status_code == 200

@pytest.mark.advisory
def test_redirect_with_token_fails(staging):
    response = staging.get("/api/login")
    assert response.status_code == 200
"""


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}


def _echo(req: Request) -> tuple[int, dict[str, str], bytes]:
    """A debug endpoint that reflects the request headers, as real ones do."""
    return json_answer({"headers": req.headers, "path": req.path}, 500)


#: Evidence bodies long enough to carry every echoed header; browser journeys that meet a page
#: they do not know fail in 3 s, not Playwright's 30 s per action.
LEAK_POLICY = FAST_POLICY + "evidence_body = 4096\n[browser]\ntimeout = 3\n"


# The sample suite's browser journeys run too: their evidence (screenshots, traces) is scanned.
@pytest.mark.child_plugins("playwright")
# requests replaces an Authorization header with Basic auth from the URL's userinfo, so the
# header token and the URL password are exercised in separate runs.
@pytest.mark.parametrize(
    ("where", "extra"),
    [("header", []), ("header", ["-n", "2"]), ("userinfo", [])],
    ids=["header-serial", "header-n2", "userinfo-serial"])
def test_no_secret_in_any_output(pytester: pytest.Pytester, server: LoopbackServer,
                                 monkeypatch: pytest.MonkeyPatch, where: str,
                                 extra: list[str]) -> None:
    header_token = "hdr-" + uuid.uuid4().hex
    url_password = "pw-" + uuid.uuid4().hex
    query_token = "qry-" + uuid.uuid4().hex
    monkeypatch.setenv("STAGING_TOKEN", header_token)
    monkeypatch.setenv("LEAK_QUERY_TOKEN", query_token)

    server.routes["/api/echo"] = _echo
    server.routes["/api/orders"] = _echo
    server.routes["/api/login"] = lambda req: (
        302, {"Location": f"/api/echo?session_token={query_token}"}, b"")
    host = server.url.split("://", 1)[1]
    if where == "userinfo":
        url = f"http://deploy:{url_password}@{host}"
        header_args: list[str] = []
    else:
        url = server.url
        header_args = ["--staging-header", "Authorization: Bearer $STAGING_TOKEN"]

    if (SAMPLE_SUITE / "conftest.py").exists():
        shutil.copytree(SAMPLE_SUITE, pytester.path / "sample_suite")
        args = ["sample_suite"]
        gate = None
    else:
        pytester.makepyfile(test_leak=OWN_SUITE)
        args = []
        gate = "integration"
    # A new process: the copied sample_suite package would clash with the one imported here.
    outcome = run_staging(
        pytester, url, *args, *header_args, "--junitxml", f"{REPORT_DIR}/junit.xml", "-rA",
        *extra, gate=gate, policy=LEAK_POLICY, subprocess=True)

    # The run really exercised the secrets: the server saw them, evidence was attached.
    sent = {r.headers.get("Authorization") for r in server.requests}
    basic = base64.b64encode(f"deploy:{url_password}".encode()).decode()
    assert (f"Basic {basic}" if where == "userinfo" else f"Bearer {header_token}") in sent
    assert any(query_token in r.path for r in server.requests)
    verdict = outcome.verdict()
    assert verdict["verdict"] == "NO-GO"
    evidence = [e for g in verdict["gates"].values() for f in g["failures"]
                for e in f["evidence"]]
    assert evidence, "failing requests must attach evidence, or the scan proves nothing"

    secrets = {header_token, url_password, query_token}
    forms = set().union(*(_forms(s) for s in secrets))
    forms |= _forms(f"deploy:{url_password}")  # what requests sends as Basic auth
    written = [p for p in pytester.path.rglob("*") if p.is_file()
               and not p.name.endswith((".py", ".toml", ".pyc"))]
    assert any(p.name == "verdict.json" for p in written)
    assert any(p.name == "junit.xml" for p in written)
    leaks = [f"{p.relative_to(pytester.path)}: {form[:8]}..."
             for p in written for form in forms
             if form in p.read_text(encoding="utf-8", errors="replace")]
    leaks += [f"terminal: {form[:8]}..." for form in forms if form in outcome.output]
    assert leaks == [], leaks
    # And the redaction left the reports useful: the URL is there without its password.
    assert verdict["target"]["url"] == f"http://{host}"
    json.dumps(verdict)


@pytest.mark.parametrize(
    ("template", "cause"),
    [("http://deploy:{secret}@{host}:99999/", r"invalid port"),
     ("ftp://deploy:{secret}@{host}/", r"must be an http\(s\) URL")],
    ids=["bad-port", "bad-scheme"])
def test_rejected_url_does_not_leak(pytester: pytest.Pytester, server: LoopbackServer,
                                    template: str, cause: str) -> None:
    """A URL the plugin refuses is echoed in the usage error: redacted."""
    secret = "tok-" + uuid.uuid4().hex
    host = server.url.split("://", 1)[1].rstrip("/")
    url = template.format(secret=secret, host=host.split(":")[0] if "99999" in template
                          else host, scheme="http")
    pytester.makepyfile(test_leak=OWN_SUITE)
    outcome = run_staging(pytester, url)
    assert_no_go(outcome, rf"^usage error: .*{cause}", exit_code=4)
    written = [p for p in pytester.path.rglob("*") if p.is_file() and p.suffix != ".py"]
    assert [p for p in written if secret in p.read_text(errors="replace")] == []
    assert secret not in outcome.output
