"""OpenTelemetry export (the ``[otel]`` extra): each test a span in its own trace, the run a
root span carrying the verdict, sent over OTLP/HTTP once the verdict is written.

Active only on the controller, when the standard variables ask for it
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``; headers, timeout,
certificates and compression from the other ``OTEL_EXPORTER_OTLP_*`` variables, read by the
exporter itself) and the extra is installed. Otherwise nothing happens and opentelemetry is
never imported.

- A test's span: name = node id, trace id = the test's trace (the one its requests carried,
  so the backend's spans join it), attributes gate, outcome, blocking; a link to the run span.
- The run's span: the run's own trace (the readiness and version probes), attributes verdict,
  judgement (when the verdict has one) and the number of reasons.
- Bounded in time (the exporter's timeout, at most :data:`MAX_WAIT` seconds, in a daemon
  thread); any failure is one warning line on the terminal, never a change of verdict.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pytest

from pytest_staging.trace_context import is_trace_id, new_span_id

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TIMEOUT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
#: The distribution the extra brings (looked up without importing it).
EXPORTER_DIST = "opentelemetry-exporter-otlp-proto-http"
DEFAULT_TIMEOUT = 10.0
#: The longest the run waits for the export, whatever the timeout variable says.
MAX_WAIT = 60.0
SERVICE_NAME = "pytest-staging"
#: OpenTelemetry's semantic conventions for tests (``test.case.result.status``).
RESULT_STATUS = {"passed": "pass", "failed": "fail", "error": "fail"}


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for an OTLP trace export (and do not switch it off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER")
    if exporters is not None and "otlp" not in {e.strip().lower() for e in exporters.split(",")}:
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARS)


def installed() -> bool:
    """Whether the ``[otel]`` extra is installed (package metadata only: nothing imported)."""
    try:
        metadata.distribution(EXPORTER_DIST)
    except metadata.PackageNotFoundError:
        return False
    return True


def endpoint(environ: Mapping[str, str]) -> str:
    """Where the spans go, as the exporter will resolve it (for messages)."""
    traces = environ.get(ENDPOINT_VARS[0], "").strip()
    if traces:
        return traces
    base = environ.get(ENDPOINT_VARS[1], "").strip()
    return base.rstrip("/") + "/v1/traces" if base else ""


def wait_seconds(environ: Mapping[str, str]) -> float:
    """How long the run waits for the export: the exporter's timeout (seconds, as the Python
    exporter reads ``OTEL_EXPORTER_OTLP_*_TIMEOUT``), at most :data:`MAX_WAIT`."""
    for name in TIMEOUT_VARS:
        raw = environ.get(name, "").strip()
        if raw:
            try:
                return min(max(float(raw), 0.1), MAX_WAIT)
            except ValueError:
                break
    return DEFAULT_TIMEOUT


# -- the spans, as plain data ----------------------------------------------------------------
@dataclass
class SpanData:
    """One span to export (builtins only; the SDK objects are made at export)."""

    name: str
    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    #: (trace id, span id) of spans this one links to.
    links: list[tuple[str, str]] = field(default_factory=list)


def build_spans(verdict: Mapping[str, Any], times: Mapping[str, tuple[float, float]],
                started_ns: int, ended_ns: int) -> list[SpanData]:
    """The run's span and a span per test of ``verdict`` (times: node id -> (start, stop)
    in seconds since the epoch, from the test's reports; a test without them spans the
    run)."""
    run = verdict.get("run") or {}
    run_trace = str(run.get("trace_id") or "")
    if not is_trace_id(run_trace):
        return []
    reasons = list(verdict.get("reasons") or [])
    word = "GO" if verdict.get("verdict") == "GO" else "NO-GO"
    run_attributes: dict[str, Any] = {
        "staging.verdict": word,
        "staging.reasons": len(reasons),
        "staging.run_id": str(run.get("id") or ""),
        "staging.target": str((verdict.get("target") or {}).get("url") or ""),
        "test.suite.name": "pytest-staging",
        "test.suite.run.status": "success" if word == "GO" else "failure",
    }
    judgement = verdict.get("judgement")
    if isinstance(judgement, str) and judgement:
        run_attributes["staging.judgement"] = judgement
    run_span = SpanData(name="pytest-staging run", trace_id=run_trace, span_id=new_span_id(),
                        start_ns=started_ns, end_ns=max(ended_ns, started_ns),
                        attributes=run_attributes,
                        error=str(reasons[0])[:300] if reasons else "")
    spans = [run_span]
    for test in verdict.get("tests") or []:
        trace = str(test.get("trace_id") or "")
        if not is_trace_id(trace):
            continue
        nodeid = str(test.get("nodeid") or "")
        outcome = str(test.get("outcome") or "")
        start, stop = times.get(nodeid, (started_ns / 1e9, ended_ns / 1e9))
        attributes: dict[str, Any] = {
            "staging.gate": str(test.get("gate") or ""),
            "staging.outcome": outcome,
            "staging.blocking": test.get("blocking") is not False,
            "staging.run_id": str(run.get("id") or ""),
            "test.case.name": nodeid,
        }
        if outcome in RESULT_STATUS:
            attributes["test.case.result.status"] = RESULT_STATUS[outcome]
        if test.get("flaky"):
            attributes["staging.flaky"] = True
        spans.append(SpanData(
            name=nodeid, trace_id=trace, span_id=new_span_id(),
            start_ns=int(start * 1e9), end_ns=max(int(stop * 1e9), int(start * 1e9)),
            attributes=attributes, error=outcome if outcome in ("failed", "error") else "",
            links=[(run_span.trace_id, run_span.span_id)]))
    return spans


# -- the export ------------------------------------------------------------------------------
class _Collect(logging.Handler):
    """The exporter's own log records during our export: turned into one line of ours."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _recording_session() -> Any:
    """The exporter's HTTP session: a total deadline per request (a collector that drips
    cannot hold it), and what went wrong, in words, for our warning line."""
    import requests

    from pytest_staging.deadline import DeadlineSession
    from pytest_staging.request_problems import describe

    class Recording(DeadlineSession):
        problem = ""

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            try:
                response = super().send(request, **kwargs)
            except requests.RequestException as exc:
                self.problem = describe(exc)
                raise
            if response.status_code >= 300:
                self.problem = f"the collector answered HTTP {response.status_code}"
            return response

    return Recording()


