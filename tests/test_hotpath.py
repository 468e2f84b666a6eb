"""The plugin's per-test path stays cheap without dropping a rule (issue 16): one report hook of
ours per test in a plain active run, and the hooks a gate needs only where it has work,
including work that appears only at run time (``getfixturevalue("staging_load")``).
"""

from __future__ import annotations

from typing import Any

import pytest
from servers import LoopbackServer

from pytest_staging.outcomes import OutcomeBook, PhaseReport


class HookNames:
    """Records, at the end of the session, which of our plugins implement the per-test hooks."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        pm = session.config.pluginmanager
        for hook in ("pytest_runtest_makereport", "pytest_runtest_logreport",
                     "pytest_runtest_protocol", "pytest_runtest_setup"):
            impls = getattr(pm.hook, hook).get_hookimpls()
            self.seen[hook] = [str(pm.get_name(i.plugin)) for i in impls
                               if str(pm.get_name(i.plugin)).startswith("staging")]


def _run(pytester: pytest.Pytester, url: str, *args: str) -> tuple[Any, HookNames]:
    names = HookNames()
    result = pytester.runpytest_inprocess(
        f"--staging-url={url}", f"--staging-report-dir={pytester.path / 'report'}",
        "-p", "no:cacheprovider", *args, plugins=[names])
    return result, names


def test_a_plain_active_run_has_one_report_hook_of_ours(pytester: pytest.Pytester,
                                                        server: LoopbackServer) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result, names = _run(pytester, server.url, "-p", "no:xdist", "--staging-gate=integration")
    assert result.ret == 0
    # the skip location, the flaky property and the payload share the core's one wrapper; the
    # performance gate's check is not there for a suite without load tests
    assert names.seen["pytest_runtest_makereport"] == ["staging-items"]
    assert names.seen["pytest_runtest_logreport"] == ["staging-controller"]
    assert names.seen["pytest_runtest_protocol"] == []


def test_a_performance_marker_registers_the_load_check(pytester: pytest.Pytester,
                                                       server: LoopbackServer) -> None:
    pytester.makepyfile(test_a="""
        import pytest

        @pytest.mark.performance(thresholds=["p95 < 1s"])
        def test_latency():
            pass
    """)
    result, names = _run(pytester, server.url, "-p", "no:xdist",
                         "--staging-gate=integration,performance")
    assert result.ret == 3  # thresholds without a load: no evidence, could not judge
    assert "staging-performance-load-check" in names.seen["pytest_runtest_makereport"]


@pytest.mark.parametrize("mode", [["-p", "no:xdist"], ["-n", "2"]], ids=["serial", "xdist"])
def test_load_fixture_reached_at_run_time_that_ran_no_load_is_no_go(
        pytester: pytest.Pytester, server: LoopbackServer, mode: list[str]) -> None:
    # Nothing at collection says this test wants a load: the fixture itself brings the check.
    import json

    pytester.makepyfile(test_dyn="""
        def test_forgot(request):
            request.getfixturevalue("staging_load")

        def test_other():
            pass
    """)
    result, _ = _run(pytester, server.url, *mode, "--staging-gate=integration")
    verdict = json.loads((pytester.path / "report" / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO" and result.ret == 3
    assert verdict["judgement"] == "inconclusive"
    assert any("test_dyn.py::test_forgot: load run: asked for staging_load but ran no load"
               in reason for reason in verdict["reasons"]), verdict["reasons"]


def test_phase_report_is_immutable_and_positional() -> None:
    report = PhaseReport("t.py::a", "call", "passed")
    with pytest.raises(AttributeError):
        report.outcome = "failed"  # type: ignore[misc]
    book = OutcomeBook()
    book.expect("t.py::a")
    for when in ("setup", "call"):
        book.add(PhaseReport("t.py::a", when, "passed"))
    # no teardown report: a fact, not a pass
    assert book.tests["t.py::a"].final()[0] == "incomplete"
    book.add(PhaseReport("t.py::a", "teardown", "passed", duration=0.5))
    assert book.tests["t.py::a"].final()[0] == "passed"
    assert book.tests["t.py::a"].duration == 0.5


def test_compiled_page_template_is_cached_and_a_broken_cache_only_costs_a_compile(
        tmp_path: Any) -> None:
    from verdict_samples import nogo_verdict

    from pytest_staging.reports import html

    verdict = nogo_verdict()
    expected = html.render_html(verdict)

    def render(cache: Any) -> str:
        env = html.make_environment(cache)
        return env.get_template("verdict.html.j2").render(v=html.build_view(verdict))

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    assert render(html._CompiledTemplates(str(cache_dir))) == expected
    # the compiled templates (the page and its charts partial), for the next run
    cached = sorted(cache_dir.iterdir())
    assert len(cached) == 2
    assert render(html._CompiledTemplates(str(cache_dir))) == expected  # read back
    for file in cached:
        file.write_bytes(b"\x00garbage")  # a truncated or foreign file
    assert render(html._CompiledTemplates(str(cache_dir))) == expected
    # a cache that cannot be written: the page is rendered all the same
    assert render(html._CompiledTemplates(str(tmp_path / "missing"))) == expected


def test_a_marker_a_conftest_adds_after_collection_still_gets_the_load_check(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    # The conftest's hook runs after the performance gate's own (tryfirst) one: the check
    # must be decided on the final selection, not on what the gate saw first.
    import json

    pytester.makeconftest("""
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.performance(thresholds=["p95 < 1s"]))
    """)
    pytester.makepyfile(test_late="def test_latency():\n    pass\n")
    result, _ = _run(pytester, server.url, "-p", "no:xdist",
                     "--staging-gate=integration,performance")
    verdict = json.loads((pytester.path / "report" / "verdict.json").read_text())
    assert verdict["verdict"] == "NO-GO" and result.ret == 3
    assert verdict["judgement"] == "inconclusive"
    assert any("declares thresholds but does not use staging_load" in reason
               for reason in verdict["reasons"]), verdict["reasons"]
