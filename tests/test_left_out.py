"""Nothing a run left out is invisible (issue 20 item 10, issue 24 item 3): modules skipped at
collection count as skipped in their gate and are warned in every report; path options and
collection roots narrower than the declared suite make the run partial and say what they left
out; a run whose target was down did not "select a subset"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from servers import LoopbackServer, free_port

from pytest_staging.cli import main as cli_main

#: Only the integration gate blocks: a run of a few integration tests is whole and GO.
POLICY = """
[target]
wait = 1
interval = 0.1
timeout = 2
[gates.security]
blocking = false
[gates.performance]
blocking = false
"""
PASSING = """
def test_health(staging):
    assert staging.get("/health").status_code == 200
"""
IMPORTORSKIP = """
import pytest
pytestmark = [pytest.mark.security]
pytest.importorskip("no_such_package_for_this_ci_image")

def test_scan(staging):
    pass
"""
MODULE_SKIP = """
import pytest
pytest.skip("no Chromium on this machine", allow_module_level=True)
pytestmark = pytest.mark.integration

def test_journey(staging):
    pass
"""


def _project(pytester: pytest.Pytester, policy: str = POLICY) -> None:
    pytester.makefile(".toml", policy=policy)
    pytester.makeini("[pytest]\nstaging_policy = policy.toml\n")


def _warnings(verdict: dict, word: str) -> list[str]:
    return [w for w in verdict["warnings"] if word in w]


# -- modules skipped at collection ------------------------------------------------------------
def test_module_skips_are_skips_of_their_gate_in_every_report(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str]) -> None:
    _project(pytester)
    pytester.makepyfile(test_app=PASSING, test_scan=IMPORTORSKIP, test_journeys=MODULE_SKIP)
    run = run_staging(*mode, url=server.url)
    verdict = run.verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    skipped = {s["nodeid"]: s for s in verdict["selection"]["collection_skipped"]}
    assert set(skipped) == {"test_scan.py", "test_journeys.py"}
    # The module's pytestmark, read from its source (set after the skip: still read).
    assert skipped["test_scan.py"]["gate"] == "security"
    assert skipped["test_journeys.py"]["gate"] == "integration"
    assert "no_such_package_for_this_ci_image" in skipped["test_scan.py"]["reason"]
    assert skipped["test_journeys.py"]["reason"] == "no Chromium on this machine"
    assert verdict["gates"]["security"]["counts"]["skipped"] == 1
    assert verdict["gates"]["integration"]["counts"]["skipped"] == 1
    assert verdict["gates"]["integration"]["counts"]["passed"] == 1
    entries = {t["nodeid"]: t for t in verdict["tests"]}
    assert entries["test_journeys.py"]["outcome"] == "skipped"
    assert verdict["selection"]["partial"] is False  # skipped, not selected away
    lines = _warnings(verdict, "skipped at collection")
    assert len(lines) == 2 and any("no Chromium on this machine" in w for w in lines)
    # Every report says so: terminal, Markdown, HTML.
    assert "test_journeys.py skipped at collection" in run.stdout
    assert "test_journeys.py skipped at collection" in (run.report_dir / "verdict.md").read_text()
    html = (run.report_dir / "verdict.html").read_text()
    assert "test_journeys.py skipped at collection" in html
    assert "no_such_package_for_this_ci_image" in html


def test_modules_skipped_by_one_helper_are_each_counted(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str]) -> None:
    """Three modules skipped by one helper read alike (the helper's line): xdist forwards one
    such report to the controller; the workers' own record keeps all three."""
    _project(pytester)
    pytester.makepyfile(helpers="""
import pytest

def require_browser():
    pytest.skip("no browser here", allow_module_level=True)
""")
    for name in ("a", "b", "c"):
        pytester.makepyfile(**{f"test_{name}": "from helpers import require_browser\n"
                                               "require_browser()\n"
                                               "def test_x(staging):\n    pass\n"})
    pytester.makepyfile(test_app=PASSING)
    verdict = run_staging(*mode, url=server.url).verdict
    assert sorted(s["nodeid"] for s in verdict["selection"]["collection_skipped"]) == [
        "test_a.py", "test_b.py", "test_c.py"]
    assert verdict["gates"]["integration"]["counts"]["skipped"] == 3


def test_max_skipped_zero_blocks_a_missing_dependency(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str]) -> None:
    _project(pytester, POLICY.replace("[gates.security]\nblocking = false",
                                      "[gates.security]\nmax_skipped = 0\nmin_tests = 0"))
    pytester.makepyfile(test_app=PASSING, test_scan=IMPORTORSKIP)
    run = run_staging(*mode, url=server.url)
    verdict = run.verdict
    assert run.ret != 0
    assert verdict["verdict"] == "NO-GO"
    assert any(re.match(r"security: 1 blocking test\(s\) skipped .*max_skipped.*test_scan\.py",
                        r) for r in verdict["reasons"]), verdict["reasons"]
    assert verdict["gates"]["security"]["status"] == "failed"


