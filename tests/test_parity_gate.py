"""The parity gate in whole pytest runs: two loopback environments, production and staging."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from parity_servers import Environment

from pytest_staging.gates.parity.client import SAFE_METHODS

#: What the compare target's credential is made of: characters that percent-encoding changes.
TOKEN = "pr0d/t0ken+Zq9=xK"
POLICY = """\
[gates.security]
min_tests = 0
[gates.performance]
min_tests = 0
[target]
health = "/health"
[parity]
paths = ["/api/products"]
fields = ["db_schema"]
"""
TEST = "def test_up(staging):\n    assert staging.get('/health').status_code == 200\n"


@pytest.fixture
def production() -> Iterator[Environment]:
    env = Environment().start()
    yield env
    env.stop()


@pytest.fixture
def staging_env() -> Iterator[Environment]:
    env = Environment().start()
    yield env
    env.stop()


@pytest.fixture
def compare(pytester: pytest.Pytester, run_staging: Any, monkeypatch: pytest.MonkeyPatch,
            production: Environment, staging_env: Environment) -> Any:
    """Run the gate: staging_env is the target, production the compare URL."""
    monkeypatch.setenv("PROD_TOKEN", TOKEN)
    pytester.makepyfile(test_up=TEST)

    def run(*args: str, policy: str = POLICY, compare_url: str | None = None) -> Any:
        pytester.makefile(".toml", policy=policy)
        return run_staging("--staging-policy=policy.toml",
                           f"--staging-compare-url={compare_url or production.url}",
                           "--staging-compare-header=X-Prod-Auth: Bearer $PROD_TOKEN",
                           *args, url=staging_env.url)

    return run


def parity(verdict: dict[str, Any]) -> dict[str, Any]:
    return verdict["gates"]["parity"]


def rules(verdict: dict[str, Any], level: str | None = None) -> set[str]:
    return {f["rule"] for f in parity(verdict)["findings"]
            if level is None or f["level"] == level}


def assert_gentle(production: Environment, budget: int) -> None:
    """Only safe methods, at most the budget, counted at the production server itself."""
    assert production.seen, "the comparison never reached production"
    assert production.methods() <= SAFE_METHODS, production.methods()
    assert len(production.seen) <= budget, [(s.method, s.path) for s in production.seen]


def test_identical_environments_are_clean_and_go(compare: Any, mode: list[str],
                                                 production: Environment,
                                                 staging_env: Environment) -> None:
    result = compare(*mode)
    verdict = result.verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert parity(verdict)["status"] == "passed"
    assert rules(verdict, "fail") == set() and rules(verdict, "warn") == set()
    assert rules(verdict) == {"version-identical"}  # same release on both: worth a note
    outcomes = {t["nodeid"]: t["outcome"] for t in verdict["tests"] if t["gate"] == "parity"}
    assert outcomes == {"staging-parity::security": "passed", "staging-parity::api": "passed",
                        "staging-parity::version": "passed",
                        "staging-parity::transport": "skipped"}
    assert "parity vs http://127.0.0.1" in result.output
    assert_gentle(production, 30)
    # The credential goes to production only, and only to its origin.
    assert {s.headers.get("X-Prod-Auth") for s in production.seen} == {f"Bearer {TOKEN}"}
    assert all("X-Prod-Auth" not in s.headers for s in staging_env.seen)


def test_staging_missing_a_header_production_has_is_no_go(
        compare: Any, mode: list[str], production: Environment,
        staging_env: Environment) -> None:
    del staging_env.headers["Strict-Transport-Security"]
    result = compare(*mode)
    verdict = result.verdict
    assert verdict["verdict"] == "NO-GO"
    [reason] = [r for r in verdict["reasons"] if r.startswith("parity:")]
    assert "security-header-removed" in reason
    assert "the promotion would remove Strict-Transport-Security from production" in reason
    assert "max-age=63072000; includeSubDomains" in reason  # production's value
    assert "staging: no Strict-Transport-Security header" in reason
    [item] = [f for f in parity(verdict)["findings"] if f["level"] == "fail"]
    assert item["production"] == ("Strict-Transport-Security: max-age=63072000; "
                                  "includeSubDomains")
    assert item["staging"] == "no Strict-Transport-Security header"
    md = (result.report_dir / "verdict.md").read_text()
    assert "### Parity: staging vs production" in md and "security-header-removed" in md
    html = (result.report_dir / "verdict.html").read_text()
    assert 'id="parity"' in html and "security-header-removed" in html
    sarif = json.loads((result.report_dir / "findings.sarif").read_text())
    schema = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(sarif, schema)
    results = [r for run in sarif["runs"] for r in run["results"]]
    assert {"security-header-removed"} <= {r["ruleId"] for r in results}
    assert "security-header-removed" in result.output  # terminal summary
    assert_gentle(production, 30)


def test_a_removed_json_field_is_no_go(compare: Any, staging_env: Environment) -> None:
    del staging_env.documents["/api/products"]["items"][0]["tags"]
    verdict = compare("-p", "no:xdist").verdict
    assert verdict["verdict"] == "NO-GO"
    [reason] = [r for r in verdict["reasons"] if r.startswith("parity:")]
    assert "api-field-removed" in reason and "items[].tags" in reason
    assert "production: items[].tags array; staging: absent" in reason


def test_an_added_field_is_go_with_an_info_finding(compare: Any,
                                                   staging_env: Environment) -> None:
    staging_env.documents["/api/products"]["items"][0]["colour"] = "red"
    verdict = compare("-p", "no:xdist").verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    [added] = [f for f in parity(verdict)["findings"] if f["rule"] == "api-field-added"]
    assert added["level"] == "info"
    assert (added["production"], added["staging"]) == ("(absent)", "items[].colour: string")


def test_a_changed_type_is_no_go(compare: Any, staging_env: Environment) -> None:
    staging_env.documents["/api/products"]["total"] = "1"
    policy = POLICY.replace('paths = ["/api/products"]',
                            'paths = ["/api/products", "/health"]')
    verdict = compare("-p", "no:xdist", policy=policy).verdict
    assert verdict["verdict"] == "NO-GO"
    assert rules(verdict, "fail") == {"api-type-changed"}
    [changed] = [f for f in parity(verdict)["findings"] if f["rule"] == "api-type-changed"]
    assert (changed["production"], changed["staging"]) == ("total: number", "total: string")


def test_a_removed_endpoint_and_openapi_operation_are_no_go(
        compare: Any, production: Environment, staging_env: Environment) -> None:
    operations = {"/api/products": {"get": {}, "post": {}}, "/api/orders": {"get": {}}}
    for env in (production, staging_env):
        env.documents["/openapi.json"] = {"openapi": "3.1.0", "paths": json.loads(
            json.dumps(operations))}
        env.documents["/api/orders"] = {"items": []}
    del staging_env.documents["/api/orders"]
    del staging_env.documents["/openapi.json"]["paths"]["/api/products"]["post"]
    staging_env.documents["/openapi.json"]["paths"]["/api/carts"] = {"get": {}}
    policy = POLICY.replace('paths = ["/api/products"]',
                            'paths = ["/api/products", "/api/orders"]\nopenapi = "/openapi.json"')
    verdict = compare("-p", "no:xdist", policy=policy).verdict
    assert verdict["verdict"] == "NO-GO"
    assert rules(verdict, "fail") == {"api-endpoint-removed", "api-operation-removed"}
    assert rules(verdict, "info") >= {"api-operation-added"}
    [gone] = [f for f in parity(verdict)["findings"] if f["rule"] == "api-endpoint-removed"]
    assert (gone["url"], gone["production"], gone["staging"]) == ("/api/orders", "200", "404")
    [op] = [f for f in parity(verdict)["findings"] if f["rule"] == "api-operation-removed"]
    assert op["production"] == "POST /api/products"


def test_a_budget_spent_on_redirects_is_no_go_and_the_server_saw_no_more(
        compare: Any, production: Environment) -> None:
    production.redirects["/"] = "/"  # a redirect loop: each hop is a request
    # Reruns (the policy's and --force-reruns) must not spend the budget again.
    policy = POLICY + "max_requests = 8\n[flaky]\nretries = 2\n"
    verdict = compare("-p", "no:xdist", "--force-reruns=2", policy=policy).verdict
    assert verdict["verdict"] == "NO-GO"
    assert any("request budget" in r and "parity" in r for r in verdict["reasons"]), \
        verdict["reasons"]
    assert_gentle(production, 8)


def test_a_declared_field_that_differs_warns_and_a_missing_one_blocks(
        compare: Any, staging_env: Environment) -> None:
    staging_env.documents["/health"]["db_schema"] = "43"
    verdict = compare("-p", "no:xdist").verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert any("config-field-differs" in w and "production: 42; staging: 43" in w
               for w in verdict["warnings"]), verdict["warnings"]
    del staging_env.documents["/health"]["db_schema"]
    verdict = compare("-p", "no:xdist").verdict
    assert verdict["verdict"] == "NO-GO"
    assert rules(verdict, "fail") == {"config-field-missing"}


def test_an_accepted_risk_downgrades_until_it_expires(compare: Any,
                                                      staging_env: Environment) -> None:
    del staging_env.headers["Cross-Origin-Opener-Policy"]
    accepted = POLICY + ("[parity.rules]\nsecurity-header-removed = { level = \"warn\", "
                         "owner = \"alice\", expires = 2099-12-31, reason = \"SEC-1\" }\n")
    verdict = compare("-p", "no:xdist", policy=accepted).verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    [item] = [f for f in parity(verdict)["findings"] if f["rule"] == "security-header-removed"]
    assert item["level"] == "warn" and item["accepted_risk"]["owner"] == "alice"
    verdict = compare("-p", "no:xdist", policy=accepted.replace("2099", "2020")).verdict
    assert verdict["verdict"] == "NO-GO"
    assert any("Cross-Origin-Opener-Policy" in r for r in verdict["reasons"])


def test_the_compare_credentials_never_appear_in_any_output(
        compare: Any, production: Environment, staging_env: Environment,
        pytester: pytest.Pytester) -> None:
    # Production reflects the credential into a compared field, and the URL carries a password:
    # the values are shown side by side unless the redaction holds.
    production.documents["/version"]["deployed_by"] = "<echo:X-Prod-Auth>"
    staging_env.documents["/version"]["deployed_by"] = "ci"
    del staging_env.headers["Strict-Transport-Security"]
    password = "pa55:w0rd/x"
    url = production.url.replace("http://", f"http://ops:{quote(password, safe='')}@")
    policy = POLICY.replace('fields = ["db_schema"]', 'fields = ["db_schema", "deployed_by"]')
    junit = pytester.path / "junit.xml"
    result = compare("-p", "no:xdist", f"--junitxml={junit}", "-rA", policy=policy,
                     compare_url=url)
    verdict = result.verdict
    assert verdict["verdict"] == "NO-GO"
    assert {s.headers.get("X-Prod-Auth") for s in production.seen} == {f"Bearer {TOKEN}"}
    [differs] = [f for f in parity(verdict)["findings"] if f["rule"] == "config-field-differs"]
    assert differs["production"] == "***"  # the reflected credential, masked
    outputs = {"terminal": result.output, "junit": junit.read_text()}
    for name in ("verdict.json", "verdict.md", "verdict.html", "findings.sarif"):
        outputs[name] = (result.report_dir / name).read_text()
    secrets = [TOKEN, f"Bearer {TOKEN}", password]
    forms = {form for s in secrets for form in (
        s, quote(s, safe=""), quote(s), base64.b64encode(s.encode()).decode())}
    forms.add(base64.b64encode(f"ops:{password}".encode()).decode())
    for name, text in outputs.items():
        for form in forms:
            assert form not in text, f"{form!r} leaked into {name}"


@pytest.mark.parametrize(("args", "message"), [
    (["--staging-compare-url="], "--staging-compare-url given an empty value"),
    (["--staging-compare-header=X-A: b"], "needs --staging-compare-url"),
])
def test_usage_errors_are_no_go(pytester: pytest.Pytester, run_staging: Any,
                                staging_env: Environment, args: list[str],
                                message: str) -> None:
    pytester.makepyfile(test_up=TEST)
    result = run_staging(*args, url=staging_env.url)
    assert result.ret == 4
    assert message in result.output
    assert result.verdict["verdict"] == "NO-GO"
    assert not staging_env.seen or all(s.method in SAFE_METHODS for s in staging_env.seen)


def test_a_budget_too_small_for_the_comparison_is_a_usage_error(
        compare: Any, production: Environment) -> None:
    result = compare(policy=POLICY + "max_requests = 3\n")
    assert result.ret == 4
    assert "parity.max_requests: 3 is fewer than the 6 requests" in result.output
    assert result.verdict["verdict"] == "NO-GO"
    assert production.seen == []


def test_without_a_compare_url_there_is_no_parity_gate(pytester: pytest.Pytester,
                                                      run_staging: Any,
                                                      staging_env: Environment) -> None:
    pytester.makepyfile(test_up=TEST)
    pytester.makefile(".toml", policy=POLICY)
    verdict = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                          url=staging_env.url).verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert "parity" not in verdict["gates"]


def test_parity_items_deselected_leave_an_empty_blocking_gate(compare: Any) -> None:
    verdict = compare("-p", "no:xdist", "-k", "test_up").verdict
    assert verdict["verdict"] == "NO-GO"
    assert any(r.startswith("parity: gate ran 0 test(s)") for r in verdict["reasons"])


def test_policy_url_enables_the_gate(pytester: pytest.Pytester, run_staging: Any,
                                     production: Environment,
                                     staging_env: Environment) -> None:
    pytester.makepyfile(test_up=TEST)
    pytester.makefile(".toml", policy=POLICY + f'url = "{production.url}"\n')
    verdict = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                          url=staging_env.url).verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert parity(verdict)["status"] == "passed"
    assert_gentle(production, 30)


def docs_path() -> Path:
    return Path(__file__).resolve().parents[1] / "docs" / "parity.md"


def _tls_environment(tls_ca: Any) -> Environment:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)
    return Environment(ssl_context=context).start()


@pytest.fixture
def tls_production(tls_ca: Any) -> Iterator[Environment]:
    env = _tls_environment(tls_ca)
    yield env
    env.stop()


def test_https_on_both_compares_tls_and_stays_clean(
        pytester: pytest.Pytester, run_staging: Any, tls_ca: Any,
        tls_production: Environment, tmp_path: Path) -> None:
    staging = _tls_environment(tls_ca)
    try:
        bundle = tmp_path / "ca.pem"
        tls_ca.cert_pem.write_to_path(str(bundle))
        pytester.makepyfile(test_up=TEST)
        pytester.makefile(".toml", policy=POLICY)
        verdict = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                              f"--staging-ca-bundle={bundle}",
                              f"--staging-compare-url={tls_production.url}",
                              url=staging.url).verdict
    finally:
        staging.stop()
    assert verdict["verdict"] == "GO", verdict["reasons"]
    outcomes = {t["nodeid"]: t["outcome"] for t in verdict["tests"] if t["gate"] == "parity"}
    assert outcomes["staging-parity::transport"] == "passed"
    transport = parity(verdict)["metrics"]["parity:transport"]
    # certificate + legacy-TLS handshakes (no plain-HTTP twin on an explicit port)
    assert transport["requests"]["production"] == 2
    assert_gentle(tls_production, 30)


def test_plain_http_staging_of_an_https_production_is_no_go(
        pytester: pytest.Pytester, run_staging: Any, tls_ca: Any,
        tls_production: Environment, staging_env: Environment, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    pytester.makepyfile(test_up=TEST)
    pytester.makefile(".toml", policy=POLICY)
    verdict = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                          f"--staging-ca-bundle={bundle}",
                          f"--staging-compare-url={tls_production.url}",
                          url=staging_env.url).verdict
    assert verdict["verdict"] == "NO-GO"
    assert rules(verdict, "fail") == {"transport-https-missing"}
    [item] = [f for f in parity(verdict)["findings"] if f["rule"] == "transport-https-missing"]
    assert (item["production"], item["staging"]) == ("https", "plain http")


def test_an_unreachable_production_is_no_go_not_a_clean_comparison(compare: Any) -> None:
    from servers import free_port

    down = f"http://127.0.0.1:{free_port()}/"
    result = compare("-p", "no:xdist", compare_url=down)
    verdict = result.verdict
    assert verdict["verdict"] == "NO-GO"
    # Production could not be observed: the comparison could not judge (exit 3), and each
    # item's reason is its "could not compare" check, not a parity failure.
    assert verdict["judgement"] == "inconclusive" and result.ret == 3
    failed = [r for r in verdict["reasons"] if r.startswith("parity: ")]
    # The wording of staging being down (request_problems.describe): the URL, then the cause,
    # never urllib3's "HTTPConnectionPool(...): Max retries exceeded ... Failed to es...".
    assert failed and all(": could not compare: production: cannot GET" in r
                          and r.endswith(": connection refused") and f"cannot GET {down}" in r
                          for r in failed), verdict["reasons"]
    assert not any("HTTPConnectionPool" in r or "Max retries" in r for r in verdict["reasons"])
    # The summary names the compare URL, and says what could not be compared.
    assert f"parity vs {down}: 0 fail, 0 warn, 0 info; could not compare security, api, " \
           "version" in result.output
    assert "(compare target)" not in result.output


def test_with_staging_down_the_summary_still_names_the_compare_url(
        pytester: pytest.Pytester, run_staging: Any, production: Environment) -> None:
    from servers import free_port

    pytester.makepyfile(test_up=TEST)
    pytester.makefile(".toml", policy=POLICY.replace('health = "/health"',
                                                     'health = "/health"\nwait = 0.5'))
    result = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                         f"--staging-compare-url={production.url}",
                         url=f"http://127.0.0.1:{free_port()}/")
    assert result.verdict["verdict"] == "NO-GO"
    assert f"parity vs {production.url}: 0 fail, 0 warn, 0 info; no comparison ran" in \
        result.output
    assert not production.seen  # nothing compared with a staging that is not there


@pytest.mark.parametrize("drip_mode", ["headers", "body"])
def test_a_slow_production_ends_the_run_within_the_parity_timeout(
        compare: Any, mode: list[str], drip_mode: str) -> None:
    """A production that drips its answer (~250 bytes at one a second: minutes per request)
    holds the comparison no longer than [parity] timeout per item: each item stops at its
    first unanswered request (issue 20.3)."""
    from drip_servers import DripServer

    slow = DripServer(drip_mode, pace=1.0)  # type: ignore[arg-type]
    url = slow.url
    try:
        started = time.monotonic()
        result = compare(*mode, policy=POLICY + "timeout = 1\n", compare_url=url)
        elapsed = time.monotonic() - started
    finally:
        slow.stop()
    verdict = result.verdict
    assert verdict["verdict"] == "NO-GO"
    assert verdict["judgement"] == "inconclusive"
    failed = [r for r in verdict["reasons"] if r.startswith("parity: ")]
    assert {r.split(": could not compare:")[0] for r in failed} == {
        "parity: security", "parity: api", "parity: version"}, verdict["reasons"]
    assert all(f"production: cannot GET {url}" in r and
               r.endswith("timed out (no complete answer within 1s)") for r in failed), failed
    # Three items, one second each (in parallel under -n 2), plus the run itself; one request
    # answered in full would take over four minutes.
    assert elapsed < 3 * 1 + 25, elapsed


@pytest.mark.parametrize(("staging_url", "compare_url"), [
    ("https://staging.example/app/", "https://staging.example/app/"),
    ("https://staging.example/app", "https://staging.example/app/"),
    ("https://staging.example/", "https://staging.example:443"),
    ("http://staging.example:80/shop/", "http://staging.example/shop"),
    ("https://staging.example/", "HTTPS://STAGING.Example/"),
    ("https://staging.example/", "https://ops:pw@staging.example/?token=x"),
])
def test_a_compare_url_that_is_the_staging_url_is_a_usage_error(
        pytester: pytest.Pytester, run_staging: Any, staging_url: str,
        compare_url: str) -> None:
    """Compared with itself, staging passes every parity rule: one target written two ways
    (trailing slash, default port, host case, credentials and query) is refused up front."""
    pytester.makepyfile(test_up=TEST)
    result = run_staging(f"--staging-compare-url={compare_url}", url=staging_url)
    assert result.ret == 4, result.output
    expected = ("--staging-compare-url is the staging URL itself "
                f"({staging_url.lower().rstrip('/').replace(':80', '')}/): parity would "
                "compare staging with itself")
    assert expected in result.output
    assert result.verdict["verdict"] == "NO-GO"
    assert any("staging with itself" in reason for reason in result.verdict["reasons"])
    assert "pw" not in result.output.replace("pytest", "")


def test_the_staging_url_itself_from_env_and_policy_is_a_usage_error(
        pytester: pytest.Pytester, run_staging: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_up=TEST)
    pytester.makefile(".toml", policy=POLICY + 'url = "https://Staging.example:443/app"\n')
    monkeypatch.setenv("STAGING_URL", "https://staging.example/app/")
    result = run_staging("--staging-policy=policy.toml")
    assert result.ret == 4, result.output
    assert ("[parity] url is the staging URL itself (https://staging.example/app/): parity "
            "would compare staging with itself") in result.output
    assert result.verdict["verdict"] == "NO-GO"


def test_another_path_of_the_staging_host_is_another_target(
        pytester: pytest.Pytester, run_staging: Any, staging_env: Environment) -> None:
    """The refusal is about one target, not one host: /other/ on staging's host is compared."""
    pytester.makepyfile(test_up=TEST)
    pytester.makefile(".toml", policy=POLICY)
    result = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                         f"--staging-compare-url={staging_env.url}other/",
                         url=staging_env.url)
    assert result.ret != 4, result.output
    assert "with itself" not in result.output
    assert "parity" in result.verdict["gates"]
