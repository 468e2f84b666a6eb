"""Every --staging-header / --staging-compare-header value is a secret, whatever its name
(issue 20.4): a value the shell expanded before pytest saw it, under a name without "token" or
"auth" in it, never reaches an output, in any encoding; a header marked public is shown as
typed; a short value ("1", "on") is masked as that header's value, never in free text."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from servers import LoopbackServer, json_answer

from pytest_staging.redact import MASK, Redactor
from pytest_staging.url_headers import SettingsError, expand_header, public_header_names

#: What the shell already expanded: a literal value under a harmless name, with characters
#: that percent-encoding, JSON and HTML escaping all change.
TENANT = 'tn/acme+4471="x&y"'
PUBLIC = "qa-suite-2024"

SUITE = """
import json
from urllib.parse import quote, quote_plus

import pytest
from pytest_staging.record import record


def test_echo(request, staging):
    response = staging.get("/echo")
    seen = response.json()
    tenant = seen["X-Tenant"]
    print("tenant", tenant, quote(tenant, safe=""), quote_plus(tenant), json.dumps(seen))
    record(request.node, findings=[{"rule": "tenant-echo", "level": "fail", "url": response.url,
                                    "title": "echoes " + tenant, "evidence": quote(tenant)}])
    assert response.status_code == 200, response.text


def test_one():
    assert 1 == 1
"""


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret),
            json.dumps(secret)[1:-1], json.dumps(secret).replace("/", "\\/")[1:-1],
            html.escape(secret), base64.b64encode(secret.encode()).decode()}


def _outputs(run: Any, pytester: pytest.Pytester) -> dict[str, str]:
    out = {"terminal": run.output}
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".html", ".xml", ".sarif"):
            out[str(path.relative_to(pytester.path))] = path.read_text()
    return out


@pytest.mark.child_plugins("html")
@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_harmless_header_name_does_not_make_its_value_public(
        pytester: pytest.Pytester, run_staging: Any, server: LoopbackServer,
        monkeypatch: pytest.MonkeyPatch, mode: list[str]) -> None:
    pytest.importorskip("pytest_html")
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    server.routes["/echo"] = lambda req: json_answer(dict(req.headers), 500,
                                                     **{"X-Seen-Tenant": req.headers["X-Tenant"]})
    pytester.makepyfile(test_echo=SUITE)
    junit = pytester.path / "junit.xml"
    run = run_staging(*mode, "-rA", f"--junitxml={junit}",
                      f"--html={pytester.path / 'report.html'}", "--self-contained-html",
                      f"--staging-header=X-Tenant: {TENANT}", "--staging-header=X-Debug: 1",
                      "--staging-header=X-Feature: on", f"--staging-header=X-Client: {PUBLIC}",
                      "--staging-public-header=X-Client", url=server.url)
    assert run.ret != 0
    # Sent as given: the redaction is of the outputs, not of the requests.
    sent = [r for r in server.requests if r.path == "/echo"][-1]
    assert sent.headers["X-Tenant"] == TENANT and sent.headers["X-Debug"] == "1"
    outputs = _outputs(run, pytester)
    assert {"staging-report/verdict.json", "staging-report/verdict.md",
            "staging-report/verdict.html", "staging-report/findings.sarif", "junit.xml",
            "report.html", "step-summary.md"} <= set(outputs)
    for name, text in outputs.items():
        for form in _forms(TENANT):
            assert form not in text, f"{form!r} leaked into {name}"
    verdict = run.verdict
    [failure] = verdict["gates"]["integration"]["failures"]
    [echo] = [e for e in failure["evidence"] if e["url"].endswith("/echo")]
    # Every configured header is masked as a header, short values included; the public one
    # is shown as typed.
    assert echo["request_headers"]["X-Tenant"] == MASK
    assert echo["request_headers"]["X-Debug"] == MASK
    assert echo["request_headers"]["X-Feature"] == MASK
    assert echo["request_headers"]["X-Client"] == PUBLIC
    assert echo["response_headers"]["X-Seen-Tenant"] == MASK
    # ... but "1" and "on" stay what they are in free text: the report is still readable.
    assert verdict["gates"]["integration"]["counts"]["passed"] == 1
    assert "1 failed, 1 passed" in run.stdout
    assert "staging-report" in run.stdout and "integration" in outputs[
        "staging-report/verdict.md"]
    assert PUBLIC in echo["body"]


def test_the_value_is_a_secret_unless_public() -> None:
    """The rule itself, on held-out shapes of a header."""
    env = {"T": "abc-123456"}
    for raw, secrets in [
        ("X-Tenant: acme-prod-4471", {"acme-prod-4471"}),
        ("X-Session-Id: Token tok-77aa88bb", {"Token tok-77aa88bb", "tok-77aa88bb"}),
        ("X-Who: ${T}", {"abc-123456"}),
        ("X-Env: prod-$T", {"prod-abc-123456", "abc-123456"}),
        # Short literal values under a harmless name: masked as the header's own value only.
        ("X-Debug: 1", set()), ("X-Feature: on", set()), ("X-Env: staging", set()),
        # A credential-named header keeps the redactor's own (smaller) minimum.
        ("Authorization: Basic abc1", {"Basic abc1", "abc1"}),
    ]:
        assert expand_header(raw, env)[2] == secrets, raw
    assert expand_header("X-Client: qa-suite-2024", env, public=True)[2] == set()
    assert expand_header("X-Who: $T", env, public=True)[2] == set()
    assert public_header_names(["X-Client", " x-trace "]) == {"x-client", "x-trace"}
    for bad in ("Authorization", "X-Api-Key", "Cookie", "X-Auth-Token"):
        with pytest.raises(SettingsError, match="a credential header is always secret"):
            public_header_names([bad])
    with pytest.raises(SettingsError, match="expected a header name"):
        public_header_names(["X-A: b"])
    redactor = Redactor(["acme-prod-4471"], secret_headers=["X-Debug"])
    assert redactor.headers({"x-debug": "1", "Accept": "1", "X-Echo": "acme-prod-4471"}) == {
        "x-debug": MASK, "Accept": "1", "X-Echo": MASK}
    assert redactor.text("1 failed, 1 passed") == "1 failed, 1 passed"


@pytest.mark.parametrize(("args", "policy", "message"), [
    (["--staging-public-header=Authorization"], "",
     "--staging-public-header Authorization: a credential header is always secret"),
    ([], '[target]\npublic_headers = ["X-Api-Key"]\n',
     "--staging-public-header X-Api-Key: a credential header is always secret"),
    ([], '[target]\npublic_headers = [""]\n', "target.public_headers"),
])
def test_a_credential_header_cannot_be_public(pytester: pytest.Pytester, run_staging: Any,
                                              server: LoopbackServer, args: list[str],
                                              policy: str, message: str) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    extra = []
    if policy:
        (pytester.path / "policy.toml").write_text(policy)
        extra = [f"--staging-policy={pytester.path / 'policy.toml'}"]
    run = run_staging(*args, *extra, "--staging-header=Authorization: Bearer x", url=server.url)
    assert run.ret == 4
    assert message in run.verdict["reasons"][0], run.verdict["reasons"]


def test_policy_public_headers_and_the_option_replacing_it(
        pytester: pytest.Pytester, run_staging: Any, server: LoopbackServer) -> None:
    """[target] public_headers marks headers public; --staging-public-header replaces the
    list (command line > policy, the one precedence rule)."""
    server.routes["/echo"] = lambda req: json_answer(dict(req.headers), 500)
    pytester.makepyfile(test_echo="""
