"""How a test contributes gate data (findings, metrics, checks, warnings) to the verdict.

The data is kept on the test item and travels in the report's payload (``wire.py``), so it
reaches the controller under pytest-xdist. Values must be builtins only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

DATA_KEY = pytest.StashKey[dict[str, Any]]()


def record(
    node: pytest.Item | Any,
    *,
    findings: Iterable[Mapping[str, Any]] = (),
    metrics: Mapping[str, Any] | None = None,
    checks: Iterable[Mapping[str, Any]] = (),
    warnings: Iterable[str] = (),
) -> None:
    """Attach gate data to ``node`` (a test item or ``request.node``).

    ``checks`` are ``{"name", "passed", "blocking", "detail"}`` dicts: a failed blocking check
    in a blocking gate is a NO-GO reason ``"<gate>: <name>: <detail>"``, and evidence that the
    release is bad (judgement ``failed``) unless it carries ``"inconclusive": True``: it could
    not judge (nothing was measured), so it blocks without being evidence (judgement
    ``inconclusive``, unless something else failed).

    Example::

        record(request.node, checks=[{"name": "p95", "passed": False, "blocking": True,
                                      "detail": "p95 412ms, required < 300ms"}])
    """
    findings, checks = list(findings), list(checks)
    for what in (findings, metrics, checks):
        _require_builtins(what, "record()")
    data = node.stash.setdefault(DATA_KEY, {})
    if findings:
        data.setdefault("findings", []).extend(dict(f) for f in findings)
    if metrics:
        data.setdefault("metrics", {}).update(metrics)
    if checks:
        data.setdefault("checks", []).extend(dict(c) for c in checks)
    if warnings:
        data.setdefault("warnings", []).extend(str(w) for w in warnings)


_BUILTINS = (str, int, float, bool, type(None))


def _require_builtins(value: Any, where: str) -> None:
    """Gate data crosses process boundaries (xdist): refuse anything but builtins, early."""
    if isinstance(value, _BUILTINS):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings, got {type(key).__name__}")
            _require_builtins(item, where)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _require_builtins(item, where)
        return
    raise TypeError(f"{where}: only str, int, float, bool, None, lists and dicts may be "
                    f"recorded, got {type(value).__name__}")


def take(node: pytest.Item) -> dict[str, Any] | None:
    """Remove and return what was recorded on ``node`` since the last call."""
    data = node.stash.get(DATA_KEY, None)
    if not data:
        return None
    node.stash[DATA_KEY] = {}
    return data


def merge(into: dict[str, Any], data: Mapping[str, Any], nodeid: str = "") -> None:
    """Merge one report's data into a gate's accumulated data (on the controller); checks
    remember the test that made them, so its failure and theirs read as one cause, and so do
    findings, so that a later run can tell a fixed finding from one it did not look for."""
    if data.get("warnings"):
        into.setdefault("warnings", []).extend(data["warnings"])
    for finding in data.get("findings") or []:
        into.setdefault("findings", []).append(
            {**finding, "nodeid": finding.get("nodeid") or nodeid} if nodeid else finding)
    for check in data.get("checks") or []:
        into.setdefault("checks", []).append({**check, "nodeid": check.get("nodeid", nodeid)})
    if data.get("metrics"):
        into.setdefault("metrics", {}).update(data["metrics"])