def test_importorskip_in_a_packages_conftest(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, mode: list[str]) -> None:
    """The whole folder vanishes: the default gate counts it (its markers cannot be read).
    Before pytest 8 the skip ends the collection of the whole session (test_app.py too), and
    the verdict names what vanished: the rootdir."""
    _project(pytester, POLICY + "[gates.integration]\nmax_skipped = 0\n")
    pytester.makepyfile(test_app=PASSING)
    pkg = pytester.mkpydir("journeys")
    (pkg / "conftest.py").write_text("import pytest\npytest.importorskip('playwright_nope')\n")
    (pkg / "test_shop.py").write_text(PASSING)
    run = run_staging(*mode, url=server.url)
    verdict = run.verdict
    vanished = "journeys" if int(pytest.__version__.split(".")[0]) >= 8 else "(rootdir)"
    assert verdict["verdict"] == "NO-GO"
    assert verdict["selection"]["collection_skipped"][0]["nodeid"] == vanished
    assert verdict["selection"]["collection_skipped"][0]["gate"] == "integration"
    assert any("max_skipped" in r and vanished in r for r in verdict["reasons"])
    passed = verdict["gates"]["integration"]["counts"]["passed"]
    assert passed == (1 if vanished == "journeys" else 0)


def test_advisory_module_and_gate_left_out_are_not_counted(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer) -> None:
    _project(pytester, POLICY + "[gates.integration]\nmax_skipped = 0\n")
    pytester.makepyfile(test_app=PASSING, test_scan=IMPORTORSKIP, test_maybe="""
import pytest
pytestmark = [pytest.mark.integration, pytest.mark.advisory]
pytest.importorskip("no_such_optional_thing")
""")
    run = run_staging("-p", "no:xdist", url=server.url)
    verdict = run.verdict
    # An advisory module's skip is reported, never blocking (max_skipped counts blocking ones).
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert {s["nodeid"]: s["blocking"] for s in verdict["selection"]["collection_skipped"]} == {
        "test_scan.py": True, "test_maybe.py": False}
    run = run_staging("-p", "no:xdist", "--staging-gate", "integration", url=server.url)
    # The security module's gate was not selected: it is left out with its gate.
    assert [s["nodeid"] for s in run.verdict["selection"]["collection_skipped"]] == [
        "test_maybe.py"]


