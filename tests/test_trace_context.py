"""W3C trace context on what the plugin sends to staging: whole runs against loopback servers
that log each request's ``traceparent``, and the rules of ``trace_context`` itself."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from servers import LoopbackServer, Request, json_answer

from pytest_staging.trace_context import (
    MAX_MEMBERS,
    Trace,
    derive_trace_id,
    merge_tracestate,
    parse_traceparent,
    trace_id_of,
    trace_link,
    trace_url_problem,
)

#: What every valid traceparent we send looks like (version 00, sampled).
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
POLICY = "[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"


def header(request: Request, name: str) -> str | None:
    return next((v for k, v in request.headers.items() if k.lower() == name), None)


def spans(requests: list[Request]) -> list[tuple[str, str]]:
    """(trace id, span id) of each request, every one checked to be a valid traceparent."""
    out = []
    for request in requests:
        value = header(request, "traceparent")
        match = TRACEPARENT.match(value or "")
        assert match, f"{request.method} {request.path}: traceparent {value!r}"
        trace, span = match.groups()
        assert trace != "0" * 32 and span != "0" * 16
        state = header(request, "tracestate") or ""
        assert state.startswith("pytest-staging="), state
        out.append((trace, span))
    return out


TWO_TESTS = """
def test_a(staging):
    assert staging.get("/a/1").status_code == 200
    assert staging.get("/a/2").status_code == 200


def test_b(staging):
    staging.get("/b/1")
    assert staging.get("/b/2").status_code == 200, "b is broken"
"""


def test_one_trace_per_test_and_a_span_per_request(pytester: pytest.Pytester, run_staging,
                                                   server: LoopbackServer,
                                                   mode: list[str]) -> None:
    server.routes["/a/1"] = server.routes["/a/2"] = server.routes["/b/1"] = (
        lambda req: json_answer({"ok": True}))
    server.routes["/b/2"] = lambda req: json_answer({"error": "boom"}, 500)
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_two=TWO_TESTS)
    run = run_staging("--staging-policy=policy.toml", "--staging-retries=0", *mode,
                      url=server.url)
    assert run.ret != 0, run.output
    verdict = run.verdict
    # Every request the run sent carried a valid traceparent (health and version too).
    sent = dict(zip([r.path for r in server.requests], spans(server.requests), strict=True))
    by_test = {name: {sent[p][0] for p in sent if p.startswith(f"/{name}/")} for name in "ab"}
    assert all(len(ids) == 1 for ids in by_test.values()), by_test  # one trace per test
    trace_a, trace_b = by_test["a"].pop(), by_test["b"].pop()
    assert trace_a != trace_b
    assert len({span for _, span in sent.values()}) == len(sent)  # a new span per request
    records = {t["nodeid"]: t for t in verdict["tests"]}
    assert records["test_two.py::test_a"]["trace_id"] == trace_a
    assert records["test_two.py::test_b"]["trace_id"] == trace_b
    # The run's own requests (readiness) are the run's trace, recorded with the run.
    assert sent["/"][0] == verdict["run"]["trace_id"] not in (trace_a, trace_b)
    [failure] = verdict["gates"]["integration"]["failures"]
    assert failure["trace_id"] == trace_b
    assert [e["trace_id"] for e in failure["evidence"]] == [trace_b, trace_b]
    # The failing exchange names the span it was: its traceparent is in the evidence.
    last = [r for r in server.requests if r.path == "/b/2"][-1]
    assert failure["evidence"][-1]["request_headers"]["traceparent"] == header(last,
                                                                                "traceparent")


OWN_HEADERS = """
def test_per_request(staging):
    staging.get("/own/request", headers={"TraceParent": "00-%(own)s-00f067aa0ba902b7-01",
                                         "tracestate": "vendor=1"})


def test_session_header(staging):
    staging.headers["TRACEPARENT"] = "00-%(own)s-00f067aa0ba902b7-00"
    staging.get("/own/session")


def test_invalid_own(staging):
    staging.get("/own/invalid", headers={"traceparent": "not-a-trace"})


def test_opt_out(staging):
    staging.trace = None
    staging.get("/own/none")


def test_tracestate_merged(staging):
    staging.get("/own/state", headers={"tracestate": "pytest-staging=old,congo=t61rcWkgMzE"})
