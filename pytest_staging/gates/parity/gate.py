"""pytest glue of the parity gate: one built-in item per kind of comparison.

The items ``staging-parity::security``, ``::transport``, ``::api`` and ``::version`` belong to
the ``parity`` gate, which exists only when a compare URL is configured. Like the security
gate's items they are added at collection on whichever process collects, and xdist runs each
item once: the comparison runs once per run. Each item talks to production through its own
:class:`~pytest_staging.gates.parity.client.ReadOnlyClient` with its own share of the request
budget, so the budget holds whichever worker runs which item.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_staging.gates.parity import compare
from pytest_staging.gates.parity.client import ParityRefused, ReadOnlyClient
from pytest_staging.gates.parity.compare import ParityCheckError
from pytest_staging.gates.parity.settings import (
    GATE,
    ITEMS,
    ParityConfigError,
    ParitySettings,
    resolve_parity,
)
from pytest_staging.gates.security.levels import apply_levels, count_levels
from pytest_staging.printable import one_line
from pytest_staging.record import record
from pytest_staging.redact import Redactor, strip_credentials
from pytest_staging.settings import setting
from pytest_staging.trace_glue import trace_of
from pytest_staging.url_headers import public_header_names

if TYPE_CHECKING:  # for annotations only: no new import edge between the gates and settings
    from pytest_staging.settings import Settings

NODE_PREFIX = "staging-parity"
PARITY_KEY = pytest.StashKey[ParitySettings]()
#: Metric key prefix of each item's comparison summary.
METRIC_PREFIX = "parity:"


def parity_settings(config: pytest.Config, settings: Settings) -> ParitySettings:
    """The parity settings of this run, resolved once per process."""
    cached = config.stash.get(PARITY_KEY, None)
    if cached is None:
        cached = resolve_parity(setting(config, "compare_url", policy=settings.policy),
                                setting(config, "compare_headers").value or [],
                                settings.policy, os.environ, public_header_names(
                                    setting(config, "public_headers",
                                            policy=settings.policy).value or []))
        config.stash[PARITY_KEY] = cached
    return cached


class ParityFailure(Exception):
    """Fail-level differences: the message lists them, one per line."""


def shown_url(url: str, secrets: frozenset[str]) -> str:
    return strip_credentials(Redactor(secrets).url(url))


def describe(item: dict[str, Any]) -> str:
    return f"[{item.get('level')}] {item.get('rule')} at {item.get('url')}: " \
           f"{item.get('evidence', '')}"


class ParityItem(pytest.Item):
    """One kind of comparison between staging and the compare target, as a test item."""

    def __init__(self, *, kind: str, settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.settings = settings
        #: Requests this item sent to production, over every run of it (reruns included).
        self.spent = 0
        self.add_marker(getattr(pytest.mark, GATE))
        # No rerun (pytest-rerunfailures' own marker, which beats flaky.retries): a
        # comparison is not flaky, and a rerun would spend production's budget twice.
        self.add_marker(pytest.mark.flaky(reruns=0))

    def runtest(self) -> None:
        par = parity_settings(self.config, self.settings)
        budget = par.budgets()[self.kind]
        # Whatever runs this item again (a rerun plugin, a repeat), the share holds in total.
        production = ReadOnlyClient(par.url, budget=max(budget - self.spent, 0),
                                    name="production",
                                    headers=par.headers, params=dict(par.params),
                                    verify=self.settings.verify, timeout=par.timeout)
        staging = ReadOnlyClient(self.settings.url, budget=max(budget, 1), name="staging",
                                 headers=self.settings.headers,
                                 params=dict(self.settings.params),
                                 verify=self.settings.verify, timeout=par.timeout)
        secrets = par.secrets | self.settings.secrets

        def metrics(**facts: Any) -> dict[str, Any]:
            return {f"{METRIC_PREFIX}{self.kind}": {
                "production": shown_url(par.url, secrets),
                "staging": shown_url(self.settings.url, secrets),
                "requests": {"production": production.sent, "staging": staging.sent},
                "budget": budget, **facts}}

        staging.trace = trace_of(self)  # production never gets one
        try:
            with production, staging, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # InsecureRequestWarning, --staging-insecure
                found, compared = self._compare(par, production, staging)
        except (ParityCheckError, ParityRefused) as exc:
            # A side that could not be observed (production down, a refused request): the
            # comparison could not judge; the item still fails, and the run is NO-GO. What
            # could not be compared, and with which URL: the summary names it.
            record(self, checks=[{"name": f"{self.kind}: could not compare", "passed": False,
                                  "blocking": True, "detail": one_line(exc, None),
                                  "inconclusive": True}],
                   metrics=metrics(compared=[], error=str(exc)))
            raise
        finally:
            self.spent += production.sent
        found = apply_levels(found, par.rules)
        checks, notes = judge(self.kind, found)
        record(self, findings=found, checks=checks, warnings=notes,
               metrics=metrics(compared=compared, differences=count_levels(found)))
        failed = [f for f in found if f.get("level") == "fail"]
        if failed:
            lines = [describe(f) for f in failed]
            rules = ", ".join(dict.fromkeys(str(f["rule"]) for f in failed))
            lines.append(f"{len(failed)} fail-level difference(s) from production: {rules}")
            raise ParityFailure("\n".join(lines))

    def _compare(self, par: ParitySettings, production: ReadOnlyClient,
                 staging: ReadOnlyClient) -> tuple[list[dict[str, Any]], list[str]]:
        if self.kind == "security":
            pair = [compare.observe_security(c) for c in (production, staging)]
            return compare.compare_security(*pair), ["/"]
        if self.kind == "transport":
            if not par.url.startswith("https:"):
                pytest.skip("production is plain HTTP: no TLS to compare")
            pair = [compare.observe_transport(c) for c in (production, staging)]
            return compare.compare_transport(*pair), ["/"]
        if self.kind == "api":
            if not par.paths and not par.openapi:
                pytest.skip("nothing to compare: set [parity] paths or [parity] openapi")
            pair = [compare.observe_api(c, par.paths, par.openapi)
                    for c in (production, staging)]
            return compare.compare_api(*pair), [*par.paths, *([par.openapi] * bool(par.openapi))]
        pair = [compare.observe_version(c, par.version_path, par.version_field,
                                        par.health_path, par.fields)
                for c in (production, staging)]
        return (compare.compare_version(*pair, par.fields, par.version_path),
                [par.version_path, *par.fields])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, (ParityFailure, ParityCheckError, ParityRefused)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{NODE_PREFIX}::{self.kind}"


def judge(kind: str, findings: list[dict[str, Any]]
          ) -> tuple[list[dict[str, Any]], list[str]]:
    """(checks, warnings): a failed blocking check per fail-level difference, a warning per
    warn-level one, a passing check when nothing failed."""
    checks: list[dict[str, Any]] = []
    notes: list[str] = []
    for item in findings:
        if item.get("level") == "fail":
            checks.append({"name": f"{kind}: {item.get('rule')}", "passed": False,
                           "blocking": True, "detail": f"{item.get('evidence')} "
                                                       f"at {item.get('url')}"})
        elif item.get("level") == "warn":
            notes.append(f"parity: {kind}: {item.get('rule')}: {item.get('evidence')}")
    if not checks:
        checks.append({"name": kind, "passed": True, "blocking": True,
                       "detail": "no fail-level difference from production"})
    return checks, notes


class ParityCollection:
    """Adds the built-in items at collection (registered when the parity gate runs)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        from pytest_staging.items import add_builtin_items

        add_builtin_items(session, items, [ParityItem.from_parent(
            session, name=kind, nodeid=f"{NODE_PREFIX}::{kind}", kind=kind,
            settings=self.settings) for kind in ITEMS])


#: The metric naming the compare target (not an item's: no ``parity:`` prefix).
TARGET_METRIC = "compare"


def finalize(config: pytest.Config, settings: Settings,
             gate_data: dict[str, dict[str, Any]]) -> None:
    """On the controller, before the verdict: the compare URL (redacted) in the gate's
    metrics, so the summary names it even when no item ran (staging down, deselected)."""
    if GATE not in settings.gates_selected:
        return
    with contextlib.suppress(ParityConfigError):
        par = parity_settings(config, settings)
        if par.enabled:
            metrics = gate_data.setdefault(GATE, {}).setdefault("metrics", {})
            metrics[TARGET_METRIC] = {
                "production": shown_url(par.url, par.secrets | settings.secrets)}


def register(config: pytest.Config, settings: Settings) -> None:
    """Register the built-in items when the parity gate exists and is selected."""
    if GATE not in settings.gates_selected:
        return
    try:
        parity = parity_settings(config, settings)
    except ParityConfigError as exc:
        raise pytest.UsageError(f"pytest-staging: {exc}") from None
    if parity.enabled:
        config.pluginmanager.register(ParityCollection(settings), "staging-parity")
