"""pytest glue of the security gate: built-in check items, the bandit item, ``staging_scan``,
and the controller-side grade.

Built-in checks are ordinary test items of the ``security`` gate, one per check family, with
node ids ``staging-security::headers`` ... and ``staging-security::bandit``; so ``-k``, JUnit and
xdist see them. They are added at collection, on whichever process collects (the only process
of a serial run, or each xdist worker, which all collect the same list); xdist then runs each
item once, so bandit runs once per session.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from pytest_staging.deadline import DeadlineSession
from pytest_staging.gates.security import grade as grading
from pytest_staging.gates.security.accepted import grade_excluding_accepted
from pytest_staging.gates.security.bandit_scan import BanditError, run_bandit
from pytest_staging.gates.security.http_checks import SecurityCheckError
from pytest_staging.gates.security.levels import apply_levels
from pytest_staging.gates.security.runner import (
    HTTP_FAMILIES,
    describe,
    gate_summary,
    grade_check,
    judge,
    run_family,
    scan,
)
from pytest_staging.gates.security.settings import SecuritySettings, from_section
from pytest_staging.precedence import policy_dir
from pytest_staging.record import record
from pytest_staging.settings import setting
from pytest_staging.trace_glue import trace_of

if TYPE_CHECKING:  # for annotations only: no new import edge between the gates and settings
    from pytest_staging.settings import Settings
    from pytest_staging.trace_context import Trace

GATE = "security"
NODE_PREFIX = "staging-security"
SECURITY_KEY = pytest.StashKey[SecuritySettings]()
#: Metric key prefix a built-in item records, so the controller knows which families ran.
METRIC_PREFIX = "security:"


def security_settings(config: pytest.Config, settings: Settings) -> SecuritySettings:
    """The security settings of this run (policy + ``--staging-source``), resolved once."""
    cached = config.stash.get(SECURITY_KEY, None)
    if cached is not None:
        return cached
    base = policy_dir(settings.policy.source, Path(config.rootpath))
    resolved = from_section(settings.policy.section("security"))
    # --staging-source (relative to where pytest started) > policy (relative to its file).
    given = setting(config, "source", policy=settings.policy).value
    source = str((Path(config.invocation_params.dir) / given).resolve()) if given else ""
    baseline = str((base / resolved.bandit_baseline).resolve()) if resolved.bandit_baseline \
        else ""
    result = SecuritySettings(**{**resolved.__dict__, "bandit_source": source,
                                 "bandit_baseline": baseline})
    config.stash[SECURITY_KEY] = result
    return result


def check_session(settings: Settings, trace: Trace | None = None) -> requests.Session:
    """A plain session sending what the ``staging`` client sends: TLS trust, extra headers,
    the staging URL's query parameters (URL credentials ride on the URL itself) and the test's
    trace context. No retries: a probe that fails must be seen, not retried into a pass."""
    session = DeadlineSession(trace=trace)
    session.verify = settings.verify
    session.headers.update(dict(settings.headers))
    session.params = dict(getattr(settings, "params", ()) or ())
    return session


class SecurityFailure(Exception):
    """Fail-level findings in a built-in check: the message lists them, one per line."""


class SecurityItem(pytest.Item):
    """One built-in security check family (or the bandit scan) as a test item."""

    def __init__(self, *, family: str, settings: Settings, advisory: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.family = family
        self.settings = settings
        self.add_marker(pytest.mark.security)
        if advisory:  # [security] builtin_blocking = false: reports, never blocks
            self.add_marker(pytest.mark.advisory)

    def runtest(self) -> None:
        config = self.config
        sec = security_settings(config, self.settings)
        if self.family == "bandit":
            findings, checks, notes, metrics = self._bandit(sec)
        else:
            findings, checks, notes, metrics = self._http(sec)
        record(self, findings=findings, checks=checks, warnings=notes, metrics=metrics)
        failed = [f for f in findings if f.get("level") == "fail"]
        if failed:
            rules = ", ".join(dict.fromkeys(str(f["rule"]) for f in failed))
            lines = [describe(f) for f in failed]
            lines.append(f"{len(failed)} fail-level finding(s): {rules}")
            raise SecurityFailure("\n".join(lines))

    def _http(self, sec: SecuritySettings) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                    list[str], dict[str, Any]]:
        url = self.settings.url
        if self.family == "transport" and urlsplit(url).scheme != "https":
            pytest.skip("target is plain HTTP: no TLS to check")
        with check_session(self.settings, trace_of(self)) as session, \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # InsecureRequestWarning under --staging-insecure
            findings = run_family(self.family, session, url, sec)
        for item in findings:
            item["origin"] = "builtin"
        checks, notes = judge(self.family, findings)
        counts = {level: sum(1 for f in findings if f["level"] == level)
                  for level in ("fail", "warn", "info", "ignore")}
        return findings, checks, notes, {f"{METRIC_PREFIX}{self.family}": counts}

    def _bandit(self, sec: SecuritySettings) -> tuple[list[dict[str, Any]],
                                                      list[dict[str, Any]], list[str],
                                                      dict[str, Any]]:
        result = run_bandit(sec.bandit_source, severity=sec.bandit_severity,
                            confidence=sec.bandit_confidence,
                            baseline=sec.bandit_baseline or None, exclude=sec.bandit_exclude,
                            root=self.config.rootpath)
        findings = apply_levels(result.findings, sec.rules)
        for item in findings:
            item["origin"] = "bandit"
        checks, notes = judge("bandit", findings)
        if result.skipped:
            notes.append(f"security: bandit could not parse {len(result.skipped)} file(s): "
                         f"{'; '.join(result.skipped[:3])}")
        metrics = {f"{METRIC_PREFIX}bandit": {
            "files": result.files, "baselined": result.baselined,
            "findings": len(findings), "version": result.version}}
        return findings, checks, notes, metrics

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, (SecurityFailure, SecurityCheckError, BanditError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{NODE_PREFIX}::{self.family}"


class SecurityCollection:
    """Adds the built-in items at collection (registered when the security gate runs)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        sec = security_settings(config, self.settings)
        families: list[str] = [f for f in HTTP_FAMILIES if f in sec.builtin]
        if sec.bandit_source:
            families.append("bandit")
        from pytest_staging.items import add_builtin_items

        add_builtin_items(session, items, [SecurityItem.from_parent(
            session, name=family, nodeid=f"{NODE_PREFIX}::{family}", family=family,
            settings=self.settings,
            advisory=family != "bandit" and not sec.builtin_blocking) for family in families])


