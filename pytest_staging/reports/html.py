"""HTML report: one self-contained file (inline CSS, no external assets) from a verdict dict.

``build_view`` turns a verdict (possibly partial: a placeholder, an older run) into plain data
with every default filled in, so the template stays simple and never fails on a missing key.
Rendering uses jinja2 with autoescape on: test ids, messages and response bodies are text.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.bccache

from pytest_staging import __version__
from pytest_staging.gates.contract.report import html_view as contract_view
from pytest_staging.gates.parity.report import html_view as parity_view
from pytest_staging.gates.performance.report import thresholds_of
from pytest_staging.gates.security.accepted import accepted_rows
from pytest_staging.reports import charts
from pytest_staging.reports.summary import JUDGEMENT_MEANING, flaky_line, judgement_of, sharding
from pytest_staging.trace_context import trace_link

BUILTIN_GATES = ("integration", "security", "performance")
COUNT_KEYS = ("total", "passed", "failed", "error", "skipped", "xfailed", "flaky")
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
LEVEL_ORDER = {"fail": 0, "warn": 1, "info": 2, "ignore": 3}


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def ordered_gate_names(gates: Mapping[str, Any]) -> list[str]:
    """Built-in gates first in their fixed order, then the others as they appear."""
    first = [g for g in BUILTIN_GATES if g in gates]
    return first + [g for g in gates if g not in BUILTIN_GATES]


#: Metric keys that are series, drawn (a load's timeline), not listed or compared one by one.
SERIES_KEYS = ("timeline",)


def flatten_metrics(metrics: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten nested metric dicts into ``("a.b.c", value)`` rows, in key order (series such
    as a load's timeline left out: they are charts)."""
    rows: list[tuple[str, Any]] = []
    if isinstance(metrics, Mapping):
        for key, value in metrics.items():
            if key in SERIES_KEYS:
                continue
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) and value:
                rows.extend(flatten_metrics(value, name))
            else:
                rows.append((name, value))
    elif prefix:
        rows.append((prefix, metrics))
    return rows


def display_value(value: Any) -> str:
    """Any verdict value as short display text: floats to 3 decimals, lists joined, None
    as ``-`` (a metric with its unit is ``thresholds.format_metric``)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(display_value(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def format_time(value: Any) -> str:
    """An ISO-8601 time as ``2026-01-31 12:34:56 UTC``; anything unparsable as given."""
    if not value:
        return "not finished"
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def _headers(value: Any) -> list[tuple[str, str]]:
    return [(str(k), display_value(v)) for k, v in _dict(value).items()]


def _evidence(items: Any, trace_url: str = "") -> list[dict[str, Any]]:
    out = []
    for item in _list(items):
        e = _dict(item)
        if e.get("kind") == "browser":
            continue
        out.append({
            "method": str(e.get("method") or "?"),
            "url": str(e.get("url") or ""),
            "status": e.get("status"),
            "latency_ms": display_value(e.get("latency_ms")),
            "request_headers": _headers(e.get("request_headers")),
            "response_headers": _headers(e.get("response_headers")),
            "body": "" if e.get("body") is None else str(e.get("body")),
            "trace_link": trace_link(trace_url, e.get("trace_id")),
        })
    return out


#: Only an inline image may be embedded: verdict.json can come from anywhere.
_IMAGE_DATA = re.compile(r"data:image/(?:png|jpeg);base64,[A-Za-z0-9+/]+={0,2}")


def _relative_link(path: Any) -> str:
    """A link to a file under the report dir, or "" (no scheme, no absolute path, no "..")."""
    text = str(path or "")
    parts = text.split("/")
    if not text or ":" in text or text.startswith("/") or "\\" in text or ".." in parts:
        return ""
    return text


def _browser_evidence(items: Any) -> list[dict[str, Any]]:
    """Browser evidence (screenshot, console errors, failed requests, trace) of a failure."""
    out = []
    for item in map(_dict, _list(items)):
        if item.get("kind") != "browser":
            continue
        data = str(item.get("screenshot_data") or "")
        out.append({
            "url": str(item.get("url") or ""),
            "title": str(item.get("title") or ""),
            "image": data if _IMAGE_DATA.fullmatch(data) else "",
            "screenshot": _relative_link(item.get("screenshot")),
            "trace": _relative_link(item.get("trace")),
            "console_errors": [str(t) for t in _list(item.get("console_errors"))],
            "failed_requests": [
                {"method": str(r.get("method") or "?"), "url": str(r.get("url") or ""),
                 "outcome": display_value(r.get("status") or r.get("error") or "failed")}
                for r in map(_dict, _list(item.get("failed_requests")))],
            "refused": [str(u) for u in _list(item.get("refused"))],
            "note": str(item.get("error") or ""),
        })
    return out


def _gate_rows(gates: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in ordered_gate_names(gates):
        g = _dict(gates[name])
        counts = _dict(g.get("counts"))
        rows.append({
            "name": name,
            "status": str(g.get("status") or "unknown"),
            "description": str(g.get("description") or ""),
            "blocking": g.get("blocking") is not False,
            "min_tests": g.get("min_tests"),
            "counts": {k: counts.get(k, 0) for k in COUNT_KEYS},
            "failed_checks": [c for c in map(_dict, _list(g.get("checks")))
                              if c.get("passed") is False],
        })
    return rows


def _failures(gates: Mapping[str, Any], trace_url: str = "") -> list[dict[str, Any]]:
    """Every failure, what blocks first; with ``trace_url`` ([evidence] trace_url) its
    trace and each exchange's are links (``trace_link`` checks template and id)."""
    out = []
    for name in ordered_gate_names(gates):
        for f in map(_dict, _list(_dict(gates[name]).get("failures"))):
            out.append({
                "gate": name,
                "nodeid": str(f.get("nodeid") or "?"),
                "outcome": str(f.get("outcome") or "failed"),
                "message": str(f.get("message") or ""),
                "blocking": f.get("blocking") is not False,
                "evidence": _evidence(f.get("evidence"), trace_url),
                "browser": _browser_evidence(f.get("evidence")),
                "trace_id": str(f.get("trace_id") or ""),
                "trace_link": trace_link(trace_url, f.get("trace_id")),
            })
    out.sort(key=lambda f: not f["blocking"])  # what blocks first; stable within each
    return out


