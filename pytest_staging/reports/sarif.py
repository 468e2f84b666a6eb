"""SARIF 2.1.0 for the security gate's findings, so GitHub code scanning can show them.

One run per tool: ``pytest-staging`` for the passive HTTP findings (located at the URL they
were seen on) and ``bandit`` for source findings (located at file and line, relative to
``%SRCROOT%``). Findings at level ``ignore`` are left out; an accepted risk that has not expired
is a result with an accepted external suppression. Takes a verdict dict or a findings list,
never a pytest Config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://pypi.org/project/pytest-staging/"
LEVEL_TO_SARIF = {"fail": "error", "warn": "warning", "info": "note"}
#: GitHub ranks alerts by this property (CVSS-like 0.0-10.0).
SECURITY_SEVERITY = {"high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


def verdict_findings(verdict: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The security findings of a verdict dict (every gate's, security first)."""
    gates = verdict.get("gates", {}) or {}
    out: list[dict[str, Any]] = []
    for name in sorted(gates, key=lambda g: g != "security"):
        out += [dict(f) for f in gates[name].get("findings", []) or []
                if isinstance(f, Mapping) and f.get("rule")]
    return out


def _fingerprint(item: Mapping[str, Any]) -> str:
    where = item.get("file") or item.get("url") or ""
    text = "|".join(str(x) for x in (item.get("rule"), where, item.get("title")))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _rule(item: Mapping[str, Any]) -> dict[str, Any]:
    rule_id = str(item["rule"])
    title = str(item.get("title") or rule_id)
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": rule_id.replace("-", " ").title().replace(" ", ""),
        "shortDescription": {"text": title.split(": ")[0]},
        "fullDescription": {"text": title},
        "help": {"text": str(item.get("fix") or title)},
        "defaultConfiguration": {"level": LEVEL_TO_SARIF.get(str(item.get("level")), "warning")},
        "properties": {
            "tags": ["security", str(item.get("family") or "http")],
            "security-severity": SECURITY_SEVERITY.get(str(item.get("severity")), "5.5"),
            "problem.severity": {"high": "error", "medium": "warning"}.get(
                str(item.get("severity")), "recommendation"),
        },
    }
    fix = str(item.get("fix") or "")
    if fix.startswith(("http://", "https://")):
        descriptor["helpUri"] = fix
    if item.get("cwe"):
        descriptor["properties"]["tags"].append(f"external/cwe/{str(item['cwe']).lower()}")
    return descriptor


def _location(item: Mapping[str, Any]) -> dict[str, Any]:
    if item.get("file"):
        physical: dict[str, Any] = {
            "artifactLocation": {"uri": Path(str(item["file"])).as_posix(),
                                 "uriBaseId": "%SRCROOT%"}}
        if int(item.get("line") or 0) > 0:
            physical["region"] = {"startLine": int(item["line"])}
        return {"physicalLocation": physical}
    return {"physicalLocation": {"artifactLocation": {"uri": str(item.get("url") or "")}}}


def _result(item: Mapping[str, Any], index: int) -> dict[str, Any]:
    message = str(item.get("title") or item["rule"])
    if item.get("evidence"):
        message += f". Evidence: {item['evidence']}"
    if item.get("fix"):
        message += f". Fix: {item['fix']}"
    result: dict[str, Any] = {
        "ruleId": str(item["rule"]),
        "ruleIndex": index,
        "level": LEVEL_TO_SARIF.get(str(item.get("level")), "error"),
        "message": {"text": message},
        "locations": [_location(item)],
        "partialFingerprints": {"stagingFinding/v1": _fingerprint(item)},
        "properties": {k: item[k] for k in ("severity", "level", "family", "url", "cwe")
                       if item.get(k) not in (None, "")},
    }
    risk = item.get("accepted_risk")
    if isinstance(risk, Mapping) and not risk.get("expired") and item.get("level") != "fail":
        parts = [f"owner {risk['owner']}" if risk.get("owner") else "",
                 f"expires {risk['expires']}" if risk.get("expires") else "",
                 str(risk.get("reason") or "")]
        result["suppressions"] = [{"kind": "external", "status": "accepted",
                                   "justification": "; ".join(p for p in parts if p)
                                   or "accepted risk"}]
    return result


def _run(tool: str, version: str | None, items: list[dict[str, Any]]) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for item in items:
        rule_id = str(item["rule"])
        if rule_id not in index:
            index[rule_id] = len(rules)
            rules.append(_rule(item))
        results.append(_result(item, index[rule_id]))
    driver: dict[str, Any] = {"name": tool, "informationUri": INFORMATION_URI
                              if tool == "pytest-staging" else "https://bandit.readthedocs.io/",
                              "rules": rules}
    if version:
        driver["version"] = version
    return {"tool": {"driver": driver}, "results": results,
            "columnKind": "unicodeCodePoints"}


def to_sarif(findings: Iterable[Mapping[str, Any]], *, version: str | None = None,
             bandit_version: str | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log (dict) for ``findings``; ignored ones are left out."""
    kept = [dict(f) for f in findings if f.get("rule") and f.get("level") != "ignore"]
    http = [f for f in kept if f.get("family") != "bandit"]
    source = [f for f in kept if f.get("family") == "bandit"]
    runs = [_run("pytest-staging", version, http)]
    if source:
        runs.append(_run("bandit", bandit_version, source))
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": runs}


def render_sarif(verdict: Mapping[str, Any]) -> str | None:
    """SARIF text for a verdict's findings, or None when it has none worth reporting."""
    findings = [f for f in verdict_findings(verdict) if f.get("level") != "ignore"]
    if not findings:
        return None
    versions = (verdict.get("run") or {}).get("versions") or {}
    log = to_sarif(findings, version=versions.get("pytest_staging"),
                   bandit_version=versions.get("bandit"))
    return json.dumps(log, indent=2, sort_keys=False) + "\n"

