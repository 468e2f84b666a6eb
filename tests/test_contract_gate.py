"""The contract gate: whole pytest runs against a real loopback API with an OpenAPI document
(tests/contract_api.py), a conforming one and drifted ones; requests counted at the server."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from contract_api import ContractAPI
from servers import LoopbackServer

from pytest_staging.gates.contract.runner import curl_command
from pytest_staging.gates.contract.session import Budget, BudgetExhausted
from pytest_staging.gates.contract.settings import from_section, parse_rate
from pytest_staging.policy import PolicyError, parse_policy
from pytest_staging.redact import Redactor

pytest.importorskip("schemathesis")

SECRET = "tok-9f8e7d6c5b4a"
SAFE = {"GET", "HEAD", "OPTIONS"}

#: Both ways an important path must work (as tests/conftest.py says; a module named
#: "conftest" is ambiguous under tests/faults).
MODES = {"serial": ["-p", "no:xdist"], "xdist": ["-n", "2"]}


@pytest.fixture
def api():
    servers: list[ContractAPI] = []

    def start(drift: str = "") -> ContractAPI:
        srv = ContractAPI(drift=drift).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def _policy(pytester: pytest.Pytester, body: str) -> list[str]:
    path = pytester.path / "policy.toml"
    path.write_text(body)
    return [f"--staging-policy={path}"]


def _outputs(run, pytester: pytest.Pytester) -> str:
    """Everything the run wrote or printed."""
    files = [run.report_dir / n for n in ("verdict.json", "verdict.md", "verdict.html")]
    files.append(pytester.path / "junit.xml")
    return run.output + "".join(p.read_text() for p in files if p.exists())


@pytest.mark.parametrize("mode_name", ["serial", "xdist"])
def test_conforming_api_is_go_safe_methods_only(pytester, run_staging, api, monkeypatch,
                                                 mode_name) -> None:

    target = api()
    monkeypatch.setenv("API_TOKEN", SECRET)
    args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 5\n'
                             'rate = "200/s"\n')
    run = run_staging(*args, *MODES[mode_name], "--staging-gate", "contract",
                      "--staging-header", "X-Api-Key: $API_TOKEN", url=target.url)
    verdict = run.verdict
    assert run.ret == 0, run.output
    assert verdict["verdict"] == "GO", verdict["reasons"]
    gate = verdict["gates"]["contract"]
    outcomes = {t["nodeid"]: t["outcome"] for t in verdict["tests"]}
    assert outcomes == {
        "staging-contract::GET /api/products": "passed",
        "staging-contract::GET /api/products/{id}": "passed",
        "staging-contract::POST /api/products": "skipped",
        "staging-contract::DELETE /api/products/{id}": "skipped",
    }
    assert gate["coverage"]["documented"] == 4 and gate["coverage"]["covered"] == 2
    assert gate["coverage"]["percent"] == 50.0
    assert isinstance(gate["seed"], int)
    assert verdict["run"]["versions"]["schemathesis"]
    sent = target.api_requests()
    assert sent and {r.method for r in sent} <= SAFE
    # The staging client's headers go with every generated request.
    assert all(r.headers.get("X-Api-Key") == SECRET for r in sent)
    assert gate["metrics"]["requests"] == len(sent)
    assert "Contract" in (run.report_dir / "verdict.md").read_text()


@pytest.mark.parametrize("mode_name", ["serial", "xdist"])
def test_drifted_api_is_no_go_naming_operation_and_check(pytester, run_staging, api,
                                                          monkeypatch, mode_name) -> None:

    target = api("rename")
    monkeypatch.setenv("API_TOKEN", SECRET)
    args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 5\n'
                             'rate = "200/s"\n')
    run = run_staging(*args, *MODES[mode_name], "--staging-gate", "contract",
                      "--staging-header", "X-Api-Key: $API_TOKEN",
                      "--junitxml", str(pytester.path / "junit.xml"), url=target.url)
    verdict = run.verdict
    assert run.ret == 1
    assert verdict["verdict"] == "NO-GO"
    assert ("contract: GET /api/products: response_schema_conformance: Response violates "
            "schema (status 200)") in verdict["reasons"]
    gate = verdict["gates"]["contract"]
    problem = next(p for p in gate["problems"] if p["operation"] == "GET /api/products")
    assert problem["check"] == "response_schema_conformance"
    assert problem["response"]["status"] == 200 and "cost" in problem["response"]["body"]
    assert problem["curl"].startswith("curl -X GET") and "/api/products" in problem["curl"]
    assert "X-Api-Key: ***" in problem["curl"]
    failure = next(f for f in gate["failures"]
                   if f["nodeid"] == "staging-contract::GET /api/products")
    assert "response_schema_conformance" in failure["message"]
    everything = _outputs(run, pytester)
    assert SECRET not in everything
    assert "reproduce: curl" in run.output
    html = (run.report_dir / "verdict.html").read_text()
    assert "50.0%" in html and "GET /api/products" in html


def test_undocumented_status_and_rule_levels(pytester, run_staging, api) -> None:
    target = api("status")
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    args = _policy(pytester, f'[contract]\nschema = "/openapi.json"\nmax_examples = 5\n'
                             f'rate = "200/s"\n[contract.rules]\nstatus_code_conformance = '
                             f'{{ level = "warn", owner = "bob", expires = {future} }}\n')
    run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract", url=target.url)
    verdict = run.verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert any("GET /api/products/{id}: status_code_conformance" in w
               for w in verdict["warnings"])
    problem = verdict["gates"]["contract"]["problems"][0]
    assert problem["level"] == "warn"
    assert problem["accepted_risk"]["owner"] == "bob"
    assert problem["response"]["status"] == 418

    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    args = _policy(pytester, f'[contract]\nschema = "/openapi.json"\nmax_examples = 5\n'
                             f'rate = "200/s"\n[contract.rules]\nstatus_code_conformance = '
                             f'{{ level = "ignore", owner = "bob", expires = {past} }}\n')
    run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract", url=target.url)
    assert run.verdict["verdict"] == "NO-GO"
    assert any("status_code_conformance: Undocumented status code" in r
               for r in run.verdict["reasons"])


@pytest.mark.parametrize("mode_name", ["serial", "xdist"])
def test_budget_and_rate_counted_at_the_server(pytester, run_staging, api,
                                               mode_name) -> None:

    target = api()
    args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 50\n'
                             'max_requests = 8\nrate = "10/s"\n')
    run = run_staging(*args, *MODES[mode_name], "--staging-gate", "contract",
                      url=target.url)
    sent = target.api_requests()
    assert 0 < len(sent) <= 8, len(sent)
    assert run.verdict["gates"]["contract"]["metrics"]["requests"] == len(sent)
    times = target.api_times()
    # 10/s for the whole run: n requests need at least (n - 1) / 10 seconds (small slack).
    assert times[-1] - times[0] >= (len(sent) - 1) / 10 * 0.9, times


def test_unsafe_methods_only_when_allowed_and_never_on_a_sensitive_target(
        pytester, run_staging, api) -> None:
    target = api()
    args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 3\n'
                             'rate = "200/s"\nallow_unsafe = true\n'
                             '[target]\nsensitive_url = "127\\\\.0\\\\.0\\\\.1"\n')
    run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract", url=target.url)
    assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
    assert {r.method for r in target.api_requests()} <= SAFE
    notes = run.verdict["gates"]["contract"]["operations"]["POST /api/products"]["note"]
    assert "sensitive_url" in notes

    other = api()
    args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 3\n'
                             'rate = "200/s"\nallow_unsafe = true\n')
    run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract", url=other.url)
    assert {"POST", "DELETE"} <= {r.method for r in other.api_requests()}
    assert run.verdict["gates"]["contract"]["coverage"]["covered"] == 4


def test_redirect_to_a_sensitive_url_is_not_followed(pytester, run_staging, api) -> None:
    prod = LoopbackServer().start()
    try:
        target = api()
        location = f"{prod.url}production/api/products"
        target.routes["GET /api/products"] = lambda req: (302, {"Location": location}, b"")
        args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 3\n'
                                 'rate = "200/s"\n')
        run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract",
                          url=target.url)
        assert prod.requests == []
        assert run.verdict["verdict"] == "NO-GO"
        assert any("GET /api/products" in r and "sensitive_url" in r
                   for r in run.verdict["reasons"]), run.verdict["reasons"]
    finally:
        prod.stop()


def test_staging_headers_do_not_follow_a_redirect_to_another_host(pytester, run_staging, api,
                                                                   monkeypatch) -> None:
    other = api()
    target = api()
    monkeypatch.setenv("API_TOKEN", SECRET)
    target.routes["GET /api/products"] = lambda req: (
        307, {"Location": f"{other.url}api/products"}, b"")
    args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 3\n'
                             'rate = "200/s"\n')
    run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract",
                "--staging-header", "X-Api-Key: $API_TOKEN", url=target.url)
    followed = other.api_requests()
    assert followed, "the redirect to a non-sensitive host is followed"
    assert all("X-Api-Key" not in r.headers for r in followed)
    assert all(r.headers.get("X-Api-Key") == SECRET for r in target.api_requests())


def test_seed_reproduces_the_generated_requests(pytester, run_staging, api) -> None:
    target = api()
    args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 8\n'
                             'rate = "500/s"\n')
    paths = []
    for _ in range(2):
        target.requests.clear()
        run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract",
                          "--staging-contract-seed", "4242", url=target.url)
        assert run.verdict["gates"]["contract"]["seed"] == 4242
        paths.append([r.path for r in target.api_requests()])
    assert paths[0] == paths[1] and len(paths[0]) > 2


def test_without_schemathesis_a_configured_gate_is_a_usage_error(pytester, run_staging,
                                                                   api) -> None:
    target = api()
    # As if it were not installed: no import, and no pytest plugin from its entry point.
    pytester.makeconftest("import sys\nsys.modules['schemathesis'] = None\n")
    run = run_staging("-p", "no:schemathesis", "--staging-openapi", "/openapi.json",
                      url=target.url)
    assert run.ret == 4
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    assert 'pip install "pytest-staging[contract]"' in verdict["reasons"][0]
    assert target.api_requests() == []


def test_schema_problems_are_no_go_never_an_empty_gate(pytester, run_staging, api) -> None:
    target = api()
    run = run_staging("--staging-openapi", "/missing.json", "--staging-gate", "contract",
                      "-p", "no:xdist", url=target.url)
    assert run.verdict["verdict"] == "NO-GO"
    assert any("contract gate cannot run: schema" in r and "404" in r
               for r in run.verdict["reasons"]), run.verdict["reasons"]

    run = run_staging("--staging-openapi", "", url=target.url)
    assert run.ret == 4 and "--staging-openapi given an empty value" in run.verdict["reasons"][0]

    args = _policy(pytester, '[contract]\nschema = ""\n')
    run = run_staging(*args, url=target.url)
    assert run.ret == 4 and "contract.schema" in run.verdict["reasons"][0]


def test_schema_from_a_file_with_a_server_path(pytester, run_staging, api) -> None:
    from contract_api import DOCUMENT

    target = api()
    document = json.loads(json.dumps(DOCUMENT))
    document["servers"] = [{"url": "https://elsewhere.example/api"}]
    document["paths"] = {k.removeprefix("/api"): v for k, v in document["paths"].items()}
    (pytester.path / "openapi.json").write_text(json.dumps(document))
    args = _policy(pytester, '[contract]\nschema = "openapi.json"\nmax_examples = 3\n'
                             'rate = "200/s"\n')
    run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract", url=target.url)
    assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
    # Only the server's path is used: every request went to the staging target.
    assert {r.path.split("?")[0].rsplit("/", 1)[0] for r in target.api_requests()} <= {
        "/api", "/api/products"}


PARSE_FAILED = ("contract: schema: contract gate cannot run: schema could "
                "not be parsed as ")
BROKEN_YAML = "openapi: 3.0.3\ninfo:\n  title: shop\n   version: '1'\npaths: {}\n"


def test_a_schema_that_does_not_parse_says_so_with_line_and_column(
        pytester, run_staging, api, tmp_path) -> None:
    """Issue 20.5: the reason says the document could not be parsed, the parser's message and
    where, never YAML's caret line cut to "^)". An absolute local path is read as a file,
    not fetched from the target (which would answer 404)."""
    target = api()
    broken = tmp_path / "openapi.yaml"
    broken.write_text(BROKEN_YAML)
    run = run_staging(f"--staging-openapi={broken}", "--staging-gate", "contract",
                      "-p", "no:xdist", url=target.url)
    [reason] = [r for r in run.verdict["reasons"] if "contract" in r]
    # The cause first, the (long) path last: a reason cut to one line keeps the cause.
    assert reason.startswith(PARSE_FAILED + "YAML: mapping values are not allowed here (line 4, "
                             "column 11 of "), reason
    assert "^" not in reason
    assert f"(line 4, column 11 of {broken})" in run.output  # whole in the failure report
    # A relative path with a space (it travels as a percent-encoded file:// URI).
    (pytester.path / "api docs").mkdir()
    (pytester.path / "api docs" / "openapi.yaml").write_text(BROKEN_YAML)
    run = run_staging("--staging-openapi=api docs/openapi.yaml", "--staging-gate", "contract",
                      "-p", "no:xdist", url=target.url)
    [reason] = [r for r in run.verdict["reasons"] if "contract" in r]
    assert reason.startswith(PARSE_FAILED + "YAML: mapping values are not allowed here (line 4, "
                             "column 11 of "), reason
    assert "api docs/openapi.yaml)" in run.output
    # Read here, not asked of the target.
    assert not [r for r in target.requests if "openapi" in r.path]


@pytest.mark.parametrize(("body", "expected"), [
    ('{"openapi": "3.0.3",\n "paths": {},\n}',
     "could not be parsed as JSON: Expecting property name enclosed in double quotes "
     "(line 3, column 1 of {url}spec)"),
    ("openapi: 3.0.3\npaths:\n\t/a: {}\n",
     "could not be parsed as YAML: found character '\\t' that cannot start any token "
     "(line 3, column 1 of {url}spec; while scanning for the next token)"),
    ("<html><body>Welcome to nginx</body></html>",
     "{url}spec: not an OpenAPI document (plain text starting '<html><body>Welcome to "
     "nginx</body></html>')"),
])
def test_a_served_schema_that_does_not_parse_names_the_cause(
        pytester, run_staging, api, body, expected) -> None:
    from servers import text_answer

    target = api()
    target.routes["/spec"] = lambda req: text_answer(body)
    run = run_staging("--staging-openapi", "/spec", "--staging-gate", "contract",
                      "-p", "no:xdist", url=target.url)
    assert run.ret != 0
    [reason] = [r for r in run.verdict["reasons"] if "contract" in r]
    assert reason.endswith("contract gate cannot run: schema " + expected.replace(
        "{url}", target.url)), reason


def test_an_absolute_path_is_a_local_file_when_it_exists(pytester, run_staging, api,
                                                         tmp_path) -> None:
    from contract_api import DOCUMENT

    target = api()
    local = tmp_path / "openapi.json"
    local.write_text(json.dumps(DOCUMENT))
    args = _policy(pytester, f'[contract]\nschema = "{local}"\nmax_examples = 3\n'
                             'rate = "200/s"\n')
    run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract", url=target.url)
    assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
    assert not [r for r in target.requests if "openapi" in r.path]
    # One that does not exist here is a path on the target: its 404 says how to name a file.
    missing = tmp_path / "nowhere" / "openapi.json"
    run = run_staging(f"--staging-openapi={missing}", "--staging-gate", "contract",
                      "-p", "no:xdist", url=target.url)
    [reason] = [r for r in run.verdict["reasons"] if "contract" in r]
    assert reason.startswith("contract: schema: contract gate cannot "
                             "run: schema is no file here, and as a path on the target it "
                             "answered 404 (check the path; file:///... names a local "
                             "file): "), reason
    assert f"names a local file): {missing}" in run.output


def _ok(schema: dict) -> dict:
    return {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}


ITEMS = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}}
#: Operations whose reproductions used to lie: a cookie set by one answer and sent with the
#: next operation's requests, a redirect whose curl showed the last hop, a generated cookie
#: parameter shown as "Cookie: ***".
STATEFUL = {
    "openapi": "3.0.3", "info": {"title": "stateful", "version": "1"},
    "paths": {
        "/api/session": {"get": {"responses": _ok({"type": "object"})}},
        "/api/cart": {"get": {"responses": _ok(ITEMS)}},
        "/api/old": {"get": {"responses": _ok(ITEMS)}},
        "/api/prefs": {"get": {"parameters": [
            {"name": "pref", "in": "cookie", "required": True,
             "schema": {"type": "string", "enum": ["dark-mode"]}}],
            "responses": _ok({"type": "object"})}},
    },
}


def _stateful_api() -> LoopbackServer:
    from servers import json_answer

    target = LoopbackServer()
    target.routes["/openapi.json"] = lambda req: json_answer(STATEFUL)
    target.routes["/api/session"] = lambda req: json_answer(
        {}, 200, **{"Set-Cookie": "sid=s-0042; Path=/"})
    # A cart that breaks when a session cookie of another operation arrives with it.
    target.routes["/api/cart"] = lambda req: json_answer({"error": "stale session"}, 500) \
        if "sid=" in req.headers.get("Cookie", "") else json_answer({"items": []})
    target.routes["/api/old"] = lambda req: (302, {"Location": "/api/new"}, b"")
    target.routes["/api/new"] = lambda req: json_answer({"moved": True})  # no "items"
    target.routes["/api/prefs"] = lambda req: json_answer({"error": "teapot"}, 418)
    return target.start()


@pytest.mark.parametrize("mode_name", ["serial", "xdist"])
def test_reproductions_are_the_requests_that_were_sent(pytester, run_staging,
                                                       mode_name) -> None:
    """Issue 24.6: every generated request starts with a clean cookie jar (no result depends
    on the order operations run in), and a problem's curl is the first request of its call
    (-L when the call followed redirects), with generated cookie parameters replayable."""
    target = _stateful_api()
    try:
        args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 3\n'
                                 'rate = "200/s"\n')
        run = run_staging(*args, *MODES[mode_name], "--staging-gate", "contract",
                          url=target.url)
    finally:
        target.stop()
    verdict = run.verdict
    outcomes = {t["nodeid"].split("::")[1]: t["outcome"] for t in verdict["tests"]}
    assert outcomes["GET /api/session"] == "passed"
    assert outcomes["GET /api/cart"] == "passed", verdict["reasons"]
    assert not [r for r in target.requests if r.path.startswith("/api/cart")
                and "Cookie" in r.headers]
    problems = {p["operation"]: p for p in verdict["gates"]["contract"]["problems"]}
    old = problems["GET /api/old"]
    assert old["check"] == "response_schema_conformance"
    assert old["curl"].startswith("curl -X GET -L ") and old["curl"].endswith(
        f"{target.url}api/old"), old["curl"]
    assert "/api/new" not in old["curl"]
    prefs = problems["GET /api/prefs"]
    assert "'Cookie: pref=dark-mode'" in prefs["curl"] and "***" not in prefs["curl"]
    assert "-L" not in prefs["curl"]


def test_a_rejected_schema_names_operation_parameter_and_location(pytester, run_staging,
                                                                  api) -> None:
    """A schema Schemathesis rejects (RejectedSchemaDefinition: Invalid `type` definition)
    names the operation, the parameter and the definition's JSON pointer."""
    from contract_api import DOCUMENT
    from servers import json_answer

    document = json.loads(json.dumps(DOCUMENT))
    document["paths"]["/api/products/{id}"]["get"]["parameters"][0]["schema"] = {
        "type": "integr"}
    document["paths"]["/api/products"]["get"]["parameters"][0]["schema"] = {
        "$ref": "#/components/schemas/Limit"}
    document["components"] = {"schemas": {"Limit": {"type": "integer", "minimum": "one"}}}
    target = api()
    target.routes["/spec.json"] = lambda req: json_answer(document)
    run = run_staging("--staging-openapi", "/spec.json", "--staging-gate", "contract",
                      "-p", "no:xdist", url=target.url)
    reasons = [r for r in run.verdict["reasons"] if r.startswith("contract:")]
    assert ("contract: GET /api/products/{id}: parameter 'id' (path): schema rejected: "
            "Invalid `type` definition \"integr\" at "
            "#/paths/~1api~1products~1{id}/get/parameters/0/schema/type") in reasons, reasons
    assert ("contract: GET /api/products: parameter 'limit' (query): schema rejected: "
            "Invalid `minimum` definition \"one\" at #/components/schemas/Limit/minimum "
            "(\"one\" is not of type \"number\")") in reasons, reasons


