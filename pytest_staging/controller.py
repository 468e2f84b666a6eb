"""The controller: target checks once per run, aggregation of every report, the verdict.

Runs in the only process of a serial run, or in the xdist controller. Every hook body runs
under ``guard()``: an exception in this machinery becomes a NO-GO reason, never a GO and never
a bare traceback.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import pytest

from pytest_staging import (
    __version__,
    attestation_glue,
    declared_suite,
    exit_codes,
    lost_interrupts,
    promotion,
    shard_hooks,
    trace_glue,
    verdict_outputs,
    worker_stops,
)
from pytest_staging import record as gate_record
from pytest_staging.failure_text import failure_message
from pytest_staging.gate_assignment import assigned
from pytest_staging.items import NOT_RUN_KEY, skip_entry
from pytest_staging.outcomes import OutcomeBook, PhaseReport
from pytest_staging.printable import one_line
from pytest_staging.quarantine import quarantine_facts
from pytest_staging.redact import redact_data
from pytest_staging.reports.terminal import render_terminal
from pytest_staging.run_setup import no_test_mode
from pytest_staging.selection import filters_of, selection
from pytest_staging.settings import Settings, setting
from pytest_staging.stale import (
    MAIN_KEY,
    RUN_ID_KEY,
    remove_verdict,
    verdict_run_id,
    write_placeholder,
)
from pytest_staging.target import fetch_version, is_sensitive, off_target, wait_ready
from pytest_staging.trace_context import RUN_TRACE_NAME
from pytest_staging.verdict import (
    GateSpec,
    RunFacts,
    TargetFacts,
    TestRecord,
    decide,
    placeholder,
)
from pytest_staging.wire import payload_of

SUMMARY_EXIT_CODES = (0, 1, 2, 4, 5)
#: Signals that end a run early; each is recorded the moment it arrives, whatever the phase.
HANDLED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class Controller:
    """Session-level hooks of an active run, on the process that decides the verdict."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.redactor = settings.redactor()
        # The run id was made when the plugin first saw this invocation (its placeholder).
        self.run_id = config.stash.get(RUN_ID_KEY, "") or uuid.uuid4().hex
        self.started = _now()
        self.t0 = time.monotonic()
        self.target = TargetFacts(url=settings.public_url(),
                                  expected_version=settings.expect_version)
        self.book = OutcomeBook()
        #: Per node id: gate, blocking flag, evidence of the last failure.
        self.meta: dict[str, dict[str, Any]] = {}
        self.gate_data: dict[str, dict[str, Any]] = {}
        self.collection_errors: list[str] = []
        self.plugin_errors: list[str] = []
        self.workers_lost: list[str] = []
        self.workers = 0
        self.interrupted = ""
        #: pytest.exit() stopped the run: interrupted (exit 2) whatever returncode it gave.
        self.stopped_by_exit = False
        self.internal_error = ""
        self.destructive_skipped: list[str] = []
        self.verdict: dict[str, Any] | None = None
        self.written = False
        self.late_errors: list[str] = []
        self._previous_handlers: dict[int, Any] = {}
        #: Every signal received, by name, whenever it came.
        self.signals: list[str] = []
        #: KeyboardInterrupts Python ignored in the workers' finalizers (``lost_interrupts``).
        self.workers_lost_interrupts: list[str] = []
        #: While the verdict is decided and written a signal is recorded, not raised: the
        #: decision is then made again with it, so it can only turn the verdict into NO-GO.
        self.deferring = False
        self.decided_with = (0, "")  # (signals, internal error) the verdict on disk knows
        self.decided_lost = 0  # and the KeyboardInterrupts Python ignored (lost_interrupts)
        self.output_errors: list[str] = []
        self.exit_status = 0
        #: The exit status this controller gave ``session.exitstatus`` (None: not yet).
        self.session_exit: int | None = None
        self.session_started = False
        self.deselected = 0
        self.collected = 0
        #: Collected items that vanished without pytest_deselected (a conftest's doing).
        self.dropped = 0
        self.deselected_examples: list[str] = []
        self.workers_deselected = 0
        self.workers_dropped = 0
        #: The history store of the run (``--staging-history``), or None.
        self.history: Any = None
        if setting(config, "history", policy=settings.policy).value:
            from pytest_staging.history.glue import for_run

            self.history = for_run(config, settings)
        #: Collected tests a blocked run did not start (workers' count under xdist).
        self.workers_not_run = 0
        #: Per node id: modules (or folders) skipped at collection, with gate and reason.
        self.collection_skipped: dict[str, dict[str, Any]] = {}

    # -- machinery -------------------------------------------------------------------------
    @contextlib.contextmanager
    def guard(self, where: str) -> Iterator[None]:
        """Turn an exception in our own code into a NO-GO reason."""
        try:
            yield
        except Exception as exc:
            self.plugin_error(where, exc)

    def plugin_error(self, where: str, exc: Exception) -> None:
        """An exception in our own code, as a NO-GO reason."""
        self.plugin_errors.append(
            self.redactor.text(f"{where}: {type(exc).__name__}: {exc}".splitlines()[0]))

    def start(self) -> None:
        """At configure: the NO-GO placeholder and the SIGTERM handler."""
        write_placeholder(self.settings.report_dir, "run in progress (no verdict yet)",
                          self.redactor, run_id=self.run_id, started=self.started,
                          url=self.target.url)
        if _is_main_thread():
            for name in HANDLED_SIGNALS:
                signum = getattr(signal, name, None)
                # A signal the run was started to ignore (nohup, `cmd &` in a script) stays
                # ignored: it interrupts nothing, whenever it comes. Caught only from here
                # on, it would be lost before this point and a NO-GO after it.
                if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        self.signals.append(name)
        # The first signal stops the run; a second one close behind must not break pytest's
        # own handling of the first (a traceback, a skipped summary); a third one insists.
        if not self.deferring and len(self.signals) in (1, 3):
            raise KeyboardInterrupt(name)
        if len(self.signals) >= 2:
            # Someone insists: make sure a NO-GO is on disk before a SIGKILL may follow.
            with contextlib.suppress(Exception):
                write_placeholder(self.settings.report_dir, f"run interrupted by {name}",
                                  self.redactor, run_id=self.run_id, started=self.started,
                                  url=self.target.url, exit_status=2)

    def restore_signals(self) -> None:
        if not _is_main_thread():
            return
        for signum, previous in self._previous_handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, previous)
        self._previous_handlers.clear()

    def hand_over_signals(self, code: int, *, command_line: bool) -> int:
        """The end of ``pytest_cmdline_main``: the exit status ``code`` is settled. A signal
        from here on must not leave the verdict and the exit status apart (a GO file beside
        the 143 of a SIGTERM, or a KeyboardInterrupt traceback after a GO).

        In a process pytest runs from the command line nothing but its exit follows (and
        interpreter shutdown: atexit, a test's non-daemon thread, where a CI timeout's
        SIGTERM lands): ``LateSignal`` handlers stay until the process ends. An embedding
        program (``pytest.main()``, pytester) gets its own handlers back. Either way a signal
        recorded before the switch is decided on here. Returns the exit status."""
        if self.verdict is None or not _is_main_thread():
            self.restore_signals()
            return code
        late = None
        if command_line:
            late = LateSignal(self, code)
            for signum in self._previous_handlers:
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(signum, late)
            self._previous_handlers.clear()
        else:
            self.restore_signals()
        if len(self.signals) != self.decided_with[0]:
            # Came after the last decision, before the switch: it was only recorded.
            self.finish(exit_codes.INTERRUPTED)
            code = self.exit_code(exit_codes.INTERRUPTED)
            if late is not None:
                late.code = code
                late.go = (self.verdict or {}).get("verdict") == "GO"
        return code

    def escaped(self, exc: BaseException, status: int = exit_codes.COULD_NOT_JUDGE) -> int:
        """An exception that left pytest's own session handling (a conftest's or plugin's
        pytest_sessionfinish / pytest_unconfigure raising, SystemExit and KeyboardInterrupt
        too): a fact like any other. Decide with it, say it in one line, and return the exit
        status rather than let Python print a traceback and pick a status of its own
        (``SystemExit(0)`` would exit 0 beside a NO-GO)."""
        self.deferring = True
        text = one_line(self.redactor.text(str(exc)), 200)
        what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        where = "after the verdict" if self.verdict is not None else "before the verdict"
        if isinstance(exc, KeyboardInterrupt):
            status = exit_codes.INTERRUPTED
            if not self.signals:
                self.interrupted = f"{what} raised by a plugin or conftest {where}"
        else:
            self.internal_error = f"{what} raised by a plugin or conftest {where}"
        self.finish(status)
        code = self.exit_code(status)
        verdict = self.verdict or {}
        reasons = verdict.get("reasons") or ["no verdict"]
        with contextlib.suppress(Exception):
            sys.stderr.write(f"pytest-staging: {verdict.get('verdict', 'NO-GO')}: "
                             f"{reasons[0]} (exit {code})\n")
        return code

    # -- session start: the target, once ---------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session_started = True
        with self.guard("target check"):
            self.check_target()

    def check_target(self) -> None:
        policy = self.settings.policy
        headers = dict(self.settings.headers)
        readiness = wait_ready(
            self.settings.url, policy["target.health"], wait=policy["target.wait"],
            interval=policy["target.interval"], verify=self.settings.verify, headers=headers,
            params=dict(self.settings.params), redactor=self.redactor,
            trace=trace_glue.run_trace(self.config))
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
            timeout=policy["target.timeout"], trace=trace_glue.run_trace(self.config))

    def blocked(self) -> str:
        """Why no test may run: the target is not ready, or our own checks broke."""
        if not self.target.ready:
            return self.target.not_ready_reason or "target not ready"
        if self.target.off_target:
            return self.target.off_target
        return "; ".join(self.plugin_errors)

    # -- aggregation -----------------------------------------------------------------------
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.collected += sum(1 for x in report.result if isinstance(x, pytest.Item))
        if report.failed:
            with self.guard("collection report"):
                where = report.nodeid or "(rootdir)"
                self.collection_errors.append(
                    self.redactor.text(f"{where}: {failure_message(report)}"))
        elif report.skipped:
            with self.guard("collection report"):
                self.add_collection_skip(skip_entry(report, self.settings.policy.default_gate))

    def add_collection_skip(self, entry: dict[str, Any]) -> None:
        """A module (or a folder, by its conftest) skipped at collection (``items.skip_entry``):
        its tests vanish from pytest's count, so it is kept as one skipped entry of its gate.
        From the serial run's reports, the xdist controller's (forwarded skipped collection
        reports) and the workers' own record of them (workeroutput)."""
        nodeid = str(entry.get("nodeid") or "(rootdir)")
        if entry.get("plugin_error") and entry["plugin_error"] not in self.plugin_errors:
            self.plugin_errors.append(str(entry["plugin_error"]))
        if nodeid in self.collection_skipped:
            return
        gate = str(entry.get("gate") or self.settings.policy.default_gate)
        if gate not in self.settings.gates_selected:
            return  # left out by --staging-gate with the rest of its gate
        prefixes = tuple(str(p) for p in getattr(self.config.option, "deselect", None) or [])
        if prefixes and any(f"{nodeid}{end}".startswith(prefixes) for end in ("", "::", "/")):
            return  # --deselect took all of it (the run says it is partial)
        self.collection_skipped[nodeid] = {
            "nodeid": nodeid, "gate": gate, "blocking": bool(entry.get("blocking", True)),
            "reason": one_line(self.redactor.text(str(entry.get("reason") or "skipped")), 300)}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # guard() inlined: three reports per test, a context manager each is measurable.
        try:
            self.add_report(report)
        except Exception as exc:
            self.plugin_error("test report", exc)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Serial run: every selected item is expected to reach a final outcome. (Under xdist
        the controller collects nothing; the workers' collections arrive through
        ``XdistControllerHooks``.)"""
        with self.guard("collection"):
            if self.collected:
                # Items a plugin or conftest removed without saying so (pytest_deselected);
                # those a blocked run did not start are neither dropped nor deselected, and
                # a shard's tests left to the other shards are neither.
                self.dropped = max(self.collected - self.deselected - self.not_run()
                                   - len(session.items) - shard_hooks.left_out(self.config), 0)
            default = self.settings.policy.default_gate
            expect, meta = self.book.expect, self.meta
            for item in session.items:
                nodeid = item.nodeid
                expect(nodeid)
                gate, blocking = assigned(item, default)
                meta.setdefault(nodeid, {"gate": gate, "blocking": blocking})

    def not_run(self) -> int:
        """Collected tests a blocked run did not start (the target was not ready)."""
        return max(self.config.stash.get(NOT_RUN_KEY, 0), self.workers_not_run)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        with self.guard("deselection"):
            self.deselected += len(items)
            room = 20 - len(self.deselected_examples)
            self.deselected_examples.extend(i.nodeid for i in items[:max(room, 0)])

    def add_report(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        payload = payload_of(report)
        meta = self.meta.get(nodeid)
        if payload is None:
            if meta is None:
                meta = self.meta[nodeid] = {"gate": self.settings.policy.default_gate,
                                            "blocking": True, "evidence": []}
        else:
            if payload.plugin_error:
                self.plugin_errors.append(payload.plugin_error)
            if meta is None or (payload.gate and (payload.gate != meta["gate"]
                                                  or payload.blocking != meta["blocking"])):
                meta = self.meta[nodeid] = {
                    "gate": payload.gate or (meta or {}).get("gate")
                    or self.settings.policy.default_gate,
                    "blocking": payload.blocking,
                    "evidence": (meta or {}).get("evidence", []),
                }
            rerun = report.outcome == "rerun"
            if payload.data and not rerun:
                # A discarded attempt's checks and metrics go with it: a test that passes on
                # retry is judged by the flaky policy, not by its failed attempt.
                gate_record.merge(self.gate_data.setdefault(meta["gate"], {}), payload.data,
                                  nodeid)
            if payload.evidence and not rerun:
                meta["evidence"] = list(payload.evidence)
            if (payload.destructive and report.when == "setup" and report.skipped
                    and nodeid not in self.destructive_skipped):
                self.destructive_skipped.append(nodeid)
        failed = report.outcome == "failed"
        self.book.add(PhaseReport(
            nodeid,
            str(report.when),
            str(report.outcome),
            # Under xdist each worker's attempts are kept apart (--dist each runs a test on
            # every worker; duplicates may run side by side).
            str(getattr(report, "worker_id", "") or ""),
            hasattr(report, "wasxfail"),
            failure_message(report) if failed else "",
            float(report.duration or 0.0),
        ))

    def test_records(self) -> list[TestRecord]:
        records = []
        default = self.settings.policy.default_gate
        for nodeid, book in self.book.tests.items():
            outcome, message, flaky = book.final(self.book.interrupted)
            meta = self.meta.get(nodeid, {})
            records.append(TestRecord(
                nodeid=nodeid, gate=meta.get("gate") or default, outcome=outcome,
                duration=book.duration, blocking=bool(meta.get("blocking", True)), flaky=flaky,
                message=message,
                evidence=list(meta.get("evidence", [])) if outcome in ("failed", "error") else [],
                trace_id=trace_glue.trace_id_for(self.config, nodeid)))
        for skip in self.collection_skipped.values():
            # One entry for the module's tests, which pytest never listed: not a pass.
            records.append(TestRecord(
                nodeid=skip["nodeid"], gate=skip["gate"], outcome="skipped",
                blocking=skip["blocking"], message=f"skipped at collection: {skip['reason']}"))
        return records

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest.exit(), Ctrl-C or a signal stop the run inside whatever test is running; a
        # Session.Interrupted (pytest stopping itself) comes between tests.
        self.book.interrupted = self.book.interrupted or not isinstance(
            excinfo.value, pytest.Session.Interrupted) or bool(self.signals)
        if isinstance(excinfo.value, pytest.exit.Exception):
            # pytest.exit() reaches this hook too; "Ctrl-C" would send people looking wrongly.
            message = str(excinfo.value.msg).strip().splitlines() or [""]
            self.interrupted = self.redactor.text(f"pytest.exit(): {message[0]}")[:300]
            self.stopped_by_exit = True
            return
        if isinstance(excinfo.value, pytest.Session.Interrupted) and not self.signals:
            # pytest stopping itself ("1 error during collection"), not a Ctrl-C: the
            # collection errors are the reasons already.
            if not self.collection_errors:
                self.interrupted = self.redactor.text(f"pytest: {excinfo.value}")[:300]
            return
        if not self.signals:
            # A KeyboardInterrupt that came without a signal we saw (raised by code, or a
            # signal handler someone else installed); or xdist stopping the run for a worker
            # whose cause is known already (its pytest.exit()).
            self.interrupted = self.interrupted or "KeyboardInterrupt (Ctrl-C, or raised by code)"

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        with self.guard("internal error report"):
            if self.internal_error:
                return  # the first one is the cause; what follows is its consequence
            if self.interrupted.startswith("pytest.exit() in worker"):
                return  # xdist's bookkeeping of a worker that stopped by pytest.exit()
            self.internal_error = self.redactor.text(internal_error_line(excinfo, excrepr))

    # -- the end ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # From here on a signal is recorded and decided on, never left half-handled.
        self.deferring = True
        self.exit_status = status = int(exitstatus)
        option = self.config.option
        listing = no_test_mode(self.config)
        if getattr(option, "setuponly", False) or getattr(option, "setupplan", False):
            self.interrupted = "--setup-only / --setup-plan: fixtures were set up, no test ran"
        elif listing:
            self.interrupted = f"{listing}: no test ran"
        stopped = session.shouldfail or session.shouldstop
        if stopped and not self.interrupted and not self.signals:
            # -x / --maxfail: the tests after the stop never ran, so no gate is complete.
            self.interrupted = self.redactor.text(f"pytest stopped early: {stopped}")[:300]
        with self.guard("version check at end"):
            if self.target.ready and self.wants_version():
                end, error = self.observe_version()
                self.target.version_end = end
                self.target.version_error = self.target.version_error or error
        self.finish(status)
        session.exitstatus = self.session_exit = self.exit_code(status)
        if status not in SUMMARY_EXIT_CODES:
            self.print_summary(self.config.pluginmanager.get_plugin("terminalreporter"))

    def finish(self, status: int) -> None:
        """Decide and write; again while facts keep arriving (a signal during the writing)."""
        for _ in range(4):
            known = (len(self.signals), self.internal_error)
            self.decided_lost = len(self.lost_interrupts())
            try:
                self.verdict = self.conclude(status)
                self.write(self.verdict)
            except Exception as exc:  # whatever broke, the verdict is NO-GO
                reason = self.redactor.text(
                    f"pytest-staging could not write its verdict: {type(exc).__name__}: {exc}")
                self.verdict = placeholder(reason.splitlines()[0], run_id=self.run_id,
                                           started=self.started, url=self.target.url,
                                           exit_status=status)
                try:
                    write_placeholder(self.settings.report_dir, self.verdict["reasons"][0],
                                      self.redactor, run_id=self.run_id, started=self.started,
                                      url=self.target.url)
                except Exception:
                    remove_verdict(self.settings.report_dir)
            self.decided_with = known
            if (len(self.signals), self.internal_error) == known:
                return

    def lost_interrupts(self) -> list[str]:
        """KeyboardInterrupts raised where Python could only ignore them (a finalizer), in
        this process and in the xdist workers."""
        return [*lost_interrupts.recorded(self.config), *self.workers_lost_interrupts]

    def exit_code(self, status: int) -> int:
        """0 if and only if the verdict on disk is GO; else by its judgement: 1 failed, and an
        inconclusive run keeps pytest's own 2 (interrupted), 3 (internal error) or 4 (usage
        error), else 3 (``exit_codes``)."""
        if self.verdict is not None and self.verdict.get("verdict") == "GO":
            return exit_codes.GO
        judgement = self.verdict.get("judgement") if self.verdict is not None else None
        return exit_codes.run_exit_code(
            judgement, status, bool(self.signals or self.lost_interrupts() or self.stopped_by_exit))

    def final_exit_status(self, pytest_status: int) -> int:
        """At the very end of the invocation (``pytest_cmdline_main``), whatever other plugins
        and conftests did to ``session.exitstatus``: a fact that came after the verdict (a
        signal, an internal error) is decided on, and the exit status follows the verdict."""
        self.deferring = True
        # pytest's 3 is an internal error, unless it is the 3 we set (could not judge).
        crashed = (pytest_status == exit_codes.COULD_NOT_JUDGE and not self.internal_error
                   and self.session_exit != exit_codes.COULD_NOT_JUDGE)
        lost = len(self.lost_interrupts()) != self.decided_lost  # in pytest's final gc
        if self.verdict is not None and (
                (len(self.signals), self.internal_error) != self.decided_with or crashed
                or lost):
            if crashed:
                self.internal_error = "pytest reported an internal error after the verdict"
            if self.internal_error:
                self.exit_status = exit_codes.COULD_NOT_JUDGE
            elif len(self.signals) != self.decided_with[0] or lost:
                self.exit_status = exit_codes.INTERRUPTED  # what pytest says of a signal
            self.finish(self.exit_status)
            junit = self.config.pluginmanager.get_plugin("staging-junit")
            if junit is not None:
                junit.annotate(self.config)
        if self.verdict is None:
            # --help: no session ran, a placeholder says so; pytest's own status. --markers
            # judged nothing either, and says so with its status.
            if no_test_mode(self.config) and int(pytest_status) in (0, 5):
                return exit_codes.COULD_NOT_JUDGE
            return int(pytest_status) if not self.session_started else (
                int(pytest_status) or exit_codes.COULD_NOT_JUDGE)
        return self.exit_code(self.exit_status)

    def conclude(self, exit_status: int) -> dict[str, Any]:
        """Decide; if deciding itself fails, a NO-GO that says so."""
        # Each gate's module only when the gate takes part (its imports are not free). A
        # shard holds a slice of the findings and operations: grade and coverage are judged
        # on the merge (pytest-staging merge), over all of them.
        sharded = shard_hooks.of(self.config) is not None
        if "security" in self.settings.gates_selected and not sharded:
            with self.guard("security grade"):
                from pytest_staging.gates.security import gate as security_gate

                security_gate.finalize(self.gate_data, security_gate.security_settings(
                    self.config, self.settings))
        if "parity" in self.settings.gates_selected:
            with self.guard("parity target"):
                from pytest_staging.gates.parity import gate as parity_gate

                parity_gate.finalize(self.config, self.settings, self.gate_data)
        if "contract" in self.settings.gates_selected and not sharded:
            with self.guard("contract coverage"):
                from pytest_staging.gates.contract import gate as contract_gate

                contract_gate.finalize(self.config, self.settings, self.gate_data)
        try:
            verdict = decide(self.facts(exit_status))
            if not self.redactor.secrets:  # every string would come back unchanged
                return verdict
            return redact_data(verdict, self.redactor)  # type: ignore[return-value]
        except Exception as exc:
            reason = f"pytest-staging could not decide: {type(exc).__name__}: {exc}"
            return placeholder(self.redactor.text(reason), run_id=self.run_id,
                               started=self.started, url=self.target.url,
                               exit_status=exit_status)

    def selection(self) -> dict[str, Any]:
        option = self.config.option
        options = {name: getattr(option, name, None)
                   for name in ("keyword", "markexpr", "lf", "stepwise", "deselect")}
        policy = self.settings.policy
        filters = filters_of(options, [str(a) for a in self.config.args])
        with self.guard("declared suite"):
            filters.extend(declared_suite.left_out(self.config, policy))
        dropped = max(self.dropped, self.workers_dropped)
        if dropped:
            filters.append(f"{dropped} collected test(s) dropped by a plugin or conftest")
        return selection(
            filters=filters,
            deselected=max(self.deselected, self.workers_deselected) + dropped,
            examples=self.deselected_examples,
            not_run=self.not_run(),
            collection_skipped=list(self.collection_skipped.values()),
            gates_selected=list(self.settings.gates_selected),
            gates_declared=list(policy.gates),
            gates_blocking=[g.name for g in policy.gates.values() if g.blocking])

    def facts(self, exit_status: int) -> RunFacts:
        policy = self.settings.policy
        tests = self.test_records()
        gates = [GateSpec(name=g.name, blocking=g.blocking, min_tests=g.min_tests,
                          description=g.description, max_skipped=g.max_skipped)
                 for g in policy.gates.values() if g.name in self.settings.gates_selected]
        facts = RunFacts(
            run_id=self.run_id,
            started=self.started,
            finished=_now(),
            duration=time.monotonic() - self.t0,
            exit_status=exit_status,
            complete=not (self.interrupted or self.signals or self.lost_interrupts()),
            interrupted=self.interrupted or self.redactor.text(
                "; ".join(self.lost_interrupts()[:2])),
            signals=list(self.signals),
            internal_error=self.internal_error or (
                "pytest reported an internal error" if exit_status == 3 else ""),
            output_errors=list(self.output_errors),
            plugin_errors=list(self.plugin_errors),
            collection_errors=list(self.collection_errors),
            workers=self.workers,
            workers_lost=_grouped(self.workers_lost),
            target=self.target,
            gates=gates,
            tests=tests,
            gate_data=self.gate_data,
            flaky_policy=policy["flaky.policy"],
            destructive_skipped=list(self.destructive_skipped),
            allow_destructive=self.settings.allow_destructive,
            insecure=self.settings.insecure,
            selection=self.selection(),
            fail_on=self.settings.fail_on,
            versions={
                "python": sys.version.split()[0],
                "pytest": pytest.__version__,
                "pytest_staging": __version__,
                "xdist": _version("pytest-xdist"),
                "bandit": _version("bandit"),
                "locust": _version("locust"),
                **({"schemathesis": _version("schemathesis")}
                   if "contract" in self.settings.policy.gates else {}),
            },
            provenance=attestation_glue.provenance(self.config, self),
            quarantine=quarantine_facts(policy["flaky.quarantine"]),
            history=self.history.facts(tests, self.target.version_start)
            if self.history is not None else {},
            trace_id=trace_glue.trace_id_for(self.config, RUN_TRACE_NAME),
            trace_url=policy["evidence.trace_url"],
        )
        shard = shard_hooks.of(self.config)
        if shard is not None:
            facts.shard = shard_hooks.record(shard, facts, policy.values)
        return facts

    def write(self, verdict: dict[str, Any]) -> None:
        """Render every report, then write them. A report that cannot be rendered or written,
        or another run writing to the same folder, is a fact: decide again with it."""
        report_dir = self.settings.report_dir
        owner = verdict_run_id(report_dir)
        if owner not in (None, self.run_id) and not self.output_errors:
            self.output_errors.append(
                f"another run ({owner or 'unknown'}) wrote to {report_dir} during this run: "
                "its verdict and this one cannot be told apart (use one report dir per run)")
            verdict = self.verdict = self.conclude(self.exit_status)
        for _ in range(2):
            # html and signature: a failure of either is reported as a reason on the verdict.
            rendered = verdict_outputs.render_reports(
                verdict, self.redactor.text, promotion.signing_key(self.config),
                attestation_glue.signing_key(self.config))
            new = [p for p in rendered.problems if p not in self.output_errors]
            if not new:
                break
            self.output_errors.extend(self.redactor.text(p) for p in new)
            verdict = self.verdict = self.conclude(self.exit_status)
        try:
            verdict_outputs.write_reports(report_dir, rendered)
            self.written = True
            if self.history is not None:
                self.history.record(verdict)
        except OSError as exc:
            self.output_errors.append(
                f"cannot write the verdict to {report_dir}: {exc.strerror or exc}")
            self.verdict = self.conclude(self.exit_status)
            # On failure write_placeholder removed the old files: no stale GO stays.
            with contextlib.suppress(OSError):
                write_placeholder(report_dir, self.verdict["reasons"][0], self.redactor,
                                  run_id=self.run_id, started=self.started, url=self.target.url)
            return
        markdown = rendered.reports["verdict.md"]
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary and markdown is not None:
            with contextlib.suppress(OSError), open(summary, "a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        before_errors = len(self.plugin_errors)
        hook = self.config.hook.pytest_staging_verdict
        if hook.get_hookimpls():  # the copy below costs a deep walk of every test's entry
            with self.guard("pytest_staging_verdict hook"):
                # A copy: a notifier that edits what it is given changes neither the files nor
                # the exit status.
                hook(config=self.config, verdict=copy.deepcopy(verdict))
        # The verdict is written and stands; a failing notifier must still be seen.
        self.late_errors = self.plugin_errors[before_errors:]
        del self.plugin_errors[before_errors:]

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
        for problem in self.history.late if self.history is not None else ():
            terminalreporter.write_line(f"  ! {self.redactor.text(problem)}", yellow=True)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        gates = ", ".join(self.settings.gates_selected)
        return [f"staging: {self.target.url} (from {self.settings.url_source}); gates: {gates}; "
                f"report: {self.settings.report_dir}"]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.verdict is None and not self.session_started:
            # No session at all (--help, --markers, a crash in configure): no verdict.
            listing = no_test_mode(config)
            reason = (f"internal error: {self.internal_error}" if self.internal_error
                      else f"{listing}: no test ran" if listing else "no test session ran")
            with contextlib.suppress(OSError):
                write_placeholder(self.settings.report_dir, reason,
                                  self.redactor, run_id=self.run_id, started=self.started,
                                  url=self.target.url,
                                  exit_status=exit_codes.COULD_NOT_JUDGE
                                  if listing or self.internal_error else 1)
            if listing:
                with contextlib.suppress(Exception):
                    sys.stdout.write(f"pytest-staging: NO-GO, could not judge (exit "
                                     f"{exit_codes.COULD_NOT_JUDGE}): {reason}\n")
        elif self.verdict is None:
            # The session never reached its end (a signal during the readiness wait,
            # pytest.exit, a crash in start-up): decide on what is known, which is NO-GO.
            self.deferring = True
            if not self.signals:
                self.interrupted = self.interrupted or "the run ended before its session did"
            self.exit_status = 2 if self.signals else (self.exit_status or 1)
            self.finish(self.exit_status)
        if not config.stash.get(MAIN_KEY, False):
            # No pytest_cmdline_main around this run (a bare Config): nothing comes after.
            self.restore_signals()


class XdistControllerHooks:
    """xdist-only hooks, registered only when xdist is active (so -p no:xdist keeps working)."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.collected = False
        #: Workers that became ready, and those that stopped by pytest.exit().
        self.ready: set[str] = set()
        self.exited: set[str] = set()

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["staging_url"] = self.controller.settings.full_url
        node.workerinput["staging_sensitive"] = self.controller.target.sensitive
        node.workerinput["staging_blocked"] = self.controller.blocked()
        node.workerinput[trace_glue.WORKER_SEED] = self.controller.run_id

    def pytest_testnodeready(self, node: Any) -> None:
        self.controller.workers += 1
        self.ready.add(str(getattr(getattr(node, "gateway", None), "id", "") or "worker"))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Every collected id must reach a final outcome: once, or on every worker under
        ``--dist each``."""
        controller = self.controller
        with controller.guard("xdist collection"):
            if getattr(controller.config.option, "dist", "") == "each":
                instance = str(getattr(getattr(node, "gateway", None), "id", "") or "")
                for nodeid in ids:
                    controller.book.expect(nodeid, instance)
            elif not self.collected:
                for nodeid in ids:
                    controller.book.expect(nodeid)
            self.collected = True

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        controller = self.controller
        output = getattr(node, "workeroutput", None) or {}
        with controller.guard("xdist worker output"):
            # Workers deselect (-k, -m, gates); they all collect the same list.
            controller.workers_deselected = max(controller.workers_deselected,
                                                int(output.get("staging_deselected", 0) or 0))
            controller.workers_dropped = max(controller.workers_dropped,
                                             int(output.get("staging_dropped", 0) or 0))
            controller.workers_not_run = max(controller.workers_not_run,
                                             int(output.get("staging_not_run", 0) or 0))
            for entry in output.get("staging_collection_skipped", []) or []:
                if isinstance(entry, dict):
                    controller.add_collection_skip(entry)
            for text in output.get(lost_interrupts.WORKER_KEY, []) or []:
                controller.workers_lost_interrupts.append(str(text))
            for nodeid in output.get("staging_deselected_examples", []) or []:
                if len(controller.deselected_examples) < 20 and (
                        nodeid not in controller.deselected_examples):
                    controller.deselected_examples.append(str(nodeid))
        name = str(getattr(getattr(node, "gateway", None), "id", "") or "worker")
        stop = worker_stops.described(output)
        if stop:
            # pytest.exit() in that worker: the run stopped, by its word, and says so.
            self.exited.add(name)
            if not controller.interrupted:
                controller.interrupted = controller.redactor.text(stop)
        if error and name not in self.exited:
            text = str(error).strip().splitlines() or ["crashed"]
            if name not in self.ready:
                text[-1] = f"could not start: {text[-1]}"
            controller.workers_lost.append(controller.redactor.text(f"{name}: {text[-1]}"))


def _grouped(lost: list[str]) -> list[str]:
    """``["gw0: X", "gw1: X"]`` -> ``["gw0, gw1: X"]``: one line per cause (xdist restarts a
    worker that cannot start up to 4 times per worker, each for the same reason)."""
    names: dict[str, list[str]] = {}
    for entry in lost:
        name, _, text = entry.partition(": ")
        names.setdefault(text, []).append(name)
    ordered = {text: sorted(n, key=lambda name: (len(name), name)) for text, n in names.items()}
    return [f"{', '.join(n)}: {text}" if text else ", ".join(n) for text, n in ordered.items()]


def internal_error_line(excinfo: Any, excrepr: Any) -> str:
    """One line for an internal error: the exception, or for an xdist worker's (which xdist
    reports as an ``AssertionError`` whose message is the worker's whole traceback, ending
    in ``assert False``) the worker's own exception line."""
    value = getattr(excinfo, "value", None)
    lines = [line.strip() for line in str(value if value is not None else excrepr).splitlines()
             if line.strip()]
    if isinstance(value, AssertionError) and len(lines) > 1 and lines[0].startswith(
            "Traceback (most recent call last)"):
        while lines and lines[-1].startswith("assert "):
            lines.pop()
        return one_line(f"xdist worker: {lines[-1]}" if lines else "xdist worker", 300)
    if value is not None and lines:
        return one_line(f"{type(value).__name__}: {lines[-1]}", 300)
    return one_line(lines[-1] if lines else "unknown", 300)


