"""The ``[otel]`` extra: whole runs exporting a span per test and the run's root span to an
OTLP/HTTP receiver on loopback; a receiver that is down or silent is one warning line, the
verdict unchanged; without the variables nothing is imported."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from otlp_receiver import OtlpReceiver
from servers import LoopbackServer, SilentServer, json_answer

from pytest_staging.otel_export import endpoint, wait_seconds, wanted

pytest.importorskip("opentelemetry.exporter.otlp.proto.http",
                    reason='needs the [otel] extra: pip install -e ".[otel]"')

POLICY = "[gates.security]\nmin_tests = 0\n[gates.performance]\nmin_tests = 0\n"
TESTS = """
def test_ok(staging):
    assert staging.get("/ok").status_code == 200


def test_broken(staging):
    assert staging.get("/broken").status_code == 200
"""
#: A status code of OpenTelemetry's protobuf Status.
STATUS_ERROR = 2


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    srv = OtlpReceiver().start()
    yield srv
    srv.stop()


@pytest.fixture
def shop(server: LoopbackServer, pytester: pytest.Pytester) -> LoopbackServer:
    server.routes["/ok"] = lambda req: json_answer({"ok": True})
    server.routes["/broken"] = lambda req: json_answer({"error": "down"}, 503)
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_shop=TESTS)
    return server


def clear_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                 "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME",
                 "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)


def test_each_test_is_a_span_of_its_own_trace_and_the_run_the_root(
        run_staging, shop: LoopbackServer, receiver: OtlpReceiver, mode: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    clear_otel(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=shop")
    run = run_staging("--staging-policy=policy.toml", *mode, url=shop.url)
    assert run.ret != 0, run.output
    assert "OpenTelemetry" not in run.output  # no warning: the export went through
    verdict = run.verdict
    spans = {s.name: s for s in receiver.spans}
    assert set(spans) == {"pytest-staging run", "test_shop.py::test_ok",
                          "test_shop.py::test_broken"}, spans
    root = spans["pytest-staging run"]
    assert root.trace_id == verdict["run"]["trace_id"] and root.parent_span_id == ""
    assert root.attributes["staging.verdict"] == "NO-GO"
    assert root.attributes["staging.reasons"] == len(verdict["reasons"]) >= 1
    assert root.status_code == STATUS_ERROR
    assert root.resource["service.name"] == "pytest-staging"
    sent = {r.path: r.headers["traceparent"].split("-")[1] for r in shop.requests
            if r.path in ("/ok", "/broken")}
    for test in verdict["tests"]:
        span = spans[test["nodeid"]]
        # The same trace the test's requests carried, so the backend's spans join it.
        path = "/ok" if test["nodeid"].endswith("test_ok") else "/broken"
        assert span.trace_id == test["trace_id"] == sent[path]
        assert span.attributes["staging.gate"] == "integration"
        assert span.attributes["staging.outcome"] == test["outcome"]
        assert span.links == [(root.trace_id, root.span_id)]
        assert root.start_ns <= span.start_ns <= span.end_ns <= root.end_ns
    assert spans["test_shop.py::test_broken"].status_code == STATUS_ERROR
    assert spans["test_shop.py::test_broken"].attributes["test.case.result.status"] == "fail"
    assert spans["test_shop.py::test_ok"].status_code != STATUS_ERROR
    assert receiver.headers[0].get("x-tenant") == "shop"  # OTEL_EXPORTER_OTLP_HEADERS


def test_judgement_is_on_the_root_span_when_the_verdict_has_one() -> None:
    from pytest_staging.otel_export import build_spans
    from pytest_staging.trace_context import derive_trace_id

    verdict = {"verdict": "NO-GO", "reasons": ["x"], "judgement": "inconclusive",
               "run": {"id": "r", "trace_id": derive_trace_id("s", "")}, "tests": []}
    [root] = build_spans(verdict, {}, 1, 2)
    assert root.attributes["staging.judgement"] == "inconclusive"
    del verdict["judgement"]
    [root] = build_spans(verdict, {}, 1, 2)
    assert "staging.judgement" not in root.attributes


@pytest.mark.parametrize("down", ["refused", "silent", "500"])
def test_a_receiver_that_is_down_is_a_warning_and_the_verdict_unchanged(
        run_staging, shop: LoopbackServer, receiver: OtlpReceiver, down: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    clear_otel(monkeypatch)
    silent = SilentServer()
    try:
        if down == "refused":
            url = receiver.url
            receiver.stop()
        elif down == "silent":
            url = silent.url.rstrip("/")
        else:
            receiver.status = 500
            url = receiver.url
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url + "/v1/traces")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
        started = time.monotonic()
        run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=shop.url)
        took = time.monotonic() - started
    finally:
        silent.stop()
    assert run.ret != 0
    verdict = run.verdict
    assert verdict["verdict"] == "NO-GO"
    assert verdict["reasons"] == ["integration: test_shop.py::test_broken failed: "
                                  "AssertionError: assert 503 == 200"]
    [line] = [x for x in run.output.splitlines() if "OpenTelemetry export" in x]
    assert f"OpenTelemetry export to {url}/v1/traces" in line
    assert line.endswith("(the verdict is unchanged)")
    assert {"refused": "connection refused", "silent": "timed out",
            "500": "HTTP 500"}[down] in line, line
    assert "Traceback" not in run.output and "urllib3" not in run.output
    assert took < 60  # bounded by the 1 s exporter timeout (+ its retries), never a hang


def test_a_go_stays_go_when_the_export_fails(run_staging, pytester: pytest.Pytester,
                                             server: LoopbackServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    clear_otel(monkeypatch)
    silent = SilentServer()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", silent.url)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
        pytester.makefile(".toml", policy=POLICY)
        pytester.makepyfile(test_ok="def test_ok(staging):\n    staging.get('/')\n")
        run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    finally:
        silent.stop()
    assert run.ret == 0, run.output
    assert run.verdict["verdict"] == "GO"
    assert "OpenTelemetry export to" in run.output


CHECK_IMPORTS = """
import json, os, sys

def pytest_unconfigure(config):
    with open(os.environ["IMPORTS_OUT"], "w") as out:
        json.dump(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"), out)
"""


@pytest.mark.parametrize("variables", [{}, {"OTEL_SDK_DISABLED": "true"},
                                       {"OTEL_TRACES_EXPORTER": "none"}],
                         ids=["no-variables", "sdk-disabled", "exporter-none"])
def test_without_the_variables_nothing_is_imported(
        run_staging, pytester: pytest.Pytester, server: LoopbackServer, receiver: OtlpReceiver,
        monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    clear_otel(monkeypatch)
    if variables:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    out = pytester.path / "imports.json"
    monkeypatch.setenv("IMPORTS_OUT", str(out))
    pytester.makeconftest(CHECK_IMPORTS)
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_ok="def test_ok(staging):\n    staging.get('/')\n")
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url,
                      subprocess=True)
    assert run.ret == 0, run.output
    assert json.loads(out.read_text()) == []
    assert receiver.spans == []


def test_the_variables() -> None:
    assert not wanted({})
    assert wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "})
    assert not wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "TRUE"})
    assert wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "otlp"})
    assert endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == "http://c:4318/v1/traces"
    assert wait_seconds({}) == 10.0
    assert wait_seconds({"OTEL_EXPORTER_OTLP_TIMEOUT": "3600"}) == 60.0
    assert wait_seconds({"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2",
                         "OTEL_EXPORTER_OTLP_TIMEOUT": "5"}) == 2.0