# -- plain functions ------------------------------------------------------------------------
def test_api_base_url_keeps_requests_on_the_target() -> None:
    from pytest_staging.gates.contract.runner import api_base_url

    target = "http://127.0.0.1:1/app/"
    assert api_base_url({"servers": [{"url": "https://prod.example.com/v1"}]}, target) == \
        "http://127.0.0.1:1/app/v1"
    assert api_base_url({"servers": [{"url": "/{v}/api", "variables": {
        "v": {"default": "v2"}}}]}, target) == "http://127.0.0.1:1/app/v2/api"
    assert api_base_url({"swagger": "2.0", "basePath": "/api"}, target) == \
        "http://127.0.0.1:1/app/api"
    assert api_base_url({"openapi": "3.0.3"}, target) == "http://127.0.0.1:1/app"


def test_rate_parsing() -> None:
    assert parse_rate("20/s") == 20
    assert parse_rate("600/m") == 10
    assert parse_rate(" 36 / h ") == 0.01
    for bad in ("", "20", "0/s", "-1/s", "fast"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_policy_keys_are_validated() -> None:
    policy = parse_policy({"contract": {"schema": "/openapi.json", "rate": "5/s",
                                        "rules": {"not_a_server_error": "warn"}}})
    settings = from_section(policy.section("contract"))
    assert settings.rate == 5 and settings.level_of("not_a_server_error") == "warn"
    assert settings.level_of("status_code_conformance") == "fail"
    for bad, key in (({"rate": "fast"}, "contract.rate"),
                     ({"rules": {"nope": "warn"}}, "contract.rules"),
                     ({"max_examples": 0}, "contract.max_examples"),
                     ({"schema": " "}, "contract.schema"),
                     ({"colour": 1}, "contract.colour")):
        with pytest.raises(PolicyError, match=re.escape(key)):
            parse_policy({"contract": bad}, "p.toml")


def test_request_budget_is_split_exactly_between_workers(pytester) -> None:
    from pytest_staging.gates.contract.gate import _worker_share

    class Config:
        def __init__(self, workerid: str) -> None:
            self.workerinput = {"workercount": 3, "workerid": workerid}

    total = 4
    shares = []
    for worker in ("gw0", "gw1", "gw2"):
        workers, index = _worker_share(Config(worker))  # type: ignore[arg-type]
        shares.append(total // workers + (index < total % workers))
    assert shares == [2, 1, 1]


def test_budget_refuses_past_its_limits() -> None:
    budget = Budget(max_requests=2, max_seconds=60, rate=1000)
    budget.take()
    budget.take()
    with pytest.raises(BudgetExhausted, match="max_requests 2"):
        budget.take()


def test_curl_reproduction_is_redacted() -> None:
    import requests

    request = requests.Request(
        "POST", "http://127.0.0.1:1/api/x?access_token=abcd1234&q=1",
        headers={"Authorization": "Bearer s3cr3t-value", "X-Trace": "plain"},
        data=b'{"password": "s3cr3t-value"}').prepare()
    redactor = Redactor({"s3cr3t-value"})
    curl = curl_command(request, redactor, "/tmp/ca.pem")
    assert "s3cr3t-value" not in curl and "abcd1234" not in curl
    assert "'Authorization: ***'" in curl and "X-Trace: plain" in curl
    assert "--cacert /tmp/ca.pem" in curl and curl.startswith("curl -X POST")
    # Generated cookie parameters are replayable; a known secret in them is still masked;
    # the run's own Cookie header (a configured secret header) is masked whole.
    request = requests.Request("GET", "http://127.0.0.1:1/api/p", headers={
        "Cookie": "pref=dark; sid=s3cr3t-value"}).prepare()
    assert "'Cookie: pref=dark; sid=***'" in curl_command(request, redactor, True)
    assert "'Cookie: ***'" in curl_command(request, Redactor(secret_headers=["Cookie"]), True)
    assert curl_command(request, redactor, True, follow=True).startswith("curl -X GET -L ")


def test_inactive_run_has_no_contract_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0
    assert not Path(pytester.path / "staging-report").exists()


def test_docs_example_policy_loads() -> None:
    from pytest_staging.policy import load_policy

    root = Path(__file__).resolve().parents[1]
    policy = load_policy(root / "docs" / "examples" / "contract-policy.toml")
    settings = from_section(policy.section("contract"))
    assert settings.schema == "/openapi.json" and settings.rate == 20
    assert (settings.max_examples, settings.max_requests, settings.max_seconds) == (25, 500, 60)
    assert settings.level_of("response_headers_conformance") == "warn"
    assert settings.level_of("content_type_conformance", dt.date(2031, 7, 1)) == "fail"
    assert settings.level_of("not_a_server_error") == "fail"


def test_https_target_with_ca_bundle_and_url_query(pytester, run_staging, tls_ca,
                                                   tmp_path) -> None:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(context)
    target = ContractAPI(ssl_context=context).start()
    try:
        bundle = tmp_path / "ca.pem"
        tls_ca.cert_pem.write_to_path(str(bundle))
        args = _policy(pytester, '[contract]\nschema = "/openapi.json"\nmax_examples = 3\n'
                                 'rate = "200/s"\n')
        run = run_staging(*args, "-p", "no:xdist", "--staging-gate", "contract",
                          f"--staging-ca-bundle={bundle}", url=target.url + "?tenant=blue")
        assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
        sent = target.api_requests()
        assert sent and all("tenant=blue" in r.path for r in sent)
    finally:
        target.stop()


NOT_FOUND = "schema file not found: {} (use a URL, or file://)"


def test_a_missing_local_schema_file_is_a_usage_error(pytester, run_staging, api,
                                                      tmp_path) -> None:
    """A schema that names a file here (relative, ./, file://, or absolute in a directory
    that exists here) and is not there: exit 4 and a NO-GO saying so, at the start of the run; it
    is never sent to the target as a path (a 404 for a typo in a file name misleads)."""
    target = api()
    (pytester.path / "specs").mkdir()
    cases = [
        (["--staging-openapi=specs/opanapi.json"], pytester.path / "specs" / "opanapi.json"),
        (["--staging-openapi=./openapi.yaml"], pytester.path / "openapi.yaml"),
        ([f"--staging-openapi={tmp_path / 'openapi.json'}"], tmp_path / "openapi.json"),
        ([f"--staging-openapi={(tmp_path / 'api.json').as_uri()}"], tmp_path / "api.json"),
        # In the policy: relative to the policy file's directory.
        (_policy(pytester, '[contract]\nschema = "./specs/api.json"\n'),
         pytester.path / "specs" / "api.json"),
    ]
    for args, path in cases:
        run = run_staging(*args, "--staging-gate", "contract", "-p", "no:xdist",
                          url=target.url)
        assert run.ret == 4, (args, run.output)
        line = NOT_FOUND.format(path)
        assert line in run.output, (args, run.output)
        assert run.verdict["verdict"] == "NO-GO"
        assert any(line in reason for reason in run.verdict["reasons"]), run.verdict["reasons"]
    assert not [r for r in target.requests if r.path.endswith((".json", ".yaml"))]


def test_a_path_on_the_target_that_answers_404_says_so(pytester, run_staging, api) -> None:
    """/openapi.json (its directory is this machine's root) and /docs/openapi.json (no /docs
    here) are paths on the target: asked of it, and its 404 is the reason."""
    target = api()
    for source in ("/openapi.yml", "/no-such-dir-here/openapi.json"):
        run = run_staging(f"--staging-openapi={source}", "--staging-gate", "contract",
                          "-p", "no:xdist", url=target.url)
        assert run.ret not in (0, 4), run.output
        [reason] = [r for r in run.verdict["reasons"] if "contract" in r]
        assert "schema is no file here, and as a path on the target it answered 404" in reason
        assert f"names a local file): {source}" in run.output
        assert [r for r in target.requests if r.path == source]
