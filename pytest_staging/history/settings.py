"""Policy keys of the ``[history]`` section: its part of the one policy key table (read by
``pytest_staging.policy``; the store's path also comes from ``--staging-history``,
``STAGING_HISTORY`` and ini ``staging_history``: ``precedence.SETTINGS``)."""

from __future__ import annotations

from pytest_staging.policy_keys import Key, at_least

HISTORY_KEYS: tuple[Key, ...] = (
    Key("history.path", str, "",
        "SQLite file each finished run is appended to, relative to the policy file "
        "(--staging-history, env STAGING_HISTORY, ini staging_history) [no history]"),
    Key("history.flaky_window", int, 10,
        "a test is flaky when it both failed and passed on the same target version within "
        "this many runs (this one included)", at_least(2)),
)
