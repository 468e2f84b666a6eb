"""The plugin objects an active run registers keep pluggy's registry usable by other plugins."""

from __future__ import annotations

import pytest
from servers import LoopbackServer

MODES = {"serial": ["-p", "no:xdist"], "xdist": ["-n", "2"]}
TEST = """
def test_registry(pytestconfig):
    plugins = pytestconfig.pluginmanager.get_plugins()  # a set: every plugin must be hashable
    names = [pytestconfig.pluginmanager.get_name(p) for p in plugins]
    assert "staging-items" in names
"""


@pytest.mark.parametrize("mode", list(MODES))
def test_get_plugins_works_in_an_active_run(pytester: pytest.Pytester, server: LoopbackServer,
                                            mode: str) -> None:
    pytester.makepyfile(test_registry=TEST)
    result = pytester.runpytest_subprocess(
        f"--staging-url={server.url}", "--staging-gate=integration", "-p", "no:cacheprovider",
        f"--staging-report-dir={pytester.path / 'report'}", *MODES[mode])
    result.assert_outcomes(passed=1)
    assert result.ret == 0
