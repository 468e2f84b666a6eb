"""Running check families and judging their findings: plain functions, no pytest import.

``run_family`` is what one built-in security test item does; ``scan`` is what the
``staging_scan`` fixture does; ``judge`` turns findings into the gate's checks and warnings;
``gate_summary`` is the grade and the counts by level the reports show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import requests

from pytest_staging.gates.security import grade as grading
from pytest_staging.gates.security.http_checks import (
    DEFAULT_SENSITIVE_PATHS,
    check_cookies,
    check_cors,
    check_exposure,
    check_headers,
    cookie_findings,
    header_findings,
)
from pytest_staging.gates.security.levels import apply_levels, count_levels
from pytest_staging.gates.security.settings import SecuritySettings
from pytest_staging.gates.security.transport import check_transport, plain_http_url

HTTP_FAMILIES = ("headers", "cookies", "transport", "exposure", "cors")


def sensitive_paths(settings: SecuritySettings) -> Mapping[str, str | None] | Sequence[str]:
    """The paths the exposure check probes: the policy's list, else the built-in one."""
    return settings.sensitive_paths or DEFAULT_SENSITIVE_PATHS


def plain_http_target(settings: SecuritySettings, url: str) -> str | None:
    """The http:// URL that must redirect to an https:// target: the policy's, else the
    target's twin on port 80 (None: the target names a port; nothing to derive)."""
    return settings.plain_http_url or plain_http_url(url)


def run_family(family: str, session: requests.Session, url: str, settings: SecuritySettings,
               today: dt.date | None = None) -> list[dict[str, Any]]:
    """Findings of one check family against ``url``, levels applied from the policy.

    Raises SecurityCheckError when the family could not check (the item then fails).
    """
    timeout = settings.timeout
    if family == "headers":
        found = check_headers(session, url, timeout=timeout)
    elif family == "cookies":
        found = check_cookies(session, url, timeout=timeout)
    elif family == "transport":
        found = check_transport(session, url, expiry_days=settings.cert_expiry_days,
                                http_url=plain_http_target(settings, url), timeout=timeout)
    elif family == "exposure":
        found = check_exposure(session, url, sensitive_paths=sensitive_paths(settings),
                               timeout=timeout)
    elif family == "cors":
        found = check_cors(session, url, timeout=timeout)
    else:
        raise ValueError(f"unknown security check family {family!r}")
    return apply_levels(found, settings.rules, today)


def scan(session: requests.Session, target: str | requests.Response,
         settings: SecuritySettings | None = None,
         families: Sequence[str] = ("headers", "cookies"),
         today: dt.date | None = None) -> list[dict[str, Any]]:
    """Run ``families`` on a URL, or the header and cookie checks on a Response you hold."""
    settings = settings or SecuritySettings()
    if isinstance(target, requests.Response):
        found: list[dict[str, Any]] = []
        if "headers" in families:
            found += header_findings(target)
        if "cookies" in families:
            found += cookie_findings(target)
        return apply_levels(found, settings.rules, today)
    out: list[dict[str, Any]] = []
    for family in families:
        out += run_family(family, session, target, settings, today)
    return out


def describe(item: Mapping[str, Any], *, rule: bool = True) -> str:
    """One line for a finding: level and rule (unless ``rule`` is False: a check named after
    the rule says both already), title, where, evidence."""
    where = item.get("url") or item.get("file") or ""
    head = f"[{item.get('level')}] {item.get('rule')}: " if rule else ""
    return f"{head}{item.get('title')} ({where}): {item.get('evidence', '')}"


def judge(name: str, findings: Iterable[Mapping[str, Any]]
          ) -> tuple[list[dict[str, Any]], list[str]]:
    """(checks, warnings) for one item's findings: fail-level -> a failed blocking check each,
    warn-level -> a warning line each; a passing check when nothing failed."""
    checks: list[dict[str, Any]] = []
    warnings: list[str] = []
    for item in findings:
        if item.get("level") == "fail":
            # The reason reads "security: headers: csp-missing: <title> (<url>): <evidence>":
            # the rule once, in the check's name.
            checks.append({"name": f"{name}: {item.get('rule')}", "passed": False,
                           "blocking": True, "detail": describe(item, rule=False)})
        elif item.get("level") == "warn":
            warnings.append(f"security: {describe(item)}")
    if not checks:
        checks.append({"name": name, "passed": True, "blocking": True, "detail": "no failures"})
    return checks, warnings


def gate_summary(findings: Iterable[Mapping[str, Any]], min_grade: str = "") -> dict[str, Any]:
    """Grade of the passive HTTP findings, counts by level of all findings, min_grade check."""
    items = list(findings)
    http = [f for f in items if f.get("family") in HTTP_FAMILIES]
    summary = grading.summarize(http)
    summary["counts"] = count_levels(items)
    summary["min_grade"] = min_grade or None
    summary["meets_min_grade"] = grading.meets(summary["grade"], min_grade or None)
    return summary


def grade_check(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The blocking check for ``min_grade`` (passes when there is no minimum)."""
    ok = bool(summary["meets_min_grade"])
    detail = f"grade {summary['grade']} ({summary['score']}/100)"
    excluded = summary.get("excluding_accepted")
    if excluded:
        detail = (f"grade {excluded['grade']} ({excluded['score']}/100) with "
                  f"{excluded['accepted']} accepted risk(s) excluded, {summary['grade']} "
                  f"({summary['score']}/100) counting them")
    if summary.get("min_grade"):
        detail += f", minimum {summary['min_grade']}"
    return {"name": "grade", "passed": ok, "blocking": True,
            "detail": detail if ok else f"{detail}: below the minimum"}
