"""Charts of the HTML pages: plain-data chart specs, drawn in the browser by the vendored uPlot
(``static/``, MIT) through ``static/charts.js``; no network at view time.

A spec: ``{"id", "title", "height", "x": {"label", "values", "labels"?, "unit"?},
"scales": {name: {"label", "range"?, "ticks"?}}, "series": [{"label", "scale", "color",
"values", "style": line|bars|points|step, "unit"?, "dash"?, "labels"?}]}``. ``labels`` maps a
value to the text the legend shows for it (a run's name for an index on the x axis, a grade
letter for a score). The page embeds the specs as JSON (jinja2's ``tojson``, which escapes
``<``, ``>`` and ``&``) and the two scripts inline; its Content-Security-Policy allows exactly
those two scripts by their sha256 (:func:`script_hashes`) and nothing else.

Both verdict.html (a load over its duration, the strip of recent verdicts) and the trends page
build their specs here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from importlib import resources
from typing import Any

UPLOT_VERSION = "1.6.32"
GO_COLOR, NOGO_COLOR = "#137333", "#b3261e"
PALETTE = ("#1a73e8", "#e8710a", "#9334e6", "#12b5cb", "#d01884", "#7cb342", "#5f6368",
           "#f9ab00")
THRESHOLD_COLOR = "#b3261e"
#: Metrics of a load drawn on the response-time axis, and their units.
TIME_SERIES = ("p50", "p95", "p99")


@cache
def asset(name: str) -> str:
    """A file of ``reports/static`` as text."""
    return resources.files("pytest_staging.reports").joinpath("static", name).read_text(
        encoding="utf-8")


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@lru_cache(maxsize=1)
def script_hashes() -> str:
    """The CSP ``script-src`` sources that allow the page's two inline scripts, only them."""
    return f"{_sha256(asset('uPlot.iife.min.js'))} {_sha256(asset('charts.js'))}"


def page_assets() -> dict[str, Any]:
    """What a page with charts inlines: uPlot's CSS and script, ours, and the CSP sources."""
    from markupsafe import Markup  # jinja2's

    return {"css": Markup(asset("uPlot.min.css")), "uplot": Markup(asset("uPlot.iife.min.js")),
            "script": Markup(asset("charts.js")), "script_src": script_hashes()}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def threshold_limits(results: Sequence[Any], metric: str) -> list[tuple[str, float]]:
    """``(expression, limit)`` of the total (not per-endpoint) thresholds on ``metric``."""
    out = []
    for result in results:
        if not isinstance(result, Mapping) or result.get("metric") != metric:
            continue
        limit = _number(result.get("limit"))
        if limit is not None and not result.get("endpoint"):
            out.append((str(result.get("expr") or metric), limit))
    return out


def load_timeline_chart(chart_id: str, name: str, metrics: Mapping[str, Any],
                        thresholds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One load over its duration: p50/p95/p99 (ms) and requests/s; ``thresholds`` (from
    ``gates.performance.report.thresholds_of``) as dashed lines."""
    timeline = metrics.get("timeline") or {}
    columns = list(timeline.get("columns") or [])
    rows = [r for r in timeline.get("rows") or [] if isinstance(r, list)
            and len(r) == len(columns)]

    def column(key: str) -> list[float | None]:
        index = columns.index(key) if key in columns else None
        return [None if index is None else _number(r[index]) for r in rows]

    xs = column("t")
    series: list[dict[str, Any]] = []
    for i, metric in enumerate(TIME_SERIES):
        series.append({"label": metric, "scale": "ms", "color": PALETTE[i], "unit": "ms",
                       "values": column(metric)})
    series.append({"label": "requests/s", "scale": "rps", "color": PALETTE[6], "unit": "req/s",
                   "values": column("rps"), "dash": [2, 3]})
    if any(v for v in column("fail_rps")):
        series.append({"label": "failures/s", "scale": "rps", "color": NOGO_COLOR,
                       "unit": "req/s", "values": column("fail_rps")})
    results = list(thresholds)
    for metric, scale in (*((m, "ms") for m in ("avg", *TIME_SERIES)), ("rps", "rps")):
        for expr, limit in threshold_limits(results, metric):
            series.append({"label": f"threshold {expr}", "scale": scale,
                           "color": THRESHOLD_COLOR, "dash": [8, 5], "width": 1.5,
                           "unit": "ms" if scale == "ms" else "req/s",
                           "values": [limit] * len(xs)})
    return {"id": chart_id, "title": f"{name}: response times and throughput over the load",
            "height": 260,
            "x": {"label": "seconds into the load", "unit": "s", "values": xs},
            "scales": {"ms": {"label": "response time (ms)"},
                       "rps": {"label": "requests per second"}},
            "series": series}


def verdict_bars(chart_id: str, title: str, runs: Sequence[Mapping[str, Any]],
                 labels: Sequence[str], short: Sequence[str] | None = None,
                 height: int = 130) -> dict[str, Any]:
    """GO (green) and NO-GO (red) bars, one per run, oldest first; ``labels`` name each run
    in the legend, ``short`` on the axis."""
    gos = [1 if r.get("verdict") == "GO" else None for r in runs]
    nogos = [None if r.get("verdict") == "GO" else 1 for r in runs]
    return {"id": chart_id, "title": title, "height": height,
            "x": {"label": "run", "axisLabel": "", "values": list(range(len(runs))),
                  "labels": list(labels), "short": list(short or labels)},
            "scales": {"verdict": {"label": "", "range": [0, 1.1], "hidden": True}},
            "series": [
                {"label": "GO", "scale": "verdict", "color": GO_COLOR, "style": "bars",
                 "values": gos, "labels": {"1": "GO"}},
                {"label": "NO-GO", "scale": "verdict", "color": NOGO_COLOR, "style": "bars",
                 "values": nogos, "labels": {"1": "NO-GO"}},
            ]}


def run_label(run: Mapping[str, Any], number: int | None = None) -> str:
    """How a run is named in the legend: ``#12 2026-01-31 12:34 abc12345 v1.2.3``."""
    when = str(run.get("finished") or run.get("started") or "")[:16].replace("T", " ")
    short = str(run.get("run_id") or "")[:8]
    prefix = f"#{number} " if number is not None else ""
    version = f" v{run['version']}" if run.get("version") else ""
    return f"{prefix}{when} {short}{version}".strip()


def run_tick(run: Mapping[str, Any], number: int | None = None) -> str:
    """How a run is named on an axis: ``#12`` or the time ``12:34``."""
    if number is not None:
        return f"#{number}"
    return str(run.get("finished") or run.get("started") or "")[11:16] or "?"


__all__ = ["GO_COLOR", "NOGO_COLOR", "PALETTE", "UPLOT_VERSION", "asset", "load_timeline_chart",
           "page_assets", "run_label", "script_hashes", "threshold_limits", "verdict_bars"]
