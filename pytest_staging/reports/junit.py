"""JUnit XML: the verdict on the test suite, gate and blocking flag on every test case.

pytest writes per-case properties itself from ``report.user_properties`` (the item hooks add
``staging_gate`` / ``staging_blocking``, which travel with the report under xdist). Suite
properties cannot be added that way under xdist, so the controller post-processes the file
pytest wrote, once, at the very end of the session, and replaces it atomically.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_staging.reports.atomic import atomic_write_text

PREFIX = "staging_"


def suite_properties(verdict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (name, value) pairs the test suite carries: verdict, reasons, gate statuses."""
    target = verdict.get("target") or {}
    observed = target.get("observed_version") or {}
    props = [
        ("staging_verdict", str(verdict.get("verdict", "NO-GO"))),
        ("staging_run_id", str((verdict.get("run") or {}).get("id") or "")),
        ("staging_target", str(target.get("url") or "")),
    ]
    if target.get("expected_version"):
        props.append(("staging_expected_version", str(target["expected_version"])))
    if observed.get("end") or observed.get("start"):
        props.append(("staging_observed_version", str(observed.get("end") or observed["start"])))
    for name, gate in (verdict.get("gates") or {}).items():
        props.append((f"staging_gate_{name}", str((gate or {}).get("status", ""))))
    props.extend(("staging_reason", str(r)) for r in verdict.get("reasons") or [])
    props.extend(("staging_warning", str(w)) for w in verdict.get("warnings") or [])
    if verdict.get("signature"):
        props.append(("staging_signature", str(verdict["signature"])))
    return props


OUTCOME_TAGS = ("failure", "error", "skipped")


def fold_reruns(suite: ET.Element) -> None:
    """Drop the empty test cases pytest writes for attempts pytest-rerunfailures reran.

    junitxml ignores the "rerun" report but still closes a test case for the attempt, so a
    rerun test appears twice. The earlier copy carries no outcome element; the last copy is
    the test's real result and gets ``staging_reruns`` = number of dropped attempts.
    """
    cases = suite.findall("testcase")
    last: dict[tuple[str, str], ET.Element] = {}
    for case in cases:
        last[(case.get("classname", ""), case.get("name", ""))] = case
    dropped: dict[int, int] = {}
    for case in cases:
        final = last[(case.get("classname", ""), case.get("name", ""))]
        if case is final or any(case.find(tag) is not None for tag in OUTCOME_TAGS):
            continue
        suite.remove(case)
        dropped[id(final)] = dropped.get(id(final), 0) + 1
    for case in last.values():
        if id(case) in dropped:
            node = case.find("properties")
            if node is None:
                node = ET.Element("properties")
                case.insert(0, node)
            ET.SubElement(node, "property", {"name": "staging_reruns",
                                             "value": str(dropped[id(case)])})


def annotate_junit_text(xml_text: str, verdict: Mapping[str, Any]) -> str:
    """Return ``xml_text`` with the verdict's properties on every ``<testsuite>`` and the
    duplicate cases of rerun tests folded into one.

    Earlier ``staging_*`` suite properties are replaced; other properties are kept.
    """
    root = ET.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    props = suite_properties(verdict)
    for suite in suites:
        fold_reruns(suite)
        node = suite.find("properties")
        if node is None:
            node = ET.Element("properties")
            suite.insert(0, node)
        for old in [p for p in node.findall("property")
                    if str(p.get("name", "")).startswith(PREFIX)]:
            node.remove(old)
        for name, value in props:
            ET.SubElement(node, "property", {"name": name, "value": value})
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def annotate_junit(path: str | Path, verdict: Mapping[str, Any]) -> Path:
    """Rewrite the JUnit file at ``path`` in place (atomically) with the verdict's properties."""
    target = Path(path)
    text = target.read_text(encoding="utf-8")
    return atomic_write_text(target, annotate_junit_text(text, verdict))
