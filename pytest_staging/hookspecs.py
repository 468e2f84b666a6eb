"""Hooks that pytest-staging offers to conftest files and other plugins."""

from __future__ import annotations

from typing import Any

import pytest

hookspec = pytest.hookspec  # type: ignore[attr-defined]


@hookspec(firstresult=True)
def pytest_staging_default_url(config: pytest.Config) -> str | None:
    """Return the staging URL to use when none was given on the command line, env or ini.

    Called once, on the controller. The sample suite uses it to start its embedded demo app::

        def pytest_staging_default_url(config):
            app = start_demo_app()
            config.add_cleanup(app.stop)
            return app.url
    """


def pytest_staging_verdict(config: pytest.Config, verdict: dict[str, Any]) -> None:
    """Called on the controller with the final verdict, after every report file was written.

    The verdict is read-only here: use it to notify (chat, dashboards), not to change it::

        def pytest_staging_verdict(config, verdict):
            if verdict["verdict"] == "NO-GO":
                post_to_chat("\\n".join(verdict["reasons"]))
    """
