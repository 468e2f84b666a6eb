"""Verdict dicts in the ``pytest-staging/verdict@1`` shape, for report and CLI tests."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any


def iso(dt: datetime) -> str:
    """ISO-8601 UTC, as the plugin writes it."""
    return dt.astimezone(timezone.utc).isoformat()


def _counts(**kw: int) -> dict[str, int]:
    base = {"total": 0, "passed": 0, "failed": 0, "error": 0, "skipped": 0, "xfailed": 0,
            "flaky": 0}
    base.update(kw)
    return base


def go_verdict(finished: datetime | None = None, version: str = "1.2.3") -> dict[str, Any]:
    """A complete GO verdict with all three built-in gates."""
    end = finished or datetime.now(timezone.utc)
    return {
        "schema": "pytest-staging/verdict@1",
        "verdict": "GO",
        "reasons": [],
        "warnings": ["flaky: tests/test_api.py::test_search passed only on retry"],
        "run": {
            "id": "5d41402abc4b2a76b9719d911017c592",
            "started": iso(end - timedelta(seconds=42.5)),
            "finished": iso(end),
            "duration": 42.5,
            "complete": True,
            "exit_status": 0,
            "workers": 2,
            "versions": {"python": "3.11.7", "pytest": "9.2.0", "pytest_staging": "0.1.0",
                         "xdist": "3.8.0", "locust": "2.47.0", "bandit": None},
            "gates_selected": ["integration", "security", "performance"],
            "allow_destructive": False,
            "insecure": False,
        },
        "target": {
            "url": "http://127.0.0.1:8080/",
            "expected_version": version,
            "observed_version": {"start": version, "end": version},
            "reachable": True,
            "ready_after": 0.12,
            "redirects": [],
            "sensitive": False,
        },
        "gates": {
            "integration": {
                "status": "passed", "blocking": True, "min_tests": 1,
                "counts": _counts(total=4, passed=4, flaky=1),
                "failures": [], "findings": [], "metrics": {}, "checks": [],
            },
            "security": {
                "status": "passed", "blocking": True, "min_tests": 1,
                "counts": _counts(total=2, passed=2),
                "failures": [],
                "findings": [{
                    "rule": "missing-hsts", "severity": "low", "level": "warn",
                    "title": "Strict-Transport-Security header missing",
                    "url": "http://127.0.0.1:8080/", "evidence": "no header",
                    "fix": "send Strict-Transport-Security: max-age=31536000",
                }],
                "metrics": {"grade": "B"}, "checks": [],
            },
            "performance": {
                "status": "passed", "blocking": True, "min_tests": 1,
                "counts": _counts(total=1, passed=1),
                "failures": [], "findings": [],
                "metrics": {"requests": 1200, "rps": 40.2, "p95_ms": 180.0, "error_rate": 0.0},
                "checks": [{"name": "p95_ms <= 500", "passed": True, "blocking": True,
                            "detail": "p95 180ms"}],
            },
        },
        "tests": [
            {"nodeid": "tests/test_api.py::test_health", "gate": "integration",
             "outcome": "passed", "duration": 0.01, "blocking": True, "flaky": False},
            {"nodeid": "tests/test_api.py::test_search", "gate": "integration",
             "outcome": "passed", "duration": 0.2, "blocking": True, "flaky": True},
            {"nodeid": "tests/test_api.py::test_login", "gate": "integration",
             "outcome": "passed", "duration": 0.05, "blocking": True, "flaky": False},
            {"nodeid": "tests/test_api.py::test_logout", "gate": "integration",
             "outcome": "passed", "duration": 0.05, "blocking": True, "flaky": False},
            {"nodeid": "tests/test_sec.py::test_headers", "gate": "security",
             "outcome": "passed", "duration": 0.03, "blocking": True, "flaky": False},
            {"nodeid": "tests/test_sec.py::test_bandit", "gate": "security",
             "outcome": "passed", "duration": 1.3, "blocking": True, "flaky": False},
            {"nodeid": "tests/test_perf.py::test_load", "gate": "performance",
             "outcome": "passed", "duration": 30.0, "blocking": True, "flaky": False},
        ],
        "destructive_skipped": [],
        "selection": {
            "partial": False,
            "gates_declared": ["integration", "security", "performance"],
            "gates_blocking": ["integration", "security", "performance"],
            "gates_selected": ["integration", "security", "performance"],
            "deselected": 0, "deselected_examples": [], "filters": [],
        },
    }


def nogo_verdict(finished: datetime | None = None, version: str = "1.2.3") -> dict[str, Any]:
    """A NO-GO verdict: a blocking failure with HTTP evidence, a broken threshold, a finding."""
    v = go_verdict(finished, version)
    v["verdict"] = "NO-GO"
    v["reasons"] = [
        "integration: 1 blocking test failed (tests/test_api.py::test_checkout)",
        "performance: p95_ms <= 500: p95 812ms",
    ]
    v["run"]["exit_status"] = 1
    integ = v["gates"]["integration"]
    integ["status"] = "failed"
    integ["counts"] = _counts(total=5, passed=4, failed=1, flaky=1)
    integ["failures"] = [{
        "nodeid": "tests/test_api.py::test_checkout",
        "outcome": "failed",
        "message": "AssertionError: expected 200, got 500",
        "blocking": True,
        "evidence": [{
            "method": "POST", "url": "http://127.0.0.1:8080/api/checkout", "status": 500,
            "latency_ms": 12.3,
            "request_headers": {"Authorization": "[redacted]", "Content-Type": "application/json"},
            "response_headers": {"Content-Type": "text/plain"},
            "body": "Internal Server Error: <script>alert('body')</script>",
        }],
    }]
    v["tests"].append({"nodeid": "tests/test_api.py::test_checkout", "gate": "integration",
                       "outcome": "failed", "duration": 0.02, "blocking": True, "flaky": False})
    perf = v["gates"]["performance"]
    perf["status"] = "failed"
    perf["metrics"] = {"requests": 1100, "rps": 36.7, "p95_ms": 812.0, "error_rate": 0.02}
    perf["checks"] = [{"name": "p95_ms <= 500", "passed": False, "blocking": True,
                       "detail": "p95 812ms"}]
    sec = v["gates"]["security"]
    sec["findings"].append({
        "rule": "B105", "severity": "high", "level": "fail",
        "title": "Possible hardcoded password", "url": "", "evidence": "password = 'hunter2x'",
        "fix": "read secrets from the environment", "file": "app/settings.py", "line": 12,
        "test_id": "B105", "cwe": 259,
    })
    sec["metrics"] = {"grade": "D"}
    v["destructive_skipped"] = ["tests/test_admin.py::test_wipe_database"]
    return v


def clone(v: dict[str, Any]) -> dict[str, Any]:
    """Deep copy, so a test can edit freely."""
    return copy.deepcopy(v)
