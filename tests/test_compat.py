"""pytest API that is not public, used in one place (pytest_staging/compat.py): these fail
loudly on a pytest upgrade that removes it, instead of the plugin degrading in silence."""

from __future__ import annotations

import pytest

from pytest_staging.compat import PRIVATE_API, map_failure_text, missing_private_api


def test_private_api_still_exists(pytestconfig: pytest.Config) -> None:
    assert PRIVATE_API
    assert missing_private_api(pytestconfig) == [], (
        "pytest changed API that pytest_staging/compat.py relies on: adapt compat.py")


def test_capture_suspended_reaches_the_terminal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_live="""
        from pytest_staging.compat import capture_suspended

        def test_line(request):
            with capture_suspended(request.config):
                print("LIVE-LINE-PAST-CAPTURE")
            print("captured-and-hidden")
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    assert result.ret == 0
    out = "\n".join(result.outlines)
    assert "LIVE-LINE-PAST-CAPTURE" in out
    # The same print without it stays captured (a passing test's output is not shown).
    assert "captured-and-hidden" not in out


def test_no_private_imports_outside_compat() -> None:
    """Grep the package: ``_pytest`` imports, ``config._x``, xdist's internals (``dsession``,
    ``nodemanager``, ``xdist.*`` modules) and writes to frozen objects live only in compat.py."""
    import re
    from pathlib import Path

    import pytest_staging

    allowed = {"compat.py"}
    pattern = re.compile(r"^\s*(import|from) (_pytest|xdist)\b|config\._[a-z]|nodemanager|"
                         r"object\.__setattr__|"
                         r"getplugin\(\"(dsession|capturemanager)\"\)", re.M)
    offenders = [str(path) for path in Path(pytest_staging.__file__).parent.rglob("*.py")
                 if path.name not in allowed and pattern.search(path.read_text())]
    assert offenders == []


def test_map_failure_text_reaches_every_string_of_a_real_failure(
        pytester: pytest.Pytester) -> None:
    """pytest's failure representation is not public: a pytest that reshapes it must fail
    here, not leak a secret into the traceback, the crash line or the short summary."""
    pytester.makeconftest("""
        import pytest
        from pytest_staging.compat import map_failure_text

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            report = yield
            if report.longrepr is not None:
                report.structured = not isinstance(report.longrepr, str)
                report.longrepr = map_failure_text(report.longrepr,
                                                   lambda s: s.replace("HUNTER2", "***"))
                assert not isinstance(report.longrepr, str) or not report.structured
            return report
    """)
    pytester.makepyfile(test_leak="""
        def helper(token):
            raise ValueError("token HUNTER2 refused")

        def test_leak():
            token = "HUNTER2"
            try:
                helper(token)
            except ValueError as exc:
                raise RuntimeError(f"wrapped {token}") from exc
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-rf",
                                          "-l")
    assert result.ret == 1
    out = "\n".join(result.outlines)
    assert "HUNTER2" not in out
    assert "token *** refused" in out  # the chained exception's entries
    assert "FAILED test_leak.py::test_leak - RuntimeError: wrapped ***" in out  # reprcrash
    reports = [r for r in result.reprec.getreports("pytest_runtest_logreport") if r.failed]
    assert reports and reports[0].structured and not isinstance(reports[0].longrepr, str)


def test_map_failure_text_leaves_foreign_objects_alone() -> None:
    class Foreign:
        def __init__(self) -> None:
            self.text = "HUNTER2"

    foreign = Foreign()
    mapped = map_failure_text(["a HUNTER2", ("HUNTER2", foreign)], str.lower)
    assert mapped == ["a hunter2", ("hunter2", foreign)]
    assert foreign.text == "HUNTER2"


def test_without_frames_from_drops_library_frames(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import json
        import pytest
        from pytest_staging.compat import without_frames_from

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            report = yield
            if report.failed and call.excinfo is not None:
                without_frames_from(call.excinfo, ("json",))
                report.longrepr = call.excinfo.getrepr(style="short", chain=False)
            return report
    """)
    pytester.makepyfile(test_json="""
        import json

        def test_parse():
            json.loads("{")
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    assert result.ret == 1
    out = "\n".join(result.outlines)
    assert 'json.loads("{")' in out  # the test's own frame stays
    assert "JSONDecodeError" in out
    assert "decoder.py" not in out and "json/__init__.py" not in out


@pytest.mark.parametrize(("name", "text"), [
    ("pytest.ini", "[pytest]\ntestpaths = tests docs\n"),
    ("tox.ini", "[pytest]\ntestpaths =\n    tests\n    docs\n"),
    ("pyproject.toml", "[tool.pytest.ini_options]\ntestpaths = [\"tests\", \"docs\"]\n"),
])
def test_project_testpaths_reads_what_pytest_would_find(tmp_path, name: str, text: str) -> None:
    """pytest's search for its ini file (what -c replaced): a pytest that changes it must fail
    here, not quietly lose the declared suite of a run started with ``-c``."""
    from pytest_staging.compat import project_testpaths

    (tmp_path / name).write_text(text)
    (tmp_path / "tests" / "sub").mkdir(parents=True)
    assert project_testpaths(tmp_path, ["tests/sub/test_x.py::test_y"]) == (
        tmp_path / name, ["tests", "docs"])
    assert project_testpaths(tmp_path / "tests", []) == (tmp_path / name, ["tests", "docs"])
    (tmp_path / name).write_text(text.split("testpaths")[0])
    assert project_testpaths(tmp_path, []) is None


@pytest.mark.parametrize("layout", ["none", "pytest.ini", "tox-in-parent", "pyproject-plain",
                                    "setup.cfg-and-pytest.ini"])
def test_pytest_configuration_is_what_a_run_reads(pytester: pytest.Pytester,
                                                  layout: str) -> None:
    """pytest's rootdir/configuration rule as compat.pytest_configuration() calls it gives
    the rootdir, file and values a real run of ``pytest tests`` reports."""
    from pytest_staging.compat import pytest_configuration

    tests = pytester.mkdir("tests")
    (tests / "test_a.py").write_text("def test_a():\n    pass\n")
    if layout == "pytest.ini":
        (pytester.path / "pytest.ini").write_text("[pytest]\nstaging_report_dir = out\n")
    elif layout == "tox-in-parent":
        (pytester.path / "tox.ini").write_text("[pytest]\nstaging_report_dir = out\n")
        (tests / "setup.cfg").write_text("[metadata]\nname = x\n")  # not pytest's: skipped
    elif layout == "pyproject-plain":
        (pytester.path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    elif layout == "setup.cfg-and-pytest.ini":
        (pytester.path / "setup.cfg").write_text("[tool:pytest]\nstaging_report_dir = cfg\n")
        (pytester.path / "pytest.ini").write_text("[pytest]\nstaging_report_dir = ini\n")
    rootdir, path, values = pytest_configuration(pytester.path, [str(tests)])
    pytester.makeconftest("""
        import json
        def pytest_configure(config):
            print("CONFIG=" + json.dumps([str(config.rootpath), str(config.inipath or ""),
                                          config.getini("staging_report_dir")]))
    """)
    result = pytester.runpytest_inprocess("tests", "-s", "-p", "no:cacheprovider")
    line = next(ln for ln in result.outlines if ln.startswith("CONFIG="))
    import json

    run_rootdir, run_path, run_value = json.loads(line[len("CONFIG="):])
    assert (str(rootdir), str(path or "")) == (run_rootdir, run_path)
    assert str(values.get("staging_report_dir", "")) == run_value