def _why(records: list[logging.LogRecord]) -> str:
    """Why the exporter failed, from its log records when the session saw nothing."""
    for record in reversed(records):
        if "encode" in str(record.msg):
            return "the spans could not be encoded"
        if "timeout" in str(record.msg).lower():
            return "no answer within the timeout"
    return "the exporter reported a failure"


#: The Python exporter's own variable for a session of the user's (credentials): it wins.
SESSION_VAR = "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER"


def send(spans: list[SpanData], environ: Mapping[str, str]) -> str:
    """Export ``spans`` in one OTLP/HTTP request; "" on success, else why not (one line)."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.context import Context
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    class Ids(IdGenerator):
        """The ids each span must have: the test's trace, the span id chosen for it."""

        trace_id = 0
        span_id = 0

        def generate_trace_id(self) -> int:
            return self.trace_id

        def generate_span_id(self) -> int:
            return self.span_id

    resource = Resource.create({})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    ids = Ids()
    memory = InMemorySpanExporter()
    # Our own provider (the global one is the application's business); every span kept.
    provider = TracerProvider(resource=resource, id_generator=ids, sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    from pytest_staging import __version__

    tracer = provider.get_tracer("pytest-staging", __version__)
    for data in spans:
        ids.trace_id, ids.span_id = int(data.trace_id, 16), int(data.span_id, 16)
        links = [otel_trace.Link(otel_trace.SpanContext(
            int(trace, 16), int(span, 16), is_remote=True,
            trace_flags=otel_trace.TraceFlags(otel_trace.TraceFlags.SAMPLED)))
            for trace, span in data.links]
        span = tracer.start_span(data.name, context=Context(), attributes=data.attributes,
                                 links=links, start_time=data.start_ns)
        if data.error:
            span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, data.error))
        span.end(end_time=data.end_ns)
    session = None if environ.get(SESSION_VAR) else _recording_session()
    exporter = OTLPSpanExporter(session=session)
    try:
        result = exporter.export(memory.get_finished_spans())
    finally:
        exporter.shutdown()
        provider.shutdown()
    if result == SpanExportResult.SUCCESS:
        return ""
    return getattr(session, "problem", "") or "failed"


