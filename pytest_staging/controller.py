"""The controller: target checks once per run, aggregation of every report, the verdict.

Runs in the only process of a serial run, or in the xdist controller. Every hook body runs
under ``guard()``: an exception in this machinery becomes a NO-GO reason, never a GO and never
a bare traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from pytest_staging import __version__, promotion
from pytest_staging import record as gate_record
from pytest_staging.gates.security import gate as security_gate
from pytest_staging.items import one_line
from pytest_staging.redact import Redactor, redact_data, strip_credentials
from pytest_staging.reports.atomic import atomic_write_text
from pytest_staging.reports.json_report import render_json
from pytest_staging.reports.markdown import render_markdown
from pytest_staging.reports.sarif import write_sarif
from pytest_staging.reports.terminal import render_terminal
from pytest_staging.settings import Settings
from pytest_staging.target import fetch_version, is_sensitive, off_target, wait_ready
from pytest_staging.verdict import (
    GateSpec,
    RunFacts,
    TargetFacts,
    TestRecord,
    decide,
    placeholder,
)

STALE_FILES = ("verdict.html", "findings.sarif")
SUMMARY_EXIT_CODES = (0, 1, 2, 4, 5)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def write_placeholder(report_dir: Path, reason: str, redactor: Redactor, **fields: Any) -> None:
    """Replace any earlier verdict with a NO-GO, so a crash never leaves a stale GO behind."""
    verdict = placeholder(reason, **fields)
    atomic_write_text(report_dir / "verdict.json", redactor.text(render_json(verdict)))
    atomic_write_text(report_dir / "verdict.md", redactor.text(render_markdown(verdict)))
    for name in STALE_FILES:
        with contextlib.suppress(FileNotFoundError):
            (report_dir / name).unlink()


class Controller:
    """Session-level hooks of an active run, on the process that decides the verdict."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.redactor = settings.redactor()
        self.run_id = uuid.uuid4().hex
        self.started = _now()
        self.t0 = time.monotonic()
        self.target = TargetFacts(url=strip_credentials(self.redactor.url(settings.url)),
                                  expected_version=settings.expect_version)
        self.tests: dict[str, TestRecord] = {}
        self.reran: set[str] = set()
        self.gate_data: dict[str, dict[str, Any]] = {}
        self.collection_errors: list[str] = []
        self.plugin_errors: list[str] = []
        self.workers_lost: list[str] = []
        self.workers = 0
        self.interrupted = ""
        self.internal_error = ""
        self.destructive_skipped: list[str] = []
        self.verdict: dict[str, Any] | None = None
        self.written = False
        self.late_errors: list[str] = []
        self._sigterm: Any = None
        self.sigterm_seen = False

    # -- machinery -------------------------------------------------------------------------
    @contextlib.contextmanager
    def guard(self, where: str) -> Iterator[None]:
        """Turn an exception in our own code into a NO-GO reason."""
        try:
            yield
        except Exception as exc:
            self.plugin_errors.append(
                self.redactor.text(f"{where}: {type(exc).__name__}: {exc}".splitlines()[0]))

    def start(self) -> None:
        """At configure: the NO-GO placeholder and the SIGTERM handler."""
        write_placeholder(self.settings.report_dir, "run in progress (no verdict yet)",
                          self.redactor, run_id=self.run_id, started=self.started,
                          url=self.target.url)
        if sys.platform != "win32" and _is_main_thread():
            self._sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.sigterm_seen = True
        raise KeyboardInterrupt("SIGTERM")

    # -- session start: the target, once ---------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        with self.guard("target check"):
            self.check_target()

    def check_target(self) -> None:
        policy = self.settings.policy
        headers = dict(self.settings.headers)
        readiness = wait_ready(
            self.settings.url, policy["target.health"], wait=policy["target.wait"],
            interval=policy["target.interval"], verify=self.settings.verify, headers=headers,
            params=dict(self.settings.params), redactor=self.redactor)
        self.target.reachable = readiness.reachable
        self.target.ready = readiness.ready
        self.target.ready_after = round(readiness.elapsed, 3) if readiness.ready else None
        self.target.not_ready_reason = readiness.reason
        self.target.redirects = readiness.redirects
        self.target.off_target = off_target(self.settings.url, readiness.final_url)
        self.target.sensitive = is_sensitive(
            policy["target.sensitive_url"],
            [self.settings.url, *readiness.redirects, readiness.final_url])
        if readiness.ready and self.wants_version():
            self.target.version_start, self.target.version_error = self.observe_version()

    def wants_version(self) -> bool:
        policy = self.settings.policy
        return self.settings.expect_version is not None or any(
            policy.is_set(k) for k in ("target.version", "target.version_field",
                                       "target.version_header"))

    def observe_version(self) -> tuple[str | None, str]:
        policy = self.settings.policy
        return fetch_version(
            self.settings.url, policy["target.version"], field_name=policy["target.version_field"],
            header=policy["target.version_header"], verify=self.settings.verify,
            headers=dict(self.settings.headers), params=dict(self.settings.params),
            timeout=policy["target.timeout"])

    def blocked(self) -> str:
        """Why no test may run: the target is not ready, or our own checks broke."""
        if not self.target.ready:
            return self.target.not_ready_reason or "target not ready"
        if self.target.off_target:
            return self.target.off_target
        return "; ".join(self.plugin_errors)

    # -- aggregation -----------------------------------------------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            with self.guard("collection report"):
                where = report.nodeid or "(rootdir)"
                self.collection_errors.append(
                    self.redactor.text(f"{where}: {one_line(report)}"))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        with self.guard("test report"):
            self.add_report(report)

    def add_report(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        broken = getattr(report, "staging_plugin_error", None)
        if broken:
            self.plugin_errors.append(str(broken))
        test = self.tests.get(nodeid)
        if test is None:
            gate = getattr(report, "staging_gate", None) or self.settings.policy.default_gate
            test = TestRecord(nodeid=nodeid, gate=gate,
                              blocking=bool(getattr(report, "staging_blocking", True)))
            self.tests[nodeid] = test
        if report.outcome == "rerun":
            # The attempt is discarded, and with it the checks and metrics it recorded: a test
            # that passes on retry is judged by the flaky policy, not by its failed attempt.
            self.reran.add(nodeid)
            test.outcome, test.message, test.evidence = "passed", "", []
            return
        data = getattr(report, gate_record.REPORT_ATTR, None)
        if data:
            gate_record.merge(self.gate_data.setdefault(test.gate, {}), data, nodeid)
        test.duration += float(report.duration or 0.0)
        evidence = getattr(report, "staging_evidence", None)
        if evidence:
            test.evidence = list(evidence)
        xfail = hasattr(report, "wasxfail")
        if report.when == "setup":
            if report.failed:
                test.outcome, test.message = "error", one_line(report)
            elif report.skipped:
                test.outcome = "xfailed" if xfail else "skipped"
                if getattr(report, "staging_destructive", False):
                    self.destructive_skipped.append(nodeid)
        elif report.when == "call":
            if report.failed:
                test.outcome, test.message = "failed", one_line(report)
            elif report.skipped:
                test.outcome = "xfailed" if xfail else "skipped"
            else:
                test.outcome = "passed"
        elif report.failed and test.outcome in ("passed", "skipped", "xfailed"):
            test.outcome, test.message = "error", f"teardown: {one_line(report)}"
        test.flaky = nodeid in self.reran and test.outcome == "passed"

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if isinstance(excinfo.value, pytest.exit.Exception):
            # pytest.exit() reaches this hook too; "Ctrl-C" would send people looking wrongly.
            message = str(excinfo.value.msg).strip().splitlines() or [""]
            self.interrupted = self.redactor.text(f"pytest.exit(): {message[0]}")[:300]
            return
        if isinstance(excinfo.value, pytest.Session.Interrupted) and not self.sigterm_seen:
            # pytest stopping itself ("1 error during collection"), not a Ctrl-C: the
            # collection errors are the reasons already.
            if not self.collection_errors:
                self.interrupted = self.redactor.text(f"pytest: {excinfo.value}")[:300]
            return
        self.interrupted = "SIGTERM" if self.sigterm_seen else "KeyboardInterrupt (Ctrl-C)"

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        with self.guard("internal error report"):
            text = str(getattr(excinfo, "value", "") or excrepr).strip().splitlines()
            self.internal_error = self.redactor.text((text or ["unknown"])[-1])[:300]

    # -- the end ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        status = int(exitstatus)
        stopped = session.shouldfail or session.shouldstop
        if stopped and not self.interrupted:
            # -x / --maxfail: the tests after the stop never ran, so no gate is complete.
            self.interrupted = self.redactor.text(f"pytest stopped early: {stopped}")[:300]
        try:
            with self.guard("version check at end"):
                if self.target.ready and self.wants_version():
                    end, error = self.observe_version()
                    self.target.version_end = end
                    self.target.version_error = self.target.version_error or error
            self.verdict = self.conclude(status, complete=True)
            self.write(self.verdict)
        except Exception as exc:  # whatever broke, the verdict is NO-GO
            reason = self.redactor.text(
                f"pytest-staging could not write its verdict: {type(exc).__name__}: {exc}")
            self.verdict = placeholder(reason.splitlines()[0], run_id=self.run_id,
                                       started=self.started, url=self.target.url,
                                       exit_status=status)
            with contextlib.suppress(Exception):
                write_placeholder(self.settings.report_dir, self.verdict["reasons"][0],
                                  self.redactor, run_id=self.run_id, started=self.started,
                                  url=self.target.url)
        go = self.verdict["verdict"] == "GO"
        session.exitstatus = 0 if go else (status if status in (2, 3, 4) else 1)
        if status not in SUMMARY_EXIT_CODES:
            self.print_summary(self.config.pluginmanager.get_plugin("terminalreporter"))

    def conclude(self, exit_status: int, *, complete: bool) -> dict[str, Any]:
        """Decide; if deciding itself fails, a NO-GO that says so."""
        if "security" in self.settings.gates_selected:
            with self.guard("security grade"):
                security_gate.finalize(self.gate_data, security_gate.security_settings(
                    self.config, self.settings))
        try:
            verdict = decide(self.facts(exit_status, complete))
            if not self.redactor.secrets:  # every string would come back unchanged
                return verdict
            return redact_data(verdict, self.redactor)  # type: ignore[return-value]
        except Exception as exc:
            reason = f"pytest-staging could not decide: {type(exc).__name__}: {exc}"
            return placeholder(self.redactor.text(reason), run_id=self.run_id,
                               started=self.started, url=self.target.url,
                               exit_status=exit_status)

    def facts(self, exit_status: int, complete: bool) -> RunFacts:
        policy = self.settings.policy
        gates = [GateSpec(name=g.name, blocking=g.blocking, min_tests=g.min_tests,
                          description=g.description)
                 for g in policy.gates.values() if g.name in self.settings.gates_selected]
        return RunFacts(
            run_id=self.run_id,
            started=self.started,
            finished=_now(),
            duration=time.monotonic() - self.t0,
            exit_status=exit_status,
            complete=complete and not self.interrupted,
            interrupted=self.interrupted,
            internal_error=self.internal_error or (
                "pytest reported an internal error" if exit_status == 3 else ""),
            plugin_errors=list(self.plugin_errors),
            collection_errors=list(self.collection_errors),
            workers=self.workers,
            workers_lost=list(self.workers_lost),
            target=self.target,
            gates=gates,
            tests=list(self.tests.values()),
            gate_data=self.gate_data,
            flaky_policy=policy["flaky.policy"],
            destructive_skipped=list(self.destructive_skipped),
            allow_destructive=self.settings.allow_destructive,
            insecure=self.settings.insecure,
            fail_on=self.settings.fail_on,
            versions={
                "python": sys.version.split()[0],
                "pytest": pytest.__version__,
                "pytest_staging": __version__,
                "xdist": _version("pytest-xdist"),
                "bandit": _version("bandit"),
                "locust": _version("locust"),
            },
        )

    def write(self, verdict: dict[str, Any]) -> None:
        """Write every report; a failure to write leaves (or makes) a NO-GO."""
        report_dir = self.settings.report_dir
        try:
            write_sarif(verdict, report_dir)
        except Exception as exc:
            verdict["verdict"] = "NO-GO"
            verdict["reasons"].append(f"cannot write findings.sarif: {type(exc).__name__}: {exc}")
        try:
            # html and signature first: either may still turn the verdict into a NO-GO.
            json_text, html = promotion.render_outputs(
                verdict, self.redactor.text, promotion.signing_key(self.config))
            markdown = self.redactor.text(render_markdown(verdict))
            atomic_write_text(report_dir / "verdict.md", markdown)
            if html is not None:
                atomic_write_text(report_dir / "verdict.html", html)
            # verdict.json last: its presence with a decision means every report is in place.
            atomic_write_text(report_dir / "verdict.json", json_text)
            self.written = True
        except OSError as exc:
            verdict["verdict"] = "NO-GO"
            verdict["reasons"].append(f"cannot write the verdict to {report_dir}: {exc.strerror}")
            return
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with contextlib.suppress(OSError), open(summary, "a", encoding="utf-8") as handle:
                handle.write(self.redactor.text(render_markdown(verdict)) + "\n")
        before = len(self.plugin_errors)
        with self.guard("pytest_staging_verdict hook"):
            self.config.hook.pytest_staging_verdict(config=self.config, verdict=verdict)
        # The verdict is written and stands; a failing notifier must still be seen.
        self.late_errors = self.plugin_errors[before:]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        self.print_summary(terminalreporter)

    def print_summary(self, terminalreporter: Any) -> None:
        if terminalreporter is None or self.verdict is None:
            return
        terminalreporter.write_sep("=", "staging verdict", bold=True)
        path = str(self.settings.report_dir / "verdict.json") if self.written else ""
        try:
            lines = render_terminal(self.verdict, path)
        except Exception as exc:  # the file is written; say the essentials
            lines = [(f"{self.verdict['verdict']} (summary unavailable: {exc})", {"bold": True}),
                     *[(f"  - {r}", {}) for r in self.verdict["reasons"]]]
        for text, markup in lines:
            terminalreporter.write_line(self.redactor.text(text), **markup)
        for error in self.late_errors:
            terminalreporter.write_line(f"  ! after the verdict: {error}", yellow=True)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        gates = ", ".join(self.settings.gates_selected)
        return [f"staging: {self.target.url} (from {self.settings.url_source}); gates: {gates}; "
                f"report: {self.settings.report_dir}"]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._sigterm is not None and _is_main_thread():
            signal.signal(signal.SIGTERM, self._sigterm)
        if self.verdict is None:
            # The session never reached its end (pytest.exit, a crash in start-up, ...).
            with contextlib.suppress(OSError):
                write_placeholder(self.settings.report_dir,
                                  "the run ended before a verdict was reached", self.redactor,
                                  run_id=self.run_id, started=self.started, url=self.target.url)


class XdistControllerHooks:
    """xdist-only hooks, registered only when xdist is active (so -p no:xdist keeps working)."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["staging_url"] = self.controller.settings.full_url
        node.workerinput["staging_sensitive"] = self.controller.target.sensitive
        node.workerinput["staging_blocked"] = self.controller.blocked()

    def pytest_testnodeready(self, node: Any) -> None:
        self.controller.workers += 1

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        if error:
            name = getattr(getattr(node, "gateway", None), "id", "worker")
            text = str(error).strip().splitlines() or ["crashed"]
            self.controller.workers_lost.append(
                self.controller.redactor.text(f"{name}: {text[-1]}"))


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
