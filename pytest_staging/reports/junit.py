"""JUnit XML: the verdict on the test suite, gate and blocking flag on every test case.

CI dashboards read JUnit, not verdict.json, so the file must not look greener or redder than
the verdict:

- on NO-GO a test case ``pytest-staging.staging-verdict`` carries the reasons (a NO-GO with
  no failing test, e.g. an empty gate or an unready target, would show all green): a
  ``<failure>`` when the judgement is ``failed``, an ``<error>`` when it is ``inconclusive``;
  the suite and that case carry ``staging_judgement``;
- a failure or error that does not block (an ``advisory`` test, or any test of an advisory
  gate) is rewritten to ``<skipped type="pytest-staging.advisory" message="advisory: would
  have blocked: ...">`` with the property ``staging_advisory`` = ``failure`` or ``error``
  (the original text is kept inside), and the suite's counters are adjusted;
- every string written is made printable (no control characters: a NUL or an ESC from a
  response makes the XML unreadable).

pytest writes per-case properties itself from ``report.user_properties`` (the item hooks add
``staging_gate`` / ``staging_blocking``, which travel with the report under xdist). Suite
properties cannot be added that way under xdist, so the controller post-processes the file
pytest wrote, once, at the very end of the session, and replaces it atomically.
"""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_staging.printable import printable
from pytest_staging.reports.atomic import atomic_write_text
from pytest_staging.reports.summary import judgement_of, sharding, verdict_label
from pytest_staging.trace_context import is_trace_id, trace_link

PREFIX = "staging_"
VERDICT_CASE = ("pytest-staging", "staging-verdict")
ADVISORY_TYPE = "pytest-staging.advisory"
NO_GO_TYPE = "pytest-staging.NO-GO"
MESSAGE_LIMIT = 1000


def _clean(text: object, limit: int = 0) -> str:
    value = printable(str(text), one_line=True)
    return value[:limit] + "..." if limit and len(value) > limit else value