def test_echo(staging):
    r = staging.get("/echo")
    assert r.status_code == 200, r.text
""")
    policy = pytester.path / "policy.toml"
    policy.write_text('[target]\npublic_headers = ["X-Client"]\n[gates.security]\nmin_tests = 0'
                      '\n[gates.performance]\nmin_tests = 0\n')
    headers = ["--staging-header=X-Client: qa-suite-2024",
               "--staging-header=X-Region: eu-central-9"]
    run = run_staging(f"--staging-policy={policy}", *headers, "-p", "no:xdist", url=server.url)
    [echo] = run.verdict["gates"]["integration"]["failures"][0]["evidence"]
    assert echo["request_headers"]["X-Client"] == "qa-suite-2024"
    assert echo["request_headers"]["X-Region"] == MASK and "eu-central-9" not in run.output
    run = run_staging(f"--staging-policy={policy}", *headers, "--staging-public-header=X-Region",
                      "-p", "no:xdist", url=server.url)
    [echo] = run.verdict["gates"]["integration"]["failures"][0]["evidence"]
    assert echo["request_headers"]["X-Client"] == MASK and "qa-suite-2024" not in run.output
    assert echo["request_headers"]["X-Region"] == "eu-central-9"


def test_show_settings_masks_every_header_value_but_public_ones(
        pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # $SHOP_TOKEN set, as the run needs it (unset, the run would stop: the usage error).
    monkeypatch.setenv("SHOP_TOKEN", "tok-8d1f77c2e9")
    result = pytester.runpytest_inprocess(
        "--staging-show-settings", "--staging-url=http://127.0.0.1:9/",
        f"--staging-report-dir={tmp_path}",
        "--staging-header", "X-Tenant: acme-prod-4471",
        "--staging-header", "Authorization: Bearer $SHOP_TOKEN",
        "--staging-header", "X-Client: qa-suite-2024", "--staging-public-header", "X-Client",
        "--staging-compare-url=http://127.0.0.1:8/",
        "--staging-compare-header", "X-Region: eu-central-9", "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert "acme-prod-4471" not in text and "eu-central-9" not in text
    assert "tok-8d1f77c2e9" not in text and "ERROR" not in text
    assert "Bearer $SHOP_TOKEN" in text and "qa-suite-2024" in text


def test_show_settings_names_an_unset_header_variable_without_showing_values(
        pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_TOKEN", raising=False)
    result = pytester.runpytest_inprocess(
        "--staging-show-settings", "--staging-url=http://127.0.0.1:9/",
        f"--staging-report-dir={tmp_path}",
        "--staging-header", "X-Tenant: acme-prod-4471",
        "--staging-header", "Authorization: Bearer $SHOP_TOKEN", "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "$SHOP_TOKEN is not set in the environment" in text
    assert "acme-prod-4471" not in text
