"""Baseline comparison against an earlier verdict.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_staging.gates.performance.baseline import (
    BaselineError,
    compare,
    load_baseline,
    parse_regression,
)

BASE = {"requests": 1000, "p95": 100.0, "rps": 200.0, "fail_ratio": 0.001,
        "endpoints": {"GET /x": {"requests": 10, "p95": 50.0}}}  # fmt: skip


def test_parse() -> None:
    rule = parse_regression("GET /x: p95 +15%")
    assert (rule.metric, rule.sign, rule.amount, rule.relative) == ("p95", "+", 15.0, True)
    assert rule.endpoint == "GET /x"
    assert parse_regression("p99 +0.2s").amount == 200.0
    for bad in ("p95 15%", "p97 +1%", "rps -5ms", "p95 +"):
        with pytest.raises(BaselineError, match=repr(bad).replace("+", r"\+")):
            parse_regression(bad)


def test_compare_relative_and_absolute() -> None:
    now = {**BASE, "p95": 114.0, "rps": 175.0, "endpoints": {"GET /x": {"p95": 80.0}}}
    results = compare(["p95 +15%", "rps -10%", "p95 +10ms", "GET /x: p95 +20%"], now, BASE)
    assert [r["passed"] for r in results] == [True, False, False, False]
    assert results[0]["limit"] == pytest.approx(115.0)
    assert results[1]["limit"] == pytest.approx(180.0)
    assert "baseline 200.0 req/s" in results[1]["detail"]
    assert "allowed at least 180.0 req/s" in results[1]["detail"]


def test_missing_metric_fails_closed() -> None:
    result = compare(["GET /y: p95 +15%"], BASE, BASE)[0]
    assert result["passed"] is False and "not measured" in result["detail"]


def test_load_baseline_from_verdict(tmp_path: Path) -> None:
    verdict = {"schema": "pytest-staging/verdict@1",
               "gates": {"performance": {"metrics": {"checkout": BASE, "junk": 3}}}}  # fmt: skip
    (tmp_path / "verdict.json").write_text(json.dumps(verdict))
    assert load_baseline(tmp_path) == {"checkout": BASE}
    assert load_baseline(tmp_path / "verdict.json") == {"checkout": BASE}
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(BaselineError, match="no performance metrics"):
        load_baseline(tmp_path / "bad.json")
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline(tmp_path / "missing.json")