def export(spans: list[SpanData], environ: Mapping[str, str]) -> str:
    """Send ``spans``, waiting at most :func:`wait_seconds`; "" on success, else a warning."""
    from pytest_staging.redact import Redactor

    where = Redactor().url(endpoint(environ))  # no user:password or token in a message
    logger = logging.getLogger("opentelemetry")
    collect = _Collect()
    level, propagate = logger.level, logger.propagate
    outcome: list[str] = []

    def work() -> None:
        try:
            outcome.append(send(spans, environ))
        except Exception as exc:  # a bad variable, an encoding problem: a warning
            outcome.append(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
                           if str(exc).strip() else type(exc).__name__)

    # The exporter logs its failures (tracebacks included): they become our one line.
    logger.addHandler(collect)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    thread = threading.Thread(target=work, name="pytest-staging-otel", daemon=True)
    try:
        wait = wait_seconds(environ)
        thread.start()
        thread.join(wait + 2.0)
        if thread.is_alive():
            # Left behind as a daemon (the process exits without it), still silenced.
            return f"OpenTelemetry export to {where} did not finish within {wait:g}s"
        problem = outcome[0] if outcome else "failed"
        if not problem:
            return ""
        why = _why(collect.records) if problem == "failed" else problem
        return f"OpenTelemetry export to {where} failed: {why}"
    finally:
        if not thread.is_alive():
            logger.removeHandler(collect)
            logger.setLevel(level)
            logger.propagate = propagate


class OtelHooks:
    """On the controller: the tests' times from their reports, and the export once the
    verdict is written (after the terminal summary, so its warning is the last line)."""

    def __init__(self, controller: Any, environ: Mapping[str, str]) -> None:
        self.controller = controller
        self.environ = dict(environ)
        self.started_ns = time.time_ns()
        self.times: dict[str, tuple[float, float]] = {}
        self.done = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        start, stop = getattr(report, "start", None), getattr(report, "stop", None)
        if not isinstance(start, (int, float)) or not isinstance(stop, (int, float)):
            return
        known = self.times.get(report.nodeid)
        self.times[report.nodeid] = (min(start, known[0]), max(stop, known[1])) if known \
            else (float(start), float(stop))

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self.export(terminalreporter)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.export(config.pluginmanager.get_plugin("terminalreporter"))

    def export(self, terminalreporter: Any) -> None:
        verdict = self.controller.verdict
        if self.done or verdict is None or not self.controller.written:
            return
        self.done = True
        problem = ""
        try:
            spans = build_spans(verdict, self.times, self.started_ns, time.time_ns())
            problem = export(spans, self.environ) if spans else ""
        except Exception as exc:  # our own bug: still only a warning, the verdict stands
            problem = f"OpenTelemetry export failed: {type(exc).__name__}"
        if problem and terminalreporter is not None:
            with contextlib.suppress(Exception):
                terminalreporter.write_line(
                    f"pytest-staging: {self.controller.redactor.text(problem)} (the verdict "
                    "is unchanged)", yellow=True)


def register(config: pytest.Config, controller: Any) -> None:
    """Register the export on the controller when the variables ask for it and the
    ``[otel]`` extra is installed; otherwise nothing (and nothing imported)."""
    if wanted(os.environ) and installed():
        config.pluginmanager.register(OtelHooks(controller, os.environ), "staging-otel")
