"""``[evidence] trace_url``: a failing test's trace as a link in verdict.html, verdict.md, the
JUnit file and pytest-html, escaped for each format; a bad template is a usage error."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from servers import LoopbackServer, json_answer

from pytest_staging.reports.html import render_html
from pytest_staging.reports.markdown import render_markdown
from pytest_staging.trace_context import derive_trace_id

#: A template with what each format must escape: & for HTML/XML, ( ) for a Markdown link.
TEMPLATE = "https://tempo.example/explore?orgId=1&left=(traceId:{trace_id})"
POLICY = f"""
[gates.security]
min_tests = 0
[gates.performance]
min_tests = 0
[evidence]
trace_url = "{TEMPLATE}"
"""
TESTS = """
def test_ok(staging):
    assert staging.get("/").status_code == 200


def test_checkout(staging):
    assert staging.get("/checkout").status_code == 200
"""


def link(trace: str) -> str:
    return TEMPLATE.replace("{trace_id}", trace)


def test_failing_test_links_to_its_trace_in_every_report(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str]) -> None:
    server.routes["/checkout"] = lambda req: json_answer({"error": "down"}, 503)
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_shop=TESTS)
    junit = pytester.path / "junit.xml"
    run = run_staging("--staging-policy=policy.toml", f"--junitxml={junit}", *mode,
                      url=server.url)
    assert run.ret != 0, run.output
    verdict = run.verdict
    [failure] = verdict["gates"]["integration"]["failures"]
    trace = failure["trace_id"]
    assert verdict["run"]["trace_url"] == TEMPLATE
    sent = {r.headers.get("traceparent", "").split("-")[1] for r in server.requests
            if r.path == "/checkout"}
    assert sent == {trace}  # the link points at the trace the requests carried
    page = (run.report_dir / "verdict.html").read_text()
    assert f'href="{html.escape(link(trace))}"' in page  # & escaped in the attribute
    markdown = (run.report_dir / "verdict.md").read_text()
    encoded = link(trace).replace("(", "%28").replace(")", "%29")
    assert f"([trace]({encoded}))" in markdown
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_checkout"].iter("property")}
    assert props["staging_trace_id"] == trace and props["staging_trace_url"] == link(trace)
    ok = {p.get("name"): p.get("value") for p in cases["test_ok"].iter("property")}
    ok_trace = next(t["trace_id"] for t in verdict["tests"] if t["nodeid"].endswith("test_ok"))
    assert ok["staging_trace_id"] == ok_trace != trace
    assert "&amp;left=" in junit.read_text()


def test_no_template_no_links(pytester: pytest.Pytester, run_staging,
                              server: LoopbackServer) -> None:
    server.routes["/checkout"] = lambda req: json_answer({"error": "down"}, 503)
    pytester.makefile(".toml", policy=POLICY.split("[evidence]")[0])
    pytester.makepyfile(test_shop=TESTS)
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret != 0
    assert "trace_url" not in run.verdict["run"]
    assert run.verdict["gates"]["integration"]["failures"][0]["trace_id"]
    assert 'class="trace"' not in (run.report_dir / "verdict.html").read_text()
    assert "[trace]" not in (run.report_dir / "verdict.md").read_text()


@pytest.mark.parametrize("template", ["https://tempo.example/explore",
                                      "javascript:alert(1)//{trace_id}",
                                      'https://x.example/{trace_id}"><script>'])
def test_bad_trace_url_is_a_usage_error(pytester: pytest.Pytester, run_staging,
                                        server: LoopbackServer, template: str) -> None:
    pytester.makefile(".toml", policy=f"[evidence]\ntrace_url = '{template}'\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist", url=server.url)
    assert run.ret == 4, run.output
    assert "evidence.trace_url" in run.verdict["reasons"][0]


def test_a_forged_verdict_gets_no_link() -> None:
    """verdict.json may come from anywhere (``pytest-staging report``): a link is made only
    from a valid template and a valid trace id."""
    from pytest_staging.verdict import RunFacts, TestRecord, decide

    trace = derive_trace_id("s", "t")
    evidence = [{"method": "GET", "url": "u", "status": 500,
                 "trace_id": "\"><script>alert(1)</script>"}]
    verdict = decide(RunFacts(tests=[TestRecord("t", "integration", outcome="failed",
                                                trace_id=trace, evidence=evidence)],
                              trace_url="javascript:alert(1)//{trace_id}"))
    page = render_html(verdict)
    assert "javascript:" not in page and "<script>alert" not in page
    assert "[trace]" not in render_markdown(verdict)
    verdict["run"]["trace_url"] = TEMPLATE
    assert len(re.findall(r'class="trace" href="https://tempo', render_html(verdict))) == 1
    assert f'href="{html.escape(link(trace))}"' in render_html(verdict)


@pytest.mark.child_plugins("html")
def test_pytest_html_links_each_test_to_its_trace(pytester: pytest.Pytester, run_staging,
                                                  server: LoopbackServer,
                                                  tmp_path: Path) -> None:
    pytest.importorskip("pytest_html")
    server.routes["/checkout"] = lambda req: json_answer({"error": "down"}, 503)
    pytester.makefile(".toml", policy=POLICY)
    pytester.makepyfile(test_shop=TESTS)
    report = tmp_path / "report.html"
    run = run_staging("--staging-policy=policy.toml", f"--html={report}",
                      "--self-contained-html", "-n", "2", url=server.url)
    assert run.ret != 0, run.output
    page = html.unescape(report.read_text())
    for test in run.verdict["tests"]:
        # pytest-html keeps the row's HTML in a JSON string inside an HTML attribute: the
        # link's & is escaped once for the <a> it becomes, then once more for the attribute.
        anchor = 'href=\\"' + html.escape(link(test["trace_id"])) + '\\"'
        assert anchor in page, test["nodeid"]


def test_the_docs_policy_example_loads() -> None:
    from pytest_staging.policy import load_policy

    root = Path(__file__).resolve().parents[1]
    policy = load_policy(str(root / "docs" / "examples" / "tracing-policy.toml"), root)
    trace = derive_trace_id("s", "t")
    assert trace in trace_link_of(policy["evidence.trace_url"], trace)
    assert policy["performance.traceparent"] is True


def trace_link_of(template: str, trace: str) -> str:
    from pytest_staging.trace_context import trace_link

    return trace_link(template, trace)
