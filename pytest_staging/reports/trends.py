"""The trends page and its Markdown (``pytest-staging history``), from ``history.trends``'
plain data: verdicts, gates, loads with their thresholds, security grade and duration over
runs, charted with uPlot (``charts.py``); flaky tests, new failures since the last GO and the
slowest tests as tables. One self-contained HTML file; no network at view time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_staging.gates.security.grade import GRADE_SCALE
from pytest_staging.reports import charts
from pytest_staging.reports.markdown_text import md_code, md_escape

#: Gate statuses drawn as a pass (green) and as a failure (red); others are "did not run".
PASSING = ("passed", "advisory")
FAILING = ("failed", "error", "empty")
#: The grade letters on the security chart's axis.
GRADE_TICKS = [[low, grade] for low, grade in GRADE_SCALE if grade in
               ("A+", "A", "B", "C", "D", "F")]


def _labels(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    numbers = [r.get("id") or i + 1 for i, r in enumerate(runs)]
    return ([charts.run_label(r, n) for r, n in zip(runs, numbers, strict=True)],
            [charts.run_tick(r, n) for r, n in zip(runs, numbers, strict=True)])


def _line_chart(chart_id: str, title: str, x: dict[str, Any], scales: dict[str, Any],
                series: list[dict[str, Any]], height: int = 240) -> dict[str, Any]:
    return {"id": chart_id, "title": title, "height": height, "x": x, "scales": scales,
            "series": series}


def chart_specs(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every chart of the page, in page order."""
    runs = list(data["runs"])
    if not runs:
        return []
    labels, ticks = _labels(runs)
    x = {"label": "run", "values": list(range(len(runs))), "labels": labels, "short": ticks}
    specs = [charts.verdict_bars("chart-verdicts", "Verdict of each run", runs, labels, ticks,
                                 height=150)]
    for i, (gate, statuses) in enumerate(sorted(data["gates"].items())):
        spec = charts.verdict_bars(
            f"chart-gate-{i}", f"Gate {gate}: passed (green) or failed (red)",
            [{"verdict": "GO" if s in PASSING else "NO-GO" if s in FAILING else None}
             for s in statuses], labels, ticks, height=110)
        for series, status in zip(spec["series"], ("passed", "failed"), strict=True):
            series["label"] = f"{gate} {status}"
            series["labels"] = {"1": status}
            series["values"] = [1 if (s in PASSING if status == "passed" else s in FAILING)
                                else None for s in statuses]
        specs.append(spec)
    for i, (name, load) in enumerate(sorted(data["loads"].items())):
        specs.extend(_load_specs(i, name, load, x))
    scores = [r.get("score") for r in runs]
    if any(s is not None for s in scores):
        specs.append(_line_chart("chart-grade", "Security grade (HTTP Observatory score)", x,
                                 {"score": {"label": "grade", "range": [0, 105],
                                            "ticks": GRADE_TICKS}},
                                 [{"label": "grade", "scale": "score", "color": charts.PALETTE[2],
                                   "values": scores,
                                   "labels": {str(r["score"]): f"{r['grade']} ({r['score']})"
                                              for r in runs if r.get("score") is not None}}],
                                 height=200))
    specs.append(_line_chart("chart-duration", "Run duration", x,
                             {"s": {"label": "seconds"}},
                             [{"label": "duration", "scale": "s", "color": charts.PALETTE[0],
                               "unit": "s", "values": [r.get("duration") for r in runs]}],
                             height=180))
    return specs


def _load_specs(i: int, name: str, load: Mapping[str, Any], x: dict[str, Any]
                ) -> list[dict[str, Any]]:
    total = load["total"]
    series: list[dict[str, Any]] = [
        {"label": "p95", "scale": "ms", "color": charts.PALETTE[1], "unit": "ms",
         "values": total.get("p95", [])},
        {"label": "p99", "scale": "ms", "color": charts.PALETTE[2], "unit": "ms",
         "values": total.get("p99", [])},
        {"label": "requests/s", "scale": "rps", "color": charts.PALETTE[6], "unit": "req/s",
         "values": total.get("rps", []), "dash": [2, 3]},
    ]
    for line in load["thresholds"].values():
        if line["metric"] in ("p95", "p99", "p50", "avg", "rps"):
            series.append({"label": f"threshold {line['expr']}",
                           "scale": "rps" if line["metric"] == "rps" else "ms",
                           "color": charts.THRESHOLD_COLOR, "dash": [8, 5], "width": 1.5,
                           "style": "step", "unit": "req/s" if line["metric"] == "rps" else "ms",
                           "values": line["values"]})
    specs = [_line_chart(f"chart-load-{i}", f"Load {name}: p95, p99 and throughput over runs",
                         x, {"ms": {"label": "response time (ms)"},
                             "rps": {"label": "requests per second"}}, series)]
    if load["endpoints"]:
        specs.append(_line_chart(
            f"chart-load-{i}-endpoints", f"Load {name}: p95 per endpoint over runs", x,
            {"ms": {"label": "p95 (ms)"}},
            [{"label": endpoint, "scale": "ms", "color": charts.PALETTE[j % len(charts.PALETTE)],
              "unit": "ms", "values": block.get("p95", [])}
             for j, (endpoint, block) in enumerate(load["endpoints"].items())]))
    return specs