def register(config: pytest.Config, settings: Settings) -> None:
    """Register the built-in items when the security gate is selected (collecting process)."""
    if GATE not in settings.gates_selected:
        return
    try:
        security_settings(config, settings)
    except ValueError as exc:
        raise pytest.UsageError(f"pytest-staging: {exc}") from None
    config.pluginmanager.register(SecurityCollection(settings), "staging-security")


def finalize(gate_data: dict[str, dict[str, Any]], sec: SecuritySettings) -> None:
    """On the controller, before the verdict: the grade, counts by level, the min_grade check.

    The grade covers the built-in passive HTTP findings; it exists only when at least one
    built-in HTTP family ran. With a ``min_grade`` and no passive check run, the grade cannot
    be judged: a failed blocking check (fail closed).
    """
    data = gate_data.setdefault(GATE, {})
    if "grade" in data:
        return
    findings = list(data.get("findings", []))
    ran = [k for k in data.get("metrics", {}) if k.startswith(METRIC_PREFIX)
           and k != f"{METRIC_PREFIX}bandit"]
    builtin = [f for f in findings if f.get("origin") == "builtin"]
    summary = gate_summary(builtin, sec.min_grade)
    summary["counts"] = gate_summary(findings)["counts"]
    # min_grade is judged with the policy's accepted risks excluded; both grades are shown.
    http = [f for f in builtin if f.get("family") in HTTP_FAMILIES]
    judged = grade_excluding_accepted(http)
    if judged["accepted"]:
        summary["excluding_accepted"] = judged
        summary["meets_min_grade"] = grading.meets(judged["grade"], sec.min_grade or None)
    if not ran:
        summary.update(score=None, grade=None, meets_min_grade=not sec.min_grade)
    if not ran and not findings and not sec.min_grade:
        return
    data["grade"] = summary
    if sec.min_grade:
        if ran:
            check = grade_check(summary)
        else:
            check = {"name": "grade", "passed": False, "blocking": True,
                     "detail": f"no passive HTTP check ran, so minimum grade "
                               f"{sec.min_grade} cannot be judged", "inconclusive": True}
        data.setdefault("checks", []).append(check)


def make_scanner(node: Any, settings: Settings, sec: SecuritySettings
                 ) -> Callable[..., list[dict[str, Any]]]:
    """The callable behind the ``staging_scan`` fixture."""

    def staging_scan(target: str | requests.Response = "",
                     families: Sequence[str] = ("headers", "cookies")) -> list[dict[str, Any]]:
        unknown = [f for f in families if f not in HTTP_FAMILIES]
        if unknown:
            raise ValueError(f"staging_scan: unknown check family {unknown[0]!r} "
                             f"(known: {', '.join(HTTP_FAMILIES)})")
        with check_session(settings, trace_of(node)) as session, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            where = target if isinstance(target, requests.Response) \
                else urljoin(settings.url, str(target).lstrip("/"))
            found = scan(session, where, sec, families=families)
        for item in found:
            item["origin"] = "staging_scan"
        record(node, findings=found)
        return found

    return staging_scan
