"""reports.junit: suite properties from the verdict, rerun attempts folded, written atomically."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from verdict_samples import nogo_verdict

from pytest_staging.reports.junit import annotate_junit, annotate_junit_text, suite_properties

PYTEST_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="0" failures="1" skipped="0"
 tests="3" time="0.1"><properties><property name="build" value="42" />
<property name="staging_verdict" value="GO" /></properties>
<testcase classname="t" name="test_a" time="0.1"><properties>
<property name="staging_gate" value="integration" /></properties></testcase>
<testcase classname="t" name="test_flaky" time="0.1"><properties>
<property name="staging_gate" value="integration" /></properties></testcase>
<testcase classname="t" name="test_flaky" time="0.1"><properties>
<property name="staging_gate" value="integration" /></properties></testcase>
<testcase classname="t" name="test_fail" time="0.1"><failure message="boom">x</failure></testcase>
<testcase classname="t" name="test_fail" time="0.1"><failure message="boom">x</failure></testcase>
</testsuite></testsuites>"""


def props(element: ET.Element) -> list[tuple[str | None, str | None]]:
    return [(p.get("name"), p.get("value")) for p in element.findall("properties/property")]


def test_suite_properties_from_verdict() -> None:
    v = nogo_verdict()
    p = suite_properties(v)
    assert p[0] == ("staging_verdict", "NO-GO")
    assert ("staging_gate_performance", "failed") in p
    assert [value for name, value in p if name == "staging_reason"] == v["reasons"]
    assert ("staging_expected_version", "1.2.3") in p


def test_annotate_replaces_staging_props_and_keeps_others() -> None:
    root = ET.fromstring(annotate_junit_text(PYTEST_XML, nogo_verdict()))
    suite = root.find("testsuite")
    assert suite is not None
    suite_props = props(suite)
    assert ("build", "42") in suite_props
    assert [v for n, v in suite_props if n == "staging_verdict"] == ["NO-GO"]


def test_rerun_attempts_are_folded() -> None:
    root = ET.fromstring(annotate_junit_text(PYTEST_XML, nogo_verdict()))
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["test_a", "test_flaky", "test_fail", "test_fail",
                                              "staging-verdict"]
    flaky = cases[1]
    assert ("staging_reruns", "1") in props(flaky)
    assert ("staging_reruns", "1") not in props(cases[0])


def test_bare_testsuite_root_gets_properties_first() -> None:
    xml = '<testsuite name="x" tests="1"><testcase classname="t" name="a"/></testsuite>'
    root = ET.fromstring(annotate_junit_text(xml, nogo_verdict()))
    assert root[0].tag == "properties"
    assert ("staging_verdict", "NO-GO") in props(root)


def test_annotate_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(PYTEST_XML, encoding="utf-8")
    annotate_junit(path, nogo_verdict())
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and 'name="staging_verdict" value="NO-GO"' in text
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]
