"""The documented examples (sample_suite/performance) run against a loopback server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from perf_server import base_url, loopback_server

EXAMPLES = Path(__file__).resolve().parent.parent / "sample_suite" / "performance"


def test_examples_go(pytester: pytest.Pytester) -> None:
    for name in ("test_load.py", "locustfile.py", "policy.toml"):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    report = pytester.path / "report"
    with loopback_server() as server:
        result = pytester.runpytest_subprocess(
            f"--staging-url={base_url(server)}", "--staging-policy=policy.toml",
            f"--staging-report-dir={report}", "-p", "no:xdist", "-p", "no:cacheprovider",
            timeout=120,
        )  # fmt: skip
    verdict = json.loads((report / "verdict.json").read_text())
    assert verdict["verdict"] == "GO", (verdict["reasons"], result.stdout.str())
    assert result.ret == 0
    gate = verdict["gates"]["performance"]
    assert set(gate["metrics"]) == {"test_load.py::test_browse_under_load",
                                    "test_load.py::test_inline_profile"}  # fmt: skip
    exprs = {c["expr"] for c in gate["checks"]}
    assert {"p95 < 800ms", "p95 < 500ms", "rps > 20", "POST /api/orders: p95 < 1s"} <= exprs
