"""The run's side of the history store: where it is, what the verdict learns from it, and
appending the finished run.

The controller reads the store once, before its first decision (and makes sure it can write
it: a write lock taken and given back), so a store that cannot be used is a warning *in* the
verdict; it appends the run after the verdict files are written, and a failure then is a line
in the terminal. Neither ever changes the verdict. The one exception is the ``last-go``
performance baseline (``baseline.py``), where the verdict depends on the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_staging.history.facts import Past, history_facts, read_past
from pytest_staging.history.store import StoreError, describe, open_store
from pytest_staging.settings import Settings, setting

#: ``--staging-perf-baseline=last-go``: compare loads with the last GO in the history store.
LAST_GO = "last-go"


def store_path(config: Any, settings: Settings) -> Path | None:
    """The history store of this run (``--staging-history`` > env > ini > policy), or None."""
    value = setting(config, "history", policy=settings.policy).value
    return Path(str(value)) if value else None


def usage_problem(config: Any, settings: Settings) -> str:
    """A baseline that needs the store, without a store."""
    if setting(config, "perf_baseline").value == LAST_GO and store_path(config, settings) is None:
        return ("--staging-perf-baseline=last-go needs a history store: pass "
                "--staging-history PATH (or set STAGING_HISTORY, ini staging_history, "
                "policy [history] path)")
    return ""


@dataclass
class HistoryRun:
    """One run's use of the store (on the controller)."""

    path: Path
    target: str
    window: int
    past: Past | None = None
    #: Why the store could not be used before the verdict (a warning in it).
    problem: str = ""
    #: Problems after the verdict was written (the terminal's lines).
    late: list[str] = field(default_factory=list)
    read: bool = False

    def facts(self, tests: Iterable[Any], version: str | None) -> dict[str, Any]:
        """``RunFacts.history``: read (once) what the store knows of this target."""
        if not self.read:
            self.read = True
            try:
                with open_store(self.path, write=True) as store:
                    # The run will append itself at the end: find out now if it cannot.
                    with store.transaction():
                        pass
                    self.past = read_past(store, self.target, version, self.window)
            except Exception as exc:  # whatever it is, the store never decides the verdict
                self.problem = (f"history: {describe(self.path, exc)}; this run is not "
                                "recorded and its verdict does not depend on it")
        if self.past is None:
            return {"problems": [self.problem]}
        try:
            return history_facts(self.past, tests, version)
        except Exception as exc:
            return {"problems": [f"history: cannot compare with {self.path}: "
                                 f"{type(exc).__name__}: {exc}"]}

    def record(self, verdict: Mapping[str, Any]) -> None:
        """Append the finished run (replacing an earlier decision of the same run)."""
        if self.problem:
            return  # the verdict says so already
        try:
            with open_store(self.path, write=True) as store:
                store.append(verdict)
        except Exception as exc:
            self.late.append(f"history: {describe(self.path, exc)}; this run was not recorded "
                             "(its verdict stands)")


def for_run(config: Any, settings: Settings) -> HistoryRun | None:
    """The run's history, or None without a store."""
    path = store_path(config, settings)
    if path is None:
        return None
    return HistoryRun(path=path, target=settings.public_url(),
                      window=int(settings.policy["history.flaky_window"]))


__all__ = ["LAST_GO", "HistoryRun", "StoreError", "for_run", "store_path", "usage_problem"]
