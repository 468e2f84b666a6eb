"""The one home of what pytest-staging uses from pytest or pytest-xdist that is not their
public API. ``tests/test_compat.py`` fails loudly when an upgrade removes any of it.

- ``capturemanager.global_and_fixture_disabled()``: pytest's capture plugin, to show a live
  line (a load test's progress) past output capturing, as pytest's own live logging does;
  pytest has no public equivalent outside the ``capsys``/``capfd`` fixtures, which would
  change how the user's test is captured.

Not here yet (the lead's modules, listed in ARCHITECTURE.md): ``items.py`` imports ``_pytest``
to tell pytest's frames and objects apart, and the ``report.staging_*`` attributes that reach
the controller through xdist's copy of a report's ``__dict__``.

Everything else uses documented API: xdist's ``workerinput`` (``workerid``, ``testrunuid``)
and its ``pytest_configure_node`` hook, ``config.stash``, ``pytest.TerminalReporter``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

#: (plugin name, attribute) pairs of non-public API used here.
PRIVATE_API = (("capturemanager", "global_and_fixture_disabled"),)


def capture_suspended(config: pytest.Config) -> contextlib.AbstractContextManager[Any]:
    """A context in which writes to the terminal are not captured (pytest's global and
    fixture capture suspended); a no-op when capturing is off (``-s``, ``-p no:capture``)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    disabled = getattr(capman, "global_and_fixture_disabled", None)
    return disabled() if disabled is not None else contextlib.nullcontext()


def missing_private_api(config: pytest.Config) -> list[str]:
    """The entries of ``PRIVATE_API`` this pytest no longer has (for the upgrade test)."""
    missing = []
    for plugin_name, attribute in PRIVATE_API:
        plugin = config.pluginmanager.getplugin(plugin_name)
        if plugin is None or not callable(getattr(plugin, attribute, None)):
            missing.append(f"{plugin_name}.{attribute}")
    return missing
