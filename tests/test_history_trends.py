"""The trends page and the chart pages without a browser: escaping, the CSP that allows exactly
the inlined scripts, the Markdown facts, and ``pytest-staging history``'s command line."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from test_history_store import TARGET, verdict

from pytest_staging.cli import main
from pytest_staging.history.store import open_store
from pytest_staging.history.trends import collect
from pytest_staging.reports.html import render_html
from pytest_staging.reports.trends import render_trends_html, render_trends_markdown

HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


def _store(path: Path) -> Path:
    with open_store(path, write=True) as store:
        for i, (go, flip) in enumerate([(True, "passed"), (False, "failed"), (True, "passed"),
                                        (False, "failed")]):
            v = verdict(f"r{i}", go, {"t::a": "passed", "t::flip": flip,
                                      f"t::{HOSTILE}": "passed"}, p95=10.0 + i * 40)
            v["reasons"] = [] if go else [f"integration: {HOSTILE}"]
            metrics = v["gates"]["performance"]["metrics"]["load"]
            metrics["endpoints"] = {f"GET /{HOSTILE}": {"requests": 5, "p95": 1.0}}
            store.append(v)
    return path


def _csp_allows_exactly_the_inline_scripts(page: str) -> None:
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None
    policy = csp.group(1).replace("&#39;", "'")
    assert "default-src 'none'" in policy
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 2  # uPlot, then charts.js; the data is JSON, not run
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)


def test_trends_page_escapes_and_allows_only_its_scripts(tmp_path: Path) -> None:
    with open_store(_store(tmp_path / "h.db"), write=False) as store:
        data = collect(store, last=10)
    page = render_trends_html(data)
    assert HOSTILE not in page and "<img src=x" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page  # the reason, as text
    assert "\\u003c/script\\u003e" in page  # the endpoint in the charts' JSON
    _csp_allows_exactly_the_inline_scripts(page)
    assert [f["nodeid"] for f in data["flaky"]] == ["t::flip"] and data["flaky"][0]["flips"] == 3
    assert [f["nodeid"] for f in data["new_failures"]] == ["t::flip"]
    assert data["last_go"]["run_id"] == "r2"
    assert data["loads"]["load"]["total"]["p95"] == [10.0, 50.0, 90.0, 130.0]
    assert data["loads"]["load"]["thresholds"]["p95|p95 < 300ms"]["values"] == [300.0] * 4


def test_trends_markdown_has_the_same_facts(tmp_path: Path) -> None:
    with open_store(_store(tmp_path / "h.db"), write=False) as store:
        md = render_trends_markdown(collect(store, last=10))
    assert "4 run(s) of http://127.0.0.1:9/: 2 GO, 2 NO-GO" in md
    assert "| `load` | 10 ms → 130 ms |" in md and "`p95 < 300ms`" in md
    assert "### Flaky tests (ranked by flips)" in md and "| `t::flip` | 3 | 2 | 2 | failed |" in md
    assert "### New failures since the last GO (`r2`)" in md
    assert "Security grade: B → B" in md
    assert HOSTILE not in md


def test_verdict_html_of_a_load_charts_it_under_the_same_csp() -> None:
    from verdict_samples import go_verdict

    v = go_verdict()
    v["gates"]["performance"]["metrics"] = {"tests/test_load.py::test_browse": {
        "requests": 40, "p95": 20.0, "timeline": {
            "columns": ["t", "users", "rps", "fail_rps", "p50", "p95", "p99"],
            "rows": [[0, 0, None, None, None, None, None], [1, 5, 40.0, 0.0, 10.0, 20.0, 30.0]]}}}
    page = render_html(v)
    assert 'id="load-chart-0"' in page
    _csp_allows_exactly_the_inline_scripts(page)
    assert "timeline" not in re.sub(r"<script.*?</script>", "", page, flags=re.DOTALL)


def test_history_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path / "h.db")
    assert main(["history", str(store)]) == 0
    assert "## Release history" in capsys.readouterr().out  # Markdown on stdout by default
    assert main(["history", str(store), "--target", "http://elsewhere/", "--md",
                 str(tmp_path / "t.md")]) == 0
    assert "No run recorded" in (tmp_path / "t.md").read_text()
    assert main(["history", str(store), "--target", TARGET, "--last", "2", "--html",
                 str(tmp_path / "t.html")]) == 0
    assert "2 run(s) of http://127.0.0.1:9/" in (tmp_path / "t.html").read_text()
    capsys.readouterr()
    assert main(["history", str(tmp_path / "missing.db")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"pytest-staging history: history store {tmp_path / 'missing.db'} " \
                          "does not exist"
    (tmp_path / "junk.db").write_bytes(b"junk" * 100)
    assert main(["history", str(tmp_path / "junk.db")]) == 1
    assert "is not a SQLite database" in capsys.readouterr().err
    assert main(["history", str(store), "--last", "0"]) == 2


def test_an_empty_store_renders(tmp_path: Path) -> None:
    with open_store(tmp_path / "h.db", write=True):
        pass
    with open_store(tmp_path / "h.db", write=False) as store:
        data: dict[str, Any] = collect(store)
    page = render_trends_html(data)
    assert "No run recorded in this store" in page and "<script>" not in page
    assert "No run recorded in" in render_trends_markdown(data)