def test_verify_rederives_collection_skips(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, capsys,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy side judges the same entries: the signed GO verifies, and a verdict whose
    gate hides a skip that its max_skipped forbids does not re-derive."""
    import copy
    import json

    from pytest_staging.verify import VerifyError, check_rederived

    monkeypatch.setenv("STAGING_VERDICT_KEY", "k" * 32)
    _project(pytester)
    pytester.makepyfile(test_app=PASSING, test_journeys=MODULE_SKIP)
    run = run_staging("-p", "no:xdist", url=server.url)
    verdict = json.loads((run.report_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "GO"
    assert cli_main(["verify", str(run.report_dir)]) == 0, capsys.readouterr().err
    assert check_rederived(verdict).startswith("re-derived GO")
    forged = copy.deepcopy(verdict)
    forged["gates"]["integration"]["max_skipped"] = 0
    with pytest.raises(VerifyError, match="integration"):
        check_rederived(forged)


def test_module_deselected_whole_is_not_counted(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer) -> None:
    _project(pytester)
    pytester.makepyfile(test_app=PASSING, test_journeys=MODULE_SKIP)
    run = run_staging("-p", "no:xdist", "--deselect", "test_journeys.py", url=server.url)
    assert "collection_skipped" not in run.verdict["selection"]
    assert run.verdict["selection"]["partial"] is True


# -- path filters and the declared suite ------------------------------------------------------
def _suite(pytester: pytest.Pytester, ini_extra: str = "") -> None:
    pytester.makefile(".toml", policy=POLICY)
    pytester.makeini(f"[pytest]\nstaging_policy = policy.toml\ntestpaths = tests\n{ini_extra}")
    tests = pytester.mkdir("tests")
    (tests / "api").mkdir()
    for name in ("tests/test_one.py", "tests/test_two.py", "tests/api/test_three.py"):
        (pytester.path / name).write_text(PASSING)


@pytest.mark.parametrize(("args", "left_out"), [
    (["--ignore=tests/test_two.py"], "--ignore tests/test_two.py"),
    (["--ignore-glob=*two*"], "--ignore-glob *two*"),
    (["tests/test_one.py"], "declared suite not collected: tests (testpaths of tox.ini"),
    (["tests/api"], "declared suite not collected: tests"),
    (["-o", "testpaths=tests/api"], "-o testpaths=tests/api"),
    (["--rootdir=tests/api", "tests/api"], "declared suite not collected: tests"),
    (["-c", "/dev/null", "tests/test_one.py"], "declared suite not collected: tests "
                                              "(testpaths of the project's tox.ini"),
    (["-c", "narrow.ini"], "declared suite not collected: tests (testpaths of the project's "
                           "tox.ini; this run collected tests/api)"),
], ids=["ignore", "ignore-glob", "one-file", "one-dir", "override-testpaths", "rootdir",
        "config-file-empty", "config-file-narrower"])
def test_narrower_paths_make_the_run_partial(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, args: list[str],
        left_out: str) -> None:
    _suite(pytester)
    # An ini file of the run's own choice, in the project folder, declaring less.
    (pytester.path / "narrow.ini").write_text("[pytest]\ntestpaths = tests/api\n")
    extra = ["--staging-policy", "policy.toml"] if "-c" in args else []
    run = run_staging("-p", "no:xdist", *extra, *args, url=server.url)
    verdict = run.verdict
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert verdict["selection"]["partial"] is True
    assert any(f.startswith(left_out) for f in verdict["selection"]["filters"]), \
        verdict["selection"]["filters"]
    assert any(w.startswith("partial run (") and left_out in w for w in verdict["warnings"])


@pytest.mark.parametrize("args", [[], ["tests"], ["."], ["tests", "tests/api"]],
                         ids=["testpaths", "the-dir", "rootdir", "dir-and-subdir"])
def test_the_whole_declared_suite_is_not_partial(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, args: list[str]) -> None:
    _suite(pytester, "addopts = --ignore=tests/vendored\n")  # the project's own ignore
    run = run_staging("-p", "no:xdist", *args, url=server.url)
    assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
    assert run.verdict["selection"]["filters"] == []
    assert run.verdict["selection"]["partial"] is False


def test_narrower_paths_under_xdist(pytester: pytest.Pytester, run_staging,
                                    server: LoopbackServer) -> None:
    _suite(pytester)
    run = run_staging("-n", "2", "--ignore", "tests/api", url=server.url)
    assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
    assert run.verdict["selection"]["partial"] is True
    assert "--ignore tests/api" in run.verdict["selection"]["filters"]
    assert len(run.verdict["tests"]) == 2


def test_started_in_a_subfolder(pytester: pytest.Pytester, run_staging,
                                server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _suite(pytester)
    monkeypatch.chdir(pytester.path / "tests" / "api")
    run = run_staging("-p", "no:xdist", url=server.url)
    assert run.verdict["selection"]["partial"] is True
    assert run.verdict["selection"]["filters"] == [
        "declared suite not collected: tests (testpaths of tox.ini; this run collected "
        "tests/api); a staging suite that is only part of it is declared with [suite] paths"]


def test_policy_declares_the_suite(pytester: pytest.Pytester, run_staging,
                                   server: LoopbackServer) -> None:
    """[suite] paths declares it without testpaths (and survives -c, which loses the ini)."""
    pytester.makefile(".toml", policy=POLICY + '[suite]\npaths = ["tests"]\n')
    tests = pytester.mkdir("tests")
    (tests / "test_one.py").write_text(PASSING)
    (tests / "test_two.py").write_text(PASSING)
    run = run_staging("-p", "no:xdist", "--staging-policy", "policy.toml", "tests/test_one.py",
                      url=server.url)
    assert run.verdict["selection"]["partial"] is True
    assert any("declared suite not collected: tests ([suite] paths of" in f
               for f in run.verdict["selection"]["filters"])
    run = run_staging("-p", "no:xdist", "--staging-policy", "policy.toml", "tests",
                      url=server.url)
    assert run.verdict["selection"]["partial"] is False


# -- a target that was down -------------------------------------------------------------------
def test_target_down_is_not_a_subset(pytester: pytest.Pytester, mode: list[str], capsys) -> None:
    """pytest's own count stays true (no "-5 selected"), no partial-run warning, and the only
    reason is the real one; the security gate's built-in items are added during collection."""
    pytester.makepyfile(test_app=PASSING + PASSING.replace("health", "version"))
    pytester.makefile(".toml", policy="[target]\nwait = 0.2\ninterval = 0.1\n")
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", f"--staging-url=http://127.0.0.1:{free_port()}/",
        "--staging-policy", "policy.toml", "--staging-report-dir", "report", *mode)
    out = "\n".join(result.outlines)
    assert result.ret != 0
    assert "deselected" not in out and not re.search(r"-\d+ selected", out), out
    # The gates' built-in items are counted as collected too: "collected 7 items", and none
    # of them "selected" below zero.
    assert re.search(r"collected \d+ items$|2 workers \[0 items\]", out, re.M), out
    import json

    verdict = json.loads((pytester.path / "report" / "verdict.json").read_text())
    assert len(verdict["reasons"]) == 1 and verdict["reasons"][0].startswith(
        "target not ready"), verdict["reasons"]
    assert not [w for w in verdict["warnings"] if "partial" in w], verdict["warnings"]
    selection = verdict["selection"]
    assert selection["partial"] is False and selection["deselected"] == 0
    assert selection["filters"] == []
    assert selection["not_run"] >= 2  # the two tests, and the built-in security items
    capsys.readouterr()
    cli_main(["verify", str(pytester.path / "report"), "--explain"])
    explained = capsys.readouterr().out
    assert "deselected" not in explained and "partial run" not in explained, explained