def render_trends_html(data: Mapping[str, Any]) -> str:
    """The trends page: one self-contained HTML file."""
    from pytest_staging.reports.html import template

    specs = chart_specs(data)
    view = {**data, "charts": specs, "assets": charts.page_assets() if specs else None,
            "go": sum(1 for r in data["runs"] if r["verdict"] == "GO")}
    return template("trends.html.j2").render(t=view)


def _first_last(values: Sequence[Any]) -> tuple[Any, Any]:
    present = [v for v in values if v is not None]
    return (present[0], present[-1]) if present else (None, None)


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "not measured"
    return f"{value:.0f}{unit}" if abs(value) >= 10 else f"{value:.2f}{unit}"


def render_trends_markdown(data: Mapping[str, Any]) -> str:
    """The same facts as the page, for a pull-request comment or a step summary."""
    runs = list(data["runs"])
    lines = ["## Release history", ""]
    if not runs:
        return "\n".join([*lines, f"No run recorded in {md_code(data['store'])}.", ""])
    go = sum(1 for r in runs if r["verdict"] == "GO")
    lines.append(f"{len(runs)} run(s) of {md_escape(', '.join(data['targets']))}: {go} GO, "
                 f"{len(runs) - go} NO-GO; newest first: "
                 + "".join("✅" if r["verdict"] == "GO" else "⛔" for r in reversed(runs[-30:])))
    lines.append("")
    latest = runs[-1]
    lines.append(f"Latest: **{latest['verdict']}** ({md_escape(charts.run_label(latest))})")
    for reason in latest["reasons"][:5]:
        lines.append(f"- {md_escape(reason)}")
    lines.append("")
    if data["gates"]:
        lines += ["| Gate | Passed | Failed | Latest |", "|---|---:|---:|---|"]
        for gate, statuses in sorted(data["gates"].items()):
            passed = sum(1 for s in statuses if s in PASSING)
            failed = sum(1 for s in statuses if s in FAILING)
            now = next((s for s in reversed(statuses) if s is not None), "not run")
            lines.append(f"| {md_escape(gate)} | {passed} | {failed} | {now} |")
        lines.append("")
    if data["loads"]:
        lines += ["| Load | p95 first → latest | p99 first → latest | rps first → latest | "
                  "thresholds |", "|---|---|---|---|---|"]
        for name, load in sorted(data["loads"].items()):
            cells = []
            for metric, unit in (("p95", " ms"), ("p99", " ms"), ("rps", "/s")):
                a, b = _first_last(load["total"].get(metric, []))
                cells.append(f"{_num(a, unit)} → {_num(b, unit)}")
            limits = ", ".join(md_code(t["expr"]) for t in load["thresholds"].values())
            lines.append(f"| {md_code(name)} | {' | '.join(cells)} | {limits or '-'} |")
            for endpoint, block in load["endpoints"].items():
                a, b = _first_last(block.get("p95", []))
                lines.append(f"| {md_escape(endpoint)} | {_num(a, ' ms')} → {_num(b, ' ms')} "
                             "| | | |")
        lines.append("")
    grades = [r["grade"] for r in runs if r.get("grade")]
    if grades:
        lines += [f"Security grade: {md_escape(grades[0])} → {md_escape(grades[-1])} "
                  f"(over {len(grades)} run(s) that measured it)", ""]
    durations = [r["duration"] for r in runs if r.get("duration") is not None]
    if durations:
        lines += [f"Run duration: {_num(durations[0], ' s')} → {_num(durations[-1], ' s')} "
                  f"(longest {_num(max(durations), ' s')})", ""]
    lines += _markdown_tables(data)
    return "\n".join(lines)


def _markdown_tables(data: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    if data["flaky"]:
        lines += ["### Flaky tests (ranked by flips)", "",
                  "| Test | Flips | Failed | Passed | Latest |", "|---|---:|---:|---:|---|"]
        lines += [f"| {md_code(t['nodeid'])} | {t['flips']} | {t['failed']} | {t['passed']} | "
                  f"{t['last']} |" for t in data["flaky"]]
        lines.append("")
    if data["last_go"] is None:
        lines += ["No complete GO recorded for the latest run's target: no new failures to "
                  "compare.", ""]
    elif data["new_failures"]:
        lines += [f"### New failures since the last GO ({md_code(data['last_go']['run_id'][:12])})",
                  "", "| Test | Now | At the last GO |", "|---|---|---|"]
        lines += [f"| {md_code(f['nodeid'])} | {f['outcome']} | {f['at_last_go']} |"
                  for f in data["new_failures"]]
        lines.append("")
    else:
        lines += ["No new failure since the last GO.", ""]
    if data["slowest"]:
        lines += ["### Slowest tests", "", "| Test | Mean | Longest | Runs |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {md_code(t['nodeid'])} | {t['mean']:.2f} s | {t['longest']:.2f} s | "
                  f"{t['runs']} |" for t in data["slowest"]]
        lines.append("")
    return lines


__all__ = ["chart_specs", "render_trends_html", "render_trends_markdown"]
