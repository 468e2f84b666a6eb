"""Outcome bookkeeping per node id: what was expected, which reports came in per phase, and
the one final outcome each test gets. Plain data, no pytest import.

The rule is positive evidence: a test is ``passed`` only with a ``call`` report that passed
and a ``teardown`` report that completed. Whatever is missing is a fact, not a pass:

- a selected test with no report at all, or a setup without a call (``--setup-only``,
  ``--setup-plan``), or a call without its teardown (cut off, worker lost) is ``incomplete``;
- a node id that runs more than once (``--keep-duplicates``, ``--dist each``) is judged by its
  worst instance: any failure of any instance counts;
- an attempt that pytest-rerunfailures discarded (``rerun``) does not count, but makes the test
  ``flaky`` when a later attempt passes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

#: Worst first: the final outcome of a node id is the first of these any instance has.
#: ``incomplete`` comes first: a missing outcome makes the run incomplete even when another
#: instance of the test failed (an advisory failure must not hide a test that never ran).
SEVERITY = ("incomplete", "error", "failed", "skipped", "xfailed", "xpassed", "passed")
#: Outcomes that are evidence a test ran (what ``min_tests`` counts, for blocking tests).
RAN = frozenset({"passed", "failed", "error"})


class PhaseReport(NamedTuple):
    """The facts of one pytest report, as builtins (what the controller reads off a report).
    A named tuple: immutable, and built three times per test, so cheap to build."""

    nodeid: str
    when: str  # setup | call | teardown
    outcome: str  # passed | failed | skipped | rerun
    instance: str = ""  # the xdist worker under --dist each, else ""
    xfail: bool = False  # the report carries ``wasxfail``
    message: str = ""
    duration: float = 0.0


@dataclass(slots=True)  # one per test and attempt, kept until the verdict: no __dict__ each
class Attempt:
    """One setup/call/teardown sequence of one instance of a test."""

    phases: dict[str, str] = field(default_factory=dict)
    xfail: bool = False
    message: str = ""
    discarded: bool = False  # a rerun: pytest-rerunfailures will run the test again

    def why_incomplete(self, interrupted: bool = False) -> str:
        """``interrupted``: the run was stopped inside a test (Ctrl-C, a signal,
        ``pytest.exit()``), which is what ends a test between its setup and its call report."""
        if "setup" not in self.phases:
            return "no setup report"
        if "call" not in self.phases and self.phases["setup"] == "passed":
            return "interrupted during its call" if interrupted else "set up, never called"
        if interrupted:
            return "interrupted before its teardown completed"
        return "cut off before its teardown completed"

    @property
    def closed(self) -> bool:
        # A discarded attempt still gets its teardown report (pytest-rerunfailures >= 14).
        return "teardown" in self.phases

    def outcome(self) -> str:
        """The outcome this attempt is evidence of."""
        setup, call, teardown = (self.phases.get(w) for w in ("setup", "call", "teardown"))
        if setup == "failed":
            return "error"
        if call == "failed":
            return "failed"
        if teardown == "failed" or "failed" in self.phases.values():
            # Teardown, or a phase xdist made up for a crashed worker ("???").
            return "error"
        if setup == "skipped" or call == "skipped":
            # A skip in setup (skip marker, skipif) or in the call (pytest.skip(), xfail).
            done = teardown is not None
            if not done:
                return "incomplete"
            return "xfailed" if self.xfail else "skipped"
        if call == "passed" and teardown is not None:
            return "xpassed" if self.xfail else "passed"
        return "incomplete"


@dataclass(slots=True)
class TestBook:
    """Everything the controller heard of one node id."""

    __test__ = False  # not a test class

    nodeid: str
    #: Instances selected to run, per instance: the worker id under --dist each, else "".
    expected: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    duration: float = 0.0

    def add(self, report: PhaseReport) -> None:
        attempts = self.attempts.setdefault(report.instance, [])
        if report.when == "setup" or not attempts or attempts[-1].closed:
            attempts.append(Attempt())
        attempt = attempts[-1]
        self.duration += max(float(report.duration or 0.0), 0.0)
        if report.outcome == "rerun":
            attempt.discarded = True
            attempt.phases[report.when] = "failed"
            return
        # A phase reported twice keeps its worst report.
        if attempt.phases.get(report.when) != "failed":
            attempt.phases[report.when] = report.outcome
        attempt.xfail = attempt.xfail or report.xfail
        if report.outcome == "failed" and not attempt.message:
            # "errored" already says setup or teardown failed; name only the teardown.
            where = "teardown: " if report.when == "teardown" else ""
            attempt.message = f"{where}{report.message}" if report.message else report.when

    def final(self, interrupted: bool = False) -> tuple[str, str, bool]:
        """``(outcome, message, flaky)``: the worst outcome over every instance; an instance
        that was selected but has fewer counted attempts than expected is ``incomplete``."""
        if len(self.attempts) == 1 and self.expected.keys() <= {""}:
            # The common case, decided without the general bookkeeping below: one attempt
            # (no rerun, no duplicate) of a test selected at most once, that completed.
            attempts = self.attempts.get("")
            if (attempts is not None and len(attempts) == 1 and not attempts[0].discarded
                    and self.expected.get("", 0) <= 1):
                outcome = attempts[0].outcome()
                if outcome != "incomplete":
                    return outcome, attempts[0].message, False
        outcomes: list[tuple[str, str]] = []
        discarded = False
        counted: Counter[str] = Counter()
        for instance, attempts in self.attempts.items():
            for attempt in attempts:
                if attempt.discarded:
                    discarded = True
                    continue
                counted[instance] += 1
                outcome = attempt.outcome()
                outcomes.append((outcome, attempt.message or (
                    attempt.why_incomplete(interrupted) if outcome == "incomplete" else "")))
        for instance, wanted in self.expected.items():
            # "" means "on any instance" (serial, or xdist's load modes).
            have = sum(counted.values()) if instance == "" else counted[instance]
            if have < wanted:
                outcomes.append(("incomplete", "never reached a final outcome"))
        if not outcomes:
            outcomes.append(("incomplete", "never reached a final outcome"))
        outcome, message = min(outcomes, key=lambda o: SEVERITY.index(o[0]))
        if outcome == "incomplete":
            failures = [m for o, m in outcomes if o in ("error", "failed") and m]
            message = (message or "never reached a final outcome") + (
                f"; another instance failed: {failures[0]}" if failures else "")
        return outcome, message, discarded and outcome == "passed"


@dataclass
class OutcomeBook:
    """Every node id of a run: ``expect()`` at collection, ``add()`` per report."""

    tests: dict[str, TestBook] = field(default_factory=dict)
    #: The run was stopped inside a test (Ctrl-C, a signal, ``pytest.exit()``): a test set up
    #: and never called was interrupted during its call.
    interrupted: bool = False

    def expect(self, nodeid: str, instance: str = "") -> None:
        """One more instance of ``nodeid`` was selected to run (on ``instance``)."""
        expected = self.book(nodeid).expected
        expected[instance] = expected.get(instance, 0) + 1

    def book(self, nodeid: str) -> TestBook:
        book = self.tests.get(nodeid)
        if book is None:
            book = self.tests[nodeid] = TestBook(nodeid)
        return book

    def add(self, report: PhaseReport) -> None:
        self.book(report.nodeid).add(report)