def test_target_down_with_a_real_filter(pytester: pytest.Pytester) -> None:
    """-k still deselects (and is said); the tests it kept were not run, not deselected."""
    pytester.makepyfile(test_app=PASSING + PASSING.replace("health", "version"))
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:staging-security",
        f"--staging-url=http://127.0.0.1:{free_port()}/", "--staging-wait=0",
        "--staging-report-dir", "report", "-k", "health")
    out = "\n".join(result.outlines)
    assert "collected 2 items / 1 deselected / 1 selected" in out, out
    import json

    selection = json.loads((pytester.path / "report" / "verdict.json").read_text())["selection"]
    assert selection["deselected"] == 1 and selection["not_run"] == 1
    assert selection["filters"] == ["-k health"]


def test_sample_browser_journeys_without_chromium_are_visible() -> None:
    """The demo's own storefront module skips itself without a browser: its pytestmark (read
    from the source) puts that skip in the integration gate."""
    from pytest_staging.gate_assignment import assign_unimported

    source = Path(__file__).parents[1] / "sample_suite" / "test_storefront.py"
    found = assign_unimported(source, ["integration", "security", "performance"], "security")
    assert (found.gate, found.blocking) == ("integration", True)


@pytest.mark.parametrize(("source", "gate", "blocking"), [
    ("pytestmark = pytest.mark.security\n", "security", True),
    ("pytestmark = [pytest.mark.smoke, pytest.mark.advisory]\n", "smoke", False),
    ("from pytest import mark\npytestmark = (mark.performance(reason='x'),)\n", "performance",
     True),
    ("if True:\n    pytestmark: list = [pytest.mark.security]\n", "security", True),
    ("pytestmark = [pytest.mark.parametrize('a', [1])]\npytestmark += [pytest.mark.smoke]\n",
     "smoke", True),
    ("pytestmark = marks()\n", "integration", True),
    ("GATE = [pytest.mark.security]\npytestmark = GATE + [pytest.mark.advisory]\n",
     "security", False),
    ("def broken(:\n", "integration", True),
], ids=["one", "list-advisory", "from-import-call", "annotated-under-if", "augmented",
        "unreadable-call", "module-level-name", "syntax-error"])