class LateSignal:
    """The handler of SIGINT/SIGTERM/SIGHUP once a command-line run settled its exit status
    (``Controller.hand_over_signals``), until the process ends: the exit status then follows
    the verdict on disk. A GO is replaced by a NO-GO ("interrupted", exit 2), unless another
    run owns the report dir by now; a NO-GO stands with its own exit status. The process ends
    here, without a traceback and without waiting for what was still running."""

    def __init__(self, controller: Controller, code: int) -> None:
        self.report_dir = controller.settings.report_dir
        self.redactor = controller.redactor
        self.run_id = controller.run_id
        self.started = controller.started
        self.url = controller.target.url
        self.go = (controller.verdict or {}).get("verdict") == "GO"
        self.code = code

    def __call__(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        code = self.code
        said = f"exit {code}, the verdict stands"
        if self.go:
            code = exit_codes.INTERRUPTED
            said = "the GO is withdrawn: NO-GO, exit 2"
            if verdict_run_id(self.report_dir) == self.run_id:
                try:
                    write_placeholder(self.report_dir,
                                      f"run interrupted by {name} after its verdict was written",
                                      self.redactor, run_id=self.run_id, started=self.started,
                                      url=self.url, exit_status=code)
                except Exception:  # write_placeholder removed the GO files if it could not
                    remove_verdict(self.report_dir)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.write(f"pytest-staging: {name} after the verdict: {said}\n")
            sys.stderr.flush()
        os._exit(code)


def ignore_late_signals() -> None:
    """At the very end of the process (``plugin``'s atexit hook, the last to run): Python's
    finalization, which follows, puts SIG_DFL back for every handler set from Python, and a
    SIGTERM there would kill the process beside a GO on disk. From here no Python code runs:
    the signals a ``LateSignal`` handled are ignored, and the process exits with the status
    that follows the verdict on disk."""
    if not _is_main_thread():
        return
    for name in HANDLED_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None and isinstance(signal.getsignal(signum), LateSignal):
            with contextlib.suppress(ValueError, TypeError, OSError):
                signal.signal(signum, signal.SIG_IGN)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