def _findings(gates: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    # The parity gate's differences have their own section (parity_view).
    for name in [g for g in ordered_gate_names(gates) if g != "parity"]:
        for f in map(_dict, _list(_dict(gates[name]).get("findings"))):
            where = f.get("url") or ""
            if f.get("file"):
                where = f"{f['file']}:{f['line']}" if f.get("line") else str(f["file"])
            out.append({
                "gate": name,
                "rule": str(f.get("rule") or f.get("test_id") or "?"),
                "severity": str(f.get("severity") or "info").lower(),
                "level": str(f.get("level") or "info").lower(),
                "title": str(f.get("title") or ""),
                "where": str(where),
                "evidence": "" if f.get("evidence") is None else str(f.get("evidence")),
                "fix": str(f.get("fix") or ""),
                "cwe": f.get("cwe"),
            })
    out.sort(key=lambda f: (LEVEL_ORDER.get(f["level"], 9), SEVERITY_ORDER.get(f["severity"], 9)))
    return out


def _checks(gate: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{
        "name": str(c.get("name") or "?"),
        "passed": c.get("passed") is True,
        "blocking": c.get("blocking") is not False,
        "detail": str(c.get("detail") or ""),
    } for c in map(_dict, _list(gate.get("checks")))]


def _load_charts(performance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A chart of each load that recorded its timeline."""
    out = []
    for name, metrics in _dict(performance.get("metrics")).items():
        metrics = _dict(metrics)
        if _dict(metrics.get("timeline")).get("rows"):
            out.append(charts.load_timeline_chart(f"load-chart-{len(out)}", str(name), metrics,
                                                  thresholds_of(performance, str(name))))
    return out


def _history(v: Mapping[str, Any]) -> dict[str, Any]:
    """What the history store said: the strip of recent verdicts (this run last), the last
    GO, new failures since it and flaky tests."""
    history = _dict(v.get("history"))
    if not set(history) - {"problems"}:  # a store that could not be read said nothing
        return {}
    run = _dict(v.get("run"))
    recent = [_dict(r) for r in _list(history.get("recent"))]
    strip = [*recent, {"run_id": run.get("id"), "finished": run.get("finished"),
                       "verdict": "GO" if v.get("verdict") == "GO" else "NO-GO"}]
    labels = [charts.run_label(r) for r in strip]
    labels[-1] += " (this run)"
    ticks = [charts.run_tick(r) for r in strip]
    ticks[-1] = "this run"
    return {
        "strip": charts.verdict_bars("history-strip", f"The last {len(strip)} runs on this "
                                     "target (this run last)", strip, labels, ticks),
        "last_go": _dict(history.get("last_go")),
        "new_failures": [_dict(f) for f in _list(history.get("new_failures"))],
        "new_failures_count": history.get("new_failures_count") or 0,
        "flaky": [flaky_line(_dict(f), history) for f in _list(history.get("flaky"))],
    }


def _quarantine(v: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"test": str(e.get("test") or "?"), "owner": str(e.get("owner") or "-"),
             "expires": str(e.get("expires") or "-"), "reason": str(e.get("reason") or ""),
             "expired": e.get("expired") is not False, "outcome": str(e.get("outcome") or "")}
            for e in map(_dict, _list(v.get("quarantine")))]


def build_view(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data the template renders, with defaults for every missing or odd field."""
    v = _dict(verdict)
    run, target, gates = _dict(v.get("run")), _dict(v.get("target")), _dict(v.get("gates"))
    gates = {str(k): _dict(g) for k, g in gates.items()}
    observed = _dict(target.get("observed_version"))
    security, performance = gates.get("security", {}), gates.get("performance", {})
    tests = [_dict(t) for t in _list(v.get("tests"))]
    go = v.get("verdict") == "GO"
    history = _history(v)
    load_charts = _load_charts(performance)
    specs = ([history["strip"]] if history else []) + load_charts
    return {
        "history": history,
        "quarantine": _quarantine(v),
        "load_charts": load_charts,
        "charts": specs,
        "assets": charts.page_assets() if specs else None,
        "go": go,
        "verdict": "GO" if go else "NO-GO",
        "judgement": judgement_of(v),
        "judgement_meaning": JUDGEMENT_MEANING.get(judgement_of(v), ""),
        "reasons": [str(r) for r in _list(v.get("reasons"))]
        or ([] if go else ["no reason recorded (treated as NO-GO)"]),
        "warnings": [str(w) for w in _list(v.get("warnings"))],
        "target_url": str(target.get("url") or "-"),
        "expected_version": target.get("expected_version"),
        "observed_start": observed.get("start"),
        "observed_end": observed.get("end"),
        "gates": _gate_rows(gates),
        "failures": _failures(gates, str(run.get("trace_url") or "")),
        "findings": _findings(gates),
        "grade": _dict(security.get("grade")).get("grade")
        or _dict(security.get("metrics")).get("grade"),
        "grade_excluding_accepted": _dict(_dict(security.get("grade")).get(
            "excluding_accepted")),
        "accepted_risks": accepted_rows(v),
        "has_security": bool(security),
        "perf_checks": _checks(performance),
        "perf_metrics": [(k, display_value(x)) for k, x in
                         flatten_metrics(performance.get("metrics"))],
        "has_performance": bool(performance),
        "contract": contract_view(v),
        "flaky": [t for t in tests if t.get("flaky") is True],
        "destructive_skipped": [str(n) for n in _list(v.get("destructive_skipped"))],
        "run": run,
        "facts": _facts(v, run, target),
        "versions": [(str(k), display_value(x)) for k, x in _dict(run.get("versions")).items()],
        "signed": bool(v.get("signature")),
        "parity": parity_view(v),
    }


def _facts(v: Mapping[str, Any], run: Mapping[str, Any], target: Mapping[str, Any]) -> list:
    duration = run.get("duration")
    shard = [("sharding", sharding(dict(v)))] if sharding(dict(v)) else []
    return [
        *shard,
        ("target", target.get("url")),
        ("reachable", target.get("reachable")),
        ("ready after (s)", target.get("ready_after")),
        ("redirects", target.get("redirects")),
        ("sensitive target", target.get("sensitive")),
        ("run id", run.get("id")),
        ("started", format_time(run.get("started"))),
        ("finished", format_time(run.get("finished"))),
        ("duration (s)", round(duration, 2) if isinstance(duration, (int, float)) else duration),
        ("complete", run.get("complete")),
        ("exit status", run.get("exit_status")),
        ("xdist workers", run.get("workers")),
        ("gates selected", run.get("gates_selected")),
        ("destructive allowed", run.get("allow_destructive")),
        ("TLS verification off", run.get("insecure")),
        ("schema", v.get("schema")),
        ("signature", "HMAC-SHA256 signed" if v.get("signature") else "unsigned"),
    ]


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """jinja2's own per-user cache of compiled templates (a private directory it creates and
    checks), so a run does not compile the page's template again (~40-100 ms of CPU at the end
    of every run). A cache that cannot be read or written only means compiling again."""

    #: What the compiled code depends on besides the template's text (which jinja2 checks):
    #: keep the options part in step with ``make_environment``'s arguments.
    SALT = f"|{jinja2.__version__}|{__version__}|autoescape,strict,trim,lstrip"

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(name, (filename or "") + self.SALT)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(Exception):
            super().dump_bytecode(bucket)


def _compiled_templates() -> jinja2.BytecodeCache | None:
    try:
        return _CompiledTemplates()
    except Exception:  # no usable private directory (jinja2 refuses an unsafe one)
        return None


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return make_environment(_compiled_templates())


def make_environment(compiled: jinja2.BytecodeCache | None) -> jinja2.Environment:
    """The page's jinja2 environment, with ``compiled`` as its cache of compiled templates."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_staging.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=compiled,
    )
    env.filters["fmt"] = display_value
    env.filters["when"] = format_time
    return env


def template(name: str) -> jinja2.Template:
    """A page template of ``reports/templates`` in the one environment (autoescape, the
    compiled-template cache, the filters)."""
    return _environment().get_template(name)


def render_html(verdict: Mapping[str, Any]) -> str:
    """Render ``verdict`` as one self-contained HTML page (inline CSS and images, no scripts;
    the only links are relative ones to a browser test's screenshot and trace files)."""
    return _environment().get_template("verdict.html.j2").render(v=build_view(verdict))