def test_gate_of_a_module_that_was_not_imported(tmp_path: Path, source: str, gate: str,
                                                blocking: bool) -> None:
    from pytest_staging.gate_assignment import assign_unimported

    path = tmp_path / "test_mod.py"
    path.write_text("import pytest\n" + source)
    found = assign_unimported(path, ["integration", "security", "performance", "smoke"],
                              "integration")
    assert (found.gate, found.blocking) == (gate, blocking)


def test_whole_suite_policy_example(pytester: pytest.Pytester, run_staging,
                                    server: LoopbackServer) -> None:
    """docs/examples/policy-whole-suite.toml does what docs/ci-recipes.md says: a missing
    dependency blocks, a run of one file is partial."""
    example = Path(__file__).parents[1] / "docs" / "examples" / "policy-whole-suite.toml"
    # Only the integration gate under test: security advisory here (no security tests).
    text = example.read_text().replace("[gates.security]\n", "[gates.security]\nblocking = false\n")
    pytester.makefile(".toml", policy=text + POLICY.replace("[gates.security]\nblocking = false\n",
                                                            ""))
    suite = pytester.mkdir("tests") / "acceptance"
    suite.mkdir()
    (suite / "test_app.py").write_text(PASSING)
    (suite / "test_reports.py").write_text(IMPORTORSKIP.replace("security", "integration"))
    run = run_staging("-p", "no:xdist", "--staging-policy", "policy.toml", url=server.url)
    assert run.verdict["verdict"] == "NO-GO"
    assert any("max_skipped" in r and "tests/acceptance/test_reports.py" in r
               for r in run.verdict["reasons"]), run.verdict["reasons"]
    (suite / "test_reports.py").unlink()
    run = run_staging("-p", "no:xdist", "--staging-policy", "policy.toml",
                      "tests/acceptance/test_app.py", url=server.url)
    assert run.verdict["verdict"] == "GO", run.verdict["reasons"]
    assert run.verdict["selection"]["partial"] is True


def test_filters_that_leave_out_built_in_items_count_right(
        pytester: pytest.Pytester, server: LoopbackServer) -> None:
    """-k leaving out some of the security gate's built-in items: pytest's line adds up."""
    pytester.makepyfile(test_app=PASSING)
    pytester.makefile(".toml", policy=POLICY)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", f"--staging-url={server.url}",
        "--staging-policy", "policy.toml", "--staging-report-dir", "report",
        "-k", "headers or health")
    out = "\n".join(result.outlines)
    found = re.search(r"collected (\d+) items / (\d+) deselected / (\d+) selected", out)
    assert found, out
    collected, deselected, selected = map(int, found.groups())
    assert collected - deselected == selected == 2, out
