"""The harness itself: child runs start without the test extras' plugins they do not need
(tests/conftest.py CHILD_BLOCKED), unless a test keeps one. pytester clears PYTEST_ADDOPTS
when it starts; were it to start after the fixture that sets it, every child would pay ~0.9 s
of CPU again, silently."""

from __future__ import annotations

import pytest

PROBE = """
def test_probe(pytestconfig):
    names = ("schemathesis", "playwright", "html", "hypothesispytest", "anyio")
    print("LOADED=" + ",".join(n for n in names if pytestconfig.pluginmanager.has_plugin(n)))
"""


def _loaded(result: pytest.RunResult) -> set[str]:
    [line] = [line for line in result.outlines if "LOADED=" in line]
    return set(filter(None, line.split("LOADED=", 1)[1].strip(" .").split(",")))


def test_subprocess_children_block_the_extras(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    assert _loaded(result) == set()


@pytest.mark.child_plugins("playwright")
def test_a_test_keeps_the_plugins_it_names(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_playwright")
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_inprocess("-s", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    assert _loaded(result) == {"playwright"}
