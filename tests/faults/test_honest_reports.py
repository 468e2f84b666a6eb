"""Issue 10, class 14: reports that lie or break.

JUnit shows a NO-GO as a failing ``staging-verdict`` case even when no test failed, and shows
advisory failures as advisory skips, not as blocking failures; control characters from a
response never reach the terminal or a report raw; target HTML and Markdown never render in
verdict.md or the step summary; report files respect the umask.
"""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import assert_go, assert_no_go, run_staging
from servers import LoopbackServer, Request

from pytest_staging.printable import printable
from pytest_staging.reports.atomic import atomic_write_text
from pytest_staging.reports.markdown import md_escape

ADVISORY_AND_PASSING = """
import pytest

@pytest.mark.advisory
def test_advisory_fails(staging):
    assert staging.get("/health").status_code == 418, "teapot expected"

def test_health(staging):
    assert staging.get("/health").status_code == 200
"""


def junit(pytester: pytest.Pytester) -> ET.Element:
    root = ET.parse(pytester.path / "junit.xml").getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    return suite


def case(suite: ET.Element, name: str) -> ET.Element:
    found = [c for c in suite.findall("testcase") if c.get("name") == name]
    assert len(found) == 1, [c.get("name") for c in suite.findall("testcase")]
    return found[0]


def test_no_go_without_a_failing_test_fails_in_junit(pytester: pytest.Pytester,
                                                     server: LoopbackServer,
                                                     mode: list[str]) -> None:
    # The deployed version is not the one expected: NO-GO, and no test failed that blocks.
    # JUnit must not be green.
    pytester.makepyfile(test_app=ADVISORY_AND_PASSING)
    verdict = assert_no_go(run_staging(pytester, server.url, *mode, "--junitxml", "junit.xml",
                                       "--staging-expect-version", "9.9.9"),
                           r"version mismatch")
    suite = junit(pytester)
    verdict_case = case(suite, "staging-verdict")
    # Inconclusive (the tests ran against another version): JUnit's <error>, not a <failure>.
    assert verdict["judgement"] == "inconclusive" and verdict_case.find("failure") is None
    failure = verdict_case.find("error")
    assert failure is not None and failure.get("type") == "pytest-staging.NO-GO"
    assert failure.get("message", "").startswith("NO-GO (inconclusive): version mismatch")
    assert all(r in (failure.text or "") for r in verdict["reasons"])
    assert int(suite.get("errors", "0")) >= 1
    assert ("staging_judgement", "inconclusive") in [(p.get("name"), p.get("value"))
                                                     for p in suite.iter("property")]
    # The advisory failure is reported as advisory, not as one more blocking failure.
    advisory = case(suite, "test_advisory_fails")
    assert advisory.find("failure") is None and advisory.find("error") is None
    skipped = advisory.find("skipped")
    assert skipped is not None and skipped.get("type") == "pytest-staging.advisory"
    assert skipped.get("message", "").startswith("advisory: would have blocked: ")
    assert ("staging_advisory", "failure") in [(p.get("name"), p.get("value"))
                                               for p in advisory.iter("property")]
    assert int(suite.get("failures", "0")) == 0  # the verdict case is an error


def test_go_with_an_advisory_failure_has_no_failure_in_junit(pytester: pytest.Pytester,
                                                             server: LoopbackServer,
                                                             mode: list[str]) -> None:
    pytester.makepyfile(test_app=ADVISORY_AND_PASSING)
    assert_go(run_staging(pytester, server.url, *mode, "--junitxml", "junit.xml"))
    suite = junit(pytester)
    assert suite.findall("testcase/failure") == [] and suite.findall("testcase/error") == []
    assert [c.get("name") for c in suite.findall("testcase")
            if c.get("name") == "staging-verdict"] == []
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"


#: What a hostile or broken target sends back: terminal escapes, NUL, BEL, a bidi override,
#: HTML that fakes a green banner, Markdown that fakes a heading and an emoji tick.
HOSTILE = ("\x1b[2J\x1b[1;32mALL GREEN\x00\x07\u202e <h2>✅ GO</h2><img src=x onerror=alert(1)>"
           "\n## ✅ GO :white_check_mark: [ok](https://evil.example) | `x`")


def hostile(req: Request) -> tuple[int, dict[str, str], bytes]:
    return 500, {"Content-Type": "text/html; charset=utf-8"}, HOSTILE.encode()


HOSTILE_SUITE = """
def test_page(staging):
    response = staging.get("/api/page")
    print(response.text)
    assert response.status_code == 200, response.text
"""


@pytest.fixture
def summary(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    yield path


def test_hostile_response_text_is_printable_and_inert(pytester: pytest.Pytester,
                                                      server: LoopbackServer, mode: list[str],
                                                      summary: Path) -> None:
    server.routes["/api/page"] = hostile
    pytester.makepyfile(test_app=HOSTILE_SUITE)
    outcome = run_staging(pytester, server.url, *mode, "--junitxml", "junit.xml", "-rA")
    assert_no_go(outcome, r"test_page failed: .*ALL GREEN")
    junit_text = (pytester.path / "junit.xml").read_text(encoding="utf-8")
    ET.fromstring(junit_text)  # still well-formed XML
    texts = {"terminal": outcome.output, "junit.xml": junit_text,
             "step summary": summary.read_text(encoding="utf-8")}
    for path in outcome.report_dir.iterdir():
        if path.suffix in (".md", ".html"):
            texts[path.name] = path.read_text(encoding="utf-8")
    assert "\\x1b[2J" in texts["terminal"], "the escape is shown, made visible"
    for where, text in texts.items():
        for raw in ("\x1b", "\x00", "\x07", "\u202e"):
            assert raw not in text, (where, raw)
    for where in ("verdict.md", "step summary"):
        markdown = texts[where]
        assert "<h2>" not in markdown and "<img" not in markdown, where
        assert ":white_check_mark:" not in markdown and "](https://evil" not in markdown
        # Only our own banner starts a line with a heading, and it says NO-GO.
        headings = [ln for ln in markdown.splitlines() if ln.startswith("## ")]
        assert headings and all("NO-GO" in ln for ln in headings), headings


def test_printable_and_markdown_escaper() -> None:
    assert printable("a\x1b[2Jb\x00\tc\nd") == "a\\x1b[2Jb\\x00\tc\nd"
    assert printable("a\nb\tc", one_line=True) == "a\\nb\\tc"
    assert printable("abc\u202edef") == "abc\\u202edef"
    assert printable("plain ünïcode ✅") == "plain ünïcode ✅"
    escaped = md_escape("<b>x</b> **y** | [a](b) `c`\n## d")
    assert "<" not in escaped and ">" not in escaped and "\n" not in escaped
    for special in ("**", "[a]", "`c`", "|"):
        assert special not in escaped.replace("\\" + special[0], "\x00"), special


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_respects_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "verdict.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_report_files_of_a_run_respect_umask(pytester: pytest.Pytester,
                                             server: LoopbackServer) -> None:
    pytester.makepyfile(test_app="def test_ok(staging):\n    assert staging.get('/health')\n")
    old = os.umask(0o022)
    try:
        outcome = run_staging(pytester, server.url, "-p", "no:xdist", "--junitxml", "junit.xml")
    finally:
        os.umask(old)
    assert_go(outcome)
    for path in [*outcome.report_dir.iterdir(), pytester.path / "junit.xml"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