def suite_properties(verdict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (name, value) pairs the test suite carries: verdict, reasons, gate statuses."""
    target = verdict.get("target") or {}
    observed = target.get("observed_version") or {}
    props = [
        ("staging_verdict", str(verdict.get("verdict", "NO-GO"))),
        ("staging_judgement", judgement_of(verdict) or "unknown"),
        ("staging_run_id", str((verdict.get("run") or {}).get("id") or "")),
        ("staging_target", str(target.get("url") or "")),
    ]
    sharded = sharding(dict(verdict))
    if sharded:
        props.append(("staging_sharding", sharded))
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
    if is_trace_id((verdict.get("run") or {}).get("trace_id")):
        props.append(("staging_trace_id", str(verdict["run"]["trace_id"])))
    return [(name, _clean(value)) for name, value in props]


def junit_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) pytest's junitxml gives a node id (without ``--junit-prefix``)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def _advisory_addresses(verdict: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {junit_address(str(f.get("nodeid", "")))
            for gate in (verdict.get("gates") or {}).values()
            for f in (gate or {}).get("failures") or [] if not f.get("blocking", True)}


def _bump(suite: ET.Element, name: str, delta: int) -> None:
    with contextlib.suppress(ValueError):  # a counter we cannot read is left as it is
        suite.set(name, str(max(int(suite.get(name, "0")) + delta, 0)))


def mark_advisory(suite: ET.Element, verdict: Mapping[str, Any]) -> None:
    """Turn the failures and errors that do not block into advisory skips."""
    addresses = _advisory_addresses(verdict)
    for case in suite.findall("testcase"):
        properties = {p.get("name"): p.get("value") for p in case.findall("properties/property")}
        classname, name = case.get("classname", ""), case.get("name", "")
        advisory = properties.get("staging_blocking") == "false" or any(
            name == n and (classname == c or classname.endswith("." + c)) for c, n in addresses)
        if not advisory:
            continue
        for tag in ("failure", "error"):
            for element in case.findall(tag):
                message = _clean(f"advisory: would have blocked: {element.get('message', '')}",
                                 MESSAGE_LIMIT)
                skipped = ET.Element("skipped", {"type": ADVISORY_TYPE, "message": message})
                skipped.text = element.text
                case.insert(list(case).index(element), skipped)
                case.remove(element)
                _bump(suite, "failures" if tag == "failure" else "errors", -1)
                _bump(suite, "skipped", 1)
                node = case.find("properties")
                if node is None:
                    node = ET.Element("properties")
                    case.insert(0, node)
                ET.SubElement(node, "property", {"name": "staging_advisory", "value": tag})


def add_verdict_case(suite: ET.Element, verdict: Mapping[str, Any]) -> None:
    """On NO-GO, a test case that carries the reasons (replacing an earlier one): a
    ``<failure>`` when the judgement is ``failed``, an ``<error>`` when the run could not judge
    (JUnit's own distinction: the test found a fault / something kept it from judging)."""
    for case in suite.findall("testcase"):
        if (case.get("classname"), case.get("name")) == VERDICT_CASE:
            suite.remove(case)
            _bump(suite, "tests", -1)
            _bump(suite, "errors" if case.find("error") is not None else "failures", -1)
    if verdict.get("verdict") == "GO":
        return
    reasons = [_clean(r) for r in verdict.get("reasons") or []] or ["no reason given"]
    case = ET.SubElement(suite, "testcase", {"classname": VERDICT_CASE[0],
                                            "name": VERDICT_CASE[1], "time": "0"})
    tag = "failure" if judgement_of(verdict) == "failed" else "error"
    ET.SubElement(case, "properties").append(
        ET.Element("property", {"name": "staging_judgement",
                                "value": judgement_of(verdict) or "unknown"}))
    failure = ET.SubElement(case, tag, {
        "type": NO_GO_TYPE,
        "message": _clean(f"{verdict_label(verdict)}: " + "; ".join(reasons), MESSAGE_LIMIT)})
    failure.text = "\n".join(reasons)
    _bump(suite, "tests", 1)
    _bump(suite, "failures" if tag == "failure" else "errors", 1)


OUTCOME_TAGS = ("failure", "error", "skipped")


def fold_reruns(suite: ET.Element) -> None:
    """Drop the empty test cases pytest writes for attempts pytest-rerunfailures reran.

    junitxml ignores the "rerun" report but still closes a test case for the attempt, so a
    rerun test appears twice (pytest >= 8). The earlier copy carries no outcome element; the
    last copy is the test's real result and gets ``staging_reruns`` = number of dropped
    attempts. (Under pytest < 8 there is one case per test and the plugin sets the property.)
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
            for old in [p for p in node.findall("property")
                        if p.get("name") == "staging_reruns"]:
                node.remove(old)  # the plugin's own (report_hooks), the same count
            ET.SubElement(node, "property", {"name": "staging_reruns",
                                             "value": str(dropped[id(case)])})


TRACE_PROPERTIES = ("staging_trace_id", "staging_trace_url")


def add_trace_properties(suite: ET.Element, verdict: Mapping[str, Any]) -> None:
    """Each test case's trace id (``staging_trace_id``) and, with ``[evidence] trace_url``, the
    link to it (``staging_trace_url``): a CI test view links a failing case to its backend
    trace. ElementTree escapes the attribute values."""
    template = str((verdict.get("run") or {}).get("trace_url") or "")
    traces: dict[tuple[str, str], str] = {}
    by_name: dict[str, list[tuple[str, str]]] = {}  # --junit-prefix adds to the classname
    for test in verdict.get("tests") or []:
        if isinstance(test, Mapping) and is_trace_id(test.get("trace_id")):
            classname, name = junit_address(str(test.get("nodeid", "")))
            traces[(classname, name)] = str(test["trace_id"])
            by_name.setdefault(name, []).append((classname, str(test["trace_id"])))
    if not traces:
        return
    for case in suite.findall("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        trace = traces.get((classname, name)) or next(
            (t for c, t in by_name.get(name, ()) if classname.endswith("." + c)), None)
        if trace is None:
            continue
        node = case.find("properties")
        if node is None:
            node = ET.Element("properties")
            case.insert(0, node)
        for old in [p for p in node.findall("property") if p.get("name") in TRACE_PROPERTIES]:
            node.remove(old)
        ET.SubElement(node, "property", {"name": "staging_trace_id", "value": trace})
        link = trace_link(template, trace)
        if link:
            ET.SubElement(node, "property", {"name": "staging_trace_url", "value": link})


def annotate_junit_text(xml_text: str, verdict: Mapping[str, Any]) -> str:
    """Return ``xml_text`` with the verdict's properties on every ``<testsuite>``, the
    duplicate cases of rerun tests folded into one, advisory failures marked as such and,
    on NO-GO, a failing ``staging-verdict`` case.

    Earlier ``staging_*`` suite properties are replaced; other properties are kept.
    """
    root = ET.fromstring(xml_text)
    annotate_tree(root, verdict)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def annotate_tree(root: ET.Element, verdict: Mapping[str, Any]) -> None:
    """``annotate_junit_text`` on a parsed JUnit document."""
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    props = suite_properties(verdict)
    for index, suite in enumerate(suites):
        fold_reruns(suite)
        mark_advisory(suite, verdict)
        add_trace_properties(suite, verdict)
        if index == 0:
            add_verdict_case(suite, verdict)
        node = suite.find("properties")
        if node is None:
            node = ET.Element("properties")
            suite.insert(0, node)
        for old in [p for p in node.findall("property")
                    if str(p.get("name", "")).startswith(PREFIX)]:
            node.remove(old)
        for name, value in props:
            ET.SubElement(node, "property", {"name": name, "value": value})


def annotate_junit(path: str | Path, verdict: Mapping[str, Any]) -> Path:
    """Rewrite the JUnit file at ``path`` in place (atomically) with the verdict's properties."""
    target = Path(path)
    text = target.read_text(encoding="utf-8")
    return atomic_write_text(target, annotate_junit_text(text, verdict))


#: JUnit element of each outcome that is not a pass (incomplete: it never reached one).
_OUTCOME_ELEMENTS = {"failed": "failure", "error": "error", "incomplete": "error",
                     "skipped": "skipped", "xfailed": "skipped"}


def render_junit(verdict: Mapping[str, Any]) -> str:
    """A JUnit file made from a verdict alone, for ``pytest-staging merge`` (no pytest run
    writes one there): one test case per test, the failure message from its gate, then
    ``annotate_tree`` as for a run's file. Per case only the exceptions are properties
    (``staging_blocking`` false, ``staging_flaky``): a merge of 20,000 tests stays fast, and
    the gate of every test is in verdict.json."""
    messages = {str(f.get("nodeid")): str(f.get("message") or "")
                for gate in (verdict.get("gates") or {}).values()
                for f in (gate or {}).get("failures") or []}
    suite = ET.Element("testsuite", {"name": "pytest-staging"})
    total = 0.0
    counts = {"errors": 0, "failures": 0, "skipped": 0, "tests": 0}
    for test in verdict.get("tests") or []:
        nodeid, outcome = str(test.get("nodeid", "")), str(test.get("outcome", "incomplete"))
        classname, name = junit_address(nodeid)
        duration = float(test.get("duration") or 0.0)
        total += duration
        case = ET.SubElement(suite, "testcase", {"classname": _clean(classname),
                                                "name": _clean(name), "time": f"{duration:.3f}"})
        exceptions = [*((("staging_blocking", "false"),) if test.get("blocking") is False
                        else ()), *((("staging_flaky", "true"),) if test.get("flaky") else ())]
        if exceptions:
            properties = ET.SubElement(case, "properties")
            for prop, value in exceptions:
                ET.SubElement(properties, "property", {"name": prop, "value": value})
        counts["tests"] += 1
        tag = _OUTCOME_ELEMENTS.get(outcome)
        if tag is None:
            continue
        message = messages.get(nodeid) or {"incomplete": "never reached a final outcome",
                                           "xfailed": "expected to fail"}.get(outcome, outcome)
        element = ET.SubElement(case, tag, {"message": _clean(message, MESSAGE_LIMIT)})
        element.text = printable(message)
        counts[{"failure": "failures", "error": "errors"}.get(tag, "skipped")] += 1
    for name, value in counts.items():
        suite.set(name, str(value))
    suite.set("time", f"{total:.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    annotate_tree(root, verdict)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
