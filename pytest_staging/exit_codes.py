"""The exit statuses of an active pytest run and of ``pytest-staging verify``: one table.

A deploy system acts differently on "the release is bad" (abort, roll back) and "the check
could not judge" (retry, pause for a human: Argo Rollouts' Inconclusive). Both tools say which,
with one rule a pipeline can write in a line: **0 is GO, 1 is failed, any other non-zero is
could not judge** (docs/exit-codes.md).

- 0 only for GO (the contract; ``pytest ... && deploy`` stays a gate).
- 1 is pytest's own "tests failed", and means exactly that here: the judgement ``failed``.
- pytest's 2 (interrupted), 3 (internal error) and 4 (usage error) keep their meaning, and
  each is a way of not judging. Every other ``inconclusive`` run exits 3, pytest's "something
  got in the way of the run" and OWASP ZAP's "other failure": the target never became ready,
  an empty gate, a lost worker, a report that could not be written.
- Never 5 for a NO-GO: pytest's "no tests collected" is widely treated as success
  (``pytest || [ $? -eq 5 ]``, pytest-custom-exit-code), which would turn "could not judge"
  into a promotion. Never a new number beside pytest's either (k6's 99 is a code of its own
  for crossed thresholds; here a crossed threshold is a failed test like any other, so 1).
- ``verify`` keeps argparse's 2 for its usage errors; it has no interruption of its own, so
  its 2 cannot be misread, and 3 is every refusal: a verdict it cannot trust or bind to the
  deployment in hand says nothing about this release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_staging.verdict import FAILED

#: The verdict is GO (judgement ``passed``); ``verify``: it verified.
GO = 0
#: Judgement ``failed``: evidence that the release is bad (pytest's TESTS_FAILED).
FAILED_EXIT = 1
#: Inconclusive: interrupted (a signal, ``pytest.exit()``, pytest stopping at a collection
#: error): pytest's INTERRUPTED.
INTERRUPTED = 2
#: Inconclusive for any other cause (pytest's INTERNAL_ERROR, ZAP's "other failure"); for
#: ``verify``: the verdict is inconclusive, or cannot be trusted or bound to this deployment.
COULD_NOT_JUDGE = 3
#: Inconclusive: a usage error of the run (a bad option or policy): pytest's USAGE_ERROR.
USAGE = 4
#: ``verify``'s usage errors (a bad or empty option): argparse's own code.
VERIFY_USAGE = 2

#: pytest's own codes an inconclusive run keeps.
KEPT = (INTERRUPTED, COULD_NOT_JUDGE, USAGE)

#: ``verify`` checks whose failure is a usage error of the deploy job.
VERIFY_USAGE_CHECKS = frozenset({"usage"})
#: ``verify`` checks that find the verdict's own words false (a judgement its facts
#: contradict): their line is the one to print, never the NO-GO line that repeats them.
VERIFY_FALSE_CONTENT = frozenset({"judgement"})
#: ``verify`` checks whose failure leaves a NO-GO verdict usable as evidence of failure: the
#: verdict itself, what it ran (partial, required gates) and the gate statuses of its
#: re-derivation (a NO-GO need not re-derive every gate to be a NO-GO; its judgement is
#: checked on its own). Every other check (file, schema, signature, attestation, judgement,
#: version, age, subject, commit, run id, policy, and any check added later) refuses the
#: file: verify could not judge. For a GO every failed check refuses it.
VERIFY_NOT_REFUSALS = frozenset({"verdict", "rederive", "partial", "gates"})


def run_exit_code(judgement: str | None, pytest_status: int, signalled: bool) -> int:
    """The exit status of an active run whose verdict is NO-GO (GO is 0, decided by the
    caller from the verdict itself): 1 when ``failed``, else pytest's own 2/3/4, else 3."""
    if judgement == FAILED:
        return FAILED_EXIT
    if signalled:
        return INTERRUPTED
    return pytest_status if pytest_status in KEPT else COULD_NOT_JUDGE


def verdict_exit_code(verdict: Mapping[str, Any]) -> int:
    """The exit status of a command that wrote ``verdict`` (``pytest-staging merge``): 0 for
    GO, 1 when its judgement is ``failed``, else 3 (could not judge)."""
    if verdict.get("verdict") == "GO" and not verdict.get("reasons"):
        return GO
    return FAILED_EXIT if verdict.get("judgement") == FAILED else COULD_NOT_JUDGE


def verify_exit_code(failed_checks: Sequence[str], judgement: str | None) -> tuple[int, int]:
    """``(exit status, index of the failed check that decided it)`` of ``verify``, from the
    names of its failed checks in order and the verdict's (checked) judgement. No failure:
    ``(0, -1)``."""
    if not failed_checks:
        return GO, -1
    failed = list(failed_checks)
    for index, check in enumerate(failed):
        if check in VERIFY_USAGE_CHECKS:
            return VERIFY_USAGE, index
    if "verdict" not in failed:
        # A GO verify cannot accept (unsigned, edited, stale, partial, contradicted by its own
        # facts): the first failure says why; nothing was judged about this release.
        return COULD_NOT_JUDGE, 0
    verdict = failed.index("verdict")
    if verdict > 0:
        return COULD_NOT_JUDGE, 0  # the file itself cannot be trusted (schema, signature)
    for index, check in enumerate(failed):
        if check in VERIFY_FALSE_CONTENT:
            return COULD_NOT_JUDGE, index  # its NO-GO line would repeat what is false
    if judgement != FAILED:
        return COULD_NOT_JUDGE, verdict  # its own NO-GO reason says best why
    for index, check in enumerate(failed):
        if check not in VERIFY_NOT_REFUSALS:
            # A failed verdict about another deployment, or one its facts contradict: no
            # evidence about this release; the refusal says why it is not 1.
            return COULD_NOT_JUDGE, index
    return FAILED_EXIT, verdict