"""
OWN = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_a_caller_s_own_traceparent_wins(pytester: pytest.Pytester, run_staging,
                                        server: LoopbackServer) -> None:
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_own=OWN_HEADERS % {"own": OWN})
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret == 0, run.output
    got = {r.path: r for r in server.requests}
    assert header(got["/own/request"], "traceparent") == f"00-{OWN}-00f067aa0ba902b7-01"
    assert header(got["/own/request"], "tracestate") == "vendor=1"
    assert header(got["/own/session"], "traceparent") == f"00-{OWN}-00f067aa0ba902b7-00"
    assert header(got["/own/session"], "tracestate") is None
    assert header(got["/own/invalid"], "traceparent") == "not-a-trace"
    assert header(got["/own/none"], "traceparent") is None
    state = header(got["/own/state"], "tracestate") or ""
    members = state.split(",")
    assert members[0].startswith("pytest-staging=") and members[0] != "pytest-staging=old"
    assert members[1:] == ["congo=t61rcWkgMzE"]


REDIRECTS = """
def test_hops(staging):
    assert staging.get("/hop/same").json() == {"ok": True}
    assert staging.get("/hop/away").status_code == 200
"""


def test_redirect_hops(pytester: pytest.Pytester, run_staging, server: LoopbackServer,
                       mode: list[str]) -> None:
    """A hop on the staging origin is a new span of the same trace; a hop to another origin
    carries nothing of ours (requests copies a request's headers onto each hop)."""
    other = LoopbackServer().start()
    try:
        other.routes["/landing"] = lambda req: json_answer({"elsewhere": True})
        server.routes["/hop/same"] = lambda req: (302, {"Location": "/hop/done"}, b"")
        server.routes["/hop/done"] = lambda req: json_answer({"ok": True})
        server.routes["/hop/away"] = lambda req: (302, {"Location": other.url + "landing"}, b"")
        pytester.makefile(".toml", policy=POLICY)
        pytester.makepyfile(test_hops=REDIRECTS)
        run = run_staging("--staging-policy=policy.toml", *mode, url=server.url)
        assert run.ret == 0, run.output
        hops = [r for r in server.requests if r.path.startswith("/hop/")]
        ids = spans(hops)
        assert len({trace for trace, _ in ids}) == 1 and len({s for _, s in ids}) == 3
        [landing] = other.requests
        assert header(landing, "traceparent") is None and header(landing, "tracestate") is None
    finally:
        other.stop()


# -- the rules ------------------------------------------------------------------------------
def test_derived_trace_ids_are_stable_distinct_and_valid() -> None:
    one = derive_trace_id("run-1", "test_x.py::test_a")
    assert one == derive_trace_id("run-1", "test_x.py::test_a")
    assert one != derive_trace_id("run-2", "test_x.py::test_a")
    assert one != derive_trace_id("run-1", "test_x.py::test_b")
    assert re.fullmatch(r"[0-9a-f]{32}", one)


@pytest.mark.parametrize("value", [
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future",  # a later version
    " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ",
])
def test_parse_traceparent_accepts(value: str) -> None:
    assert parse_traceparent(value) is not None


@pytest.mark.parametrize("value", [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # uppercase
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  # 00 has four fields
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short
    "", None, 7,
])
def test_parse_traceparent_rejects(value: Any) -> None:
    assert parse_traceparent(value) is None


def test_tracestate_keeps_at_most_32_members_ours_first() -> None:
    existing = ",".join(f"v{i}=x" for i in range(40))
    merged = merge_tracestate(f"pytest-staging=old, {existing},,", "pytest-staging=new")
    members = merged.split(",")
    assert len(members) == MAX_MEMBERS
    assert members[0] == "pytest-staging=new" and members[1] == "v0=x"
    assert "pytest-staging=old" not in members


def test_stamp_is_per_origin_and_takes_its_own_header_off_a_hop() -> None:
    trace = Trace(derive_trace_id("seed", "t"), "https://staging.example/app/")
    headers: dict[str, str] = {"tracestate": "congo=1"}
    assert trace.stamp(headers, "https://staging.example:443/x") == trace.trace_id
    assert trace_id_of(headers) == trace.trace_id
    assert headers["tracestate"] == "pytest-staging=1,congo=1"
    # The hop elsewhere: ours is taken off, the caller's tracestate restored.
    assert trace.stamp(headers, "https://cdn.example/x") == ""
    assert headers == {"tracestate": "congo=1"}
    assert trace.stamp({}, "http://staging.example/x") == ""  # another scheme, another origin


def test_trace_url_links_only_valid_ids_into_valid_templates() -> None:
    template = "https://tempo.example/explore?traceId={trace_id}"
    trace = derive_trace_id("s", "t")
    assert trace_link(template, trace) == f"https://tempo.example/explore?traceId={trace}"
    assert trace_link(template, "<script>") == ""
    assert trace_link("javascript:alert(1)//{trace_id}", trace) == ""
    assert trace_url_problem("https://x.example/{trace_id}") is None
    assert trace_url_problem("https://x.example/") is not None
    assert trace_url_problem('https://x.example/{trace_id}"onmouseover=') is not None


def test_verdict_trace_ids_validate_against_the_schema() -> None:
    from pytest_staging.schema import validation_errors
    from pytest_staging.verdict import RunFacts, TestRecord, decide

    trace = derive_trace_id("s", "t")
    verdict = decide(RunFacts(tests=[TestRecord("t", "integration", outcome="failed",
                                                trace_id=trace)],
                              trace_id=derive_trace_id("s", ""), trace_url="https://x/{trace_id}"))
    assert validation_errors(json.loads(json.dumps(verdict))) == []
    assert verdict["tests"][0]["trace_id"] == trace
    broken = json.loads(json.dumps(verdict))
    broken["tests"][0]["trace_id"] = "not hex"
    assert validation_errors(broken)


# -- the built-in gates' requests ------------------------------------------------------------
def by_trace(requests: list[Request]) -> dict[str, set[str]]:
    """Paths per trace id (each request checked to carry a valid traceparent)."""
    out: dict[str, set[str]] = {}
    for request, (trace, _) in zip(requests, spans(requests), strict=True):
        out.setdefault(trace, set()).add(request.path.partition("?")[0])
    return out


def test_security_checks_are_one_trace_per_built_in_item(pytester: pytest.Pytester,
                                                         server: LoopbackServer) -> None:
    from servers import HARDENED_HEADERS

    server.always_headers = dict(HARDENED_HEADERS)
    report = pytester.path / "report"
    result = pytester.runpytest("--staging-url", server.url, "--staging-report-dir",
                                str(report), "-p", "no:cacheprovider", "-p", "no:xdist",
                                "--staging-gate", "security")
    verdict = json.loads((report / "verdict.json").read_text())
    assert result.ret == 0, result.stdout.str()
    traces = by_trace(server.requests)  # every probe carried a valid traceparent
    items = {t["nodeid"]: t["trace_id"] for t in verdict["tests"]}
    assert {"staging-security::headers", "staging-security::exposure"} <= set(items)
    assert len(set(items.values())) == len(items)
    assert set(traces) <= {*items.values(), verdict["run"]["trace_id"]}
    assert "/.git/config" in traces[items["staging-security::exposure"]]


def test_contract_operations_are_one_trace_each(pytester: pytest.Pytester, run_staging,
                                                mode: list[str]) -> None:
    pytest.importorskip("schemathesis")
    from contract_api import ContractAPI

    api = ContractAPI().start()
    try:
        (pytester.path / "policy.toml").write_text(
            '[contract]\nschema = "/openapi.json"\nmax_examples = 3\nrate = "200/s"\n')
        run = run_staging("--staging-policy=policy.toml", "--staging-gate", "contract", *mode,
                          url=api.url)
        assert run.ret == 0, run.output
        traces = by_trace(api.requests)
        items = {t["nodeid"]: t["trace_id"] for t in run.verdict["tests"]}
        listing = traces[items["staging-contract::GET /api/products"]]
        assert listing == {"/api/products"}
        assert all(p.startswith("/api/products/") for p in
                   traces[items["staging-contract::GET /api/products/{id}"]])
        # The schema is fetched at collection (on each xdist worker): the run's trace.
        assert "/openapi.json" in traces[run.verdict["run"]["trace_id"]]
    finally:
        api.stop()


def test_parity_never_sends_trace_context_to_the_compare_target(
        pytester: pytest.Pytester, run_staging) -> None:
    from parity_servers import Environment

    production, staging = Environment().start(), Environment().start()
    try:
        pytester.makefile(".toml", policy='[gates.security]\nmin_tests = 0\n'
                          '[gates.performance]\nmin_tests = 0\n[target]\nhealth = "/health"\n'
                          '[parity]\npaths = ["/api/products"]\n')
        pytester.makepyfile(test_up="def test_up(staging):\n    staging.get('/health')\n")
        run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                          f"--staging-compare-url={production.url}", url=staging.url)
        assert run.ret == 0, run.output
        assert production.seen
        for seen in production.seen:
            assert not {k.lower() for k in seen.headers} & {"traceparent", "tracestate"}
        parity = {t["trace_id"] for t in run.verdict["tests"]
                  if t["nodeid"].startswith("staging-parity") and t["outcome"] == "passed"}
        carried = {TRACEPARENT.match(s.headers.get("traceparent", "")).group(1)
                   for s in staging.seen}
        assert parity and parity <= carried
    finally:
        production.stop()
        staging.stop()
