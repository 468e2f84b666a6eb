"""The verdict: plain data in, plain data out, one pure ``decide()``. No pytest import here.

``decide(facts)`` is the only producer of ``"GO"``. It starts from NO-GO reasons and returns GO
only when it found none; every input that signals trouble (interruption, internal error, lost
worker, collection error, unready target, version drift, empty or failed blocking gate, failed
blocking check) adds a reason line a human can read.

It also gives the run its ``judgement``: ``passed`` (GO), ``failed`` (evidence that the release
is bad: a blocking test failed or errored, a blocking check failed) or ``inconclusive`` (NO-GO
without such evidence: the run could not judge). Each reason gets its kind where it is made:
the lines of ``_gate()`` that are evidence say so; every other reason (the run, the target, the
version, an empty gate, skips, a flaky pass, a check recorded with ``"inconclusive": true``) is
inconclusive. Evidence of failure beside an inconclusive fact makes the judgement ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_staging.quarantine import covering
from pytest_staging.schema import SCHEMA_ID

GO = "GO"
NO_GO = "NO-GO"
#: The judgement of a run: GO, NO-GO on evidence that the release is bad, NO-GO that could not
#: judge. Inconclusive is the default of anything that is not known to be evidence.
PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"
JUDGEMENTS = (PASSED, FAILED, INCONCLUSIVE)
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "incomplete")
#: Outcomes that are evidence a test ran; only blocking tests with one count for min_tests.
RAN = ("passed", "failed", "error")
#: Outcomes of tests that were selected but did not run their check (skips, xfails).
NOT_RUN = ("skipped", "xfailed", "xpassed")
#: Failures listed one by one in the reasons before "... and N more".
MAX_LISTED = 10


@dataclass
class TestRecord:
    """What the controller knows of one test once all its reports are in."""

    __test__ = False  # not a test class, whatever pytest's name heuristics think

    nodeid: str
    gate: str
    outcome: str = "passed"
    duration: float = 0.0
    blocking: bool = True
    flaky: bool = False
    message: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    #: The test's W3C trace id (every request it sent to staging is a span of it).
    trace_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestRecord:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class GateSpec:
    name: str
    blocking: bool = True
    min_tests: int = 1
    description: str = ""
    #: Most blocking tests that may be skipped or xfailed (None: no limit, only reported).
    max_skipped: int | None = None


@dataclass
class TargetFacts:
    url: str = ""
    reachable: bool = False
    ready: bool = False
    ready_after: float | None = None
    not_ready_reason: str = ""
    redirects: list[str] = field(default_factory=list)
    off_target: str = ""
    sensitive: bool = False
    expected_version: str | None = None
    version_start: str | None = None
    version_end: str | None = None
    version_error: str = ""


@dataclass
class RunFacts:
    """Everything ``decide()`` looks at; builtins and small dataclasses only."""

    run_id: str = ""
    started: str = ""
    finished: str | None = None
    duration: float = 0.0
    exit_status: int = 0
    complete: bool = False
    interrupted: str = ""
    #: Signals received at any moment of the run (SIGINT, SIGTERM, SIGHUP), in order.
    signals: list[str] = field(default_factory=list)
    internal_error: str = ""
    #: Reports that could not be rendered or written, another run writing the same report
    #: dir: the verdict on disk could not be trusted.
    output_errors: list[str] = field(default_factory=list)
    usage_errors: list[str] = field(default_factory=list)
    plugin_errors: list[str] = field(default_factory=list)
    collection_errors: list[str] = field(default_factory=list)
    workers: int = 0
    workers_lost: list[str] = field(default_factory=list)
    target: TargetFacts = field(default_factory=TargetFacts)
    gates: list[GateSpec] = field(default_factory=list)
    tests: list[TestRecord] = field(default_factory=list)
    gate_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    flaky_policy: str = "warn"
    destructive_skipped: list[str] = field(default_factory=list)
    allow_destructive: bool = False
    insecure: bool = False
    versions: dict[str, str | None] = field(default_factory=dict)
    #: What was selected (see ``Selection``); partial runs are NO-GO-neutral but recorded.
    selection: dict[str, Any] = field(default_factory=dict)
    #: Who tested what (commit, CI run, digests, subject): recorded, never judged here.
    provenance: dict[str, Any] = field(default_factory=dict)
    #: ``"warn"`` (``--staging-fail-on=warn``): every warning is a NO-GO reason too.
    fail_on: str = "error"
    #: ``[flaky] quarantine`` entries, ``expired`` judged on the day of the run
    #: (``quarantine.quarantine_facts``): an unexpired entry's test does not block.
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    #: What the history store says (``history.facts``): named in the verdict, never judged;
    #: its ``problems`` (a store that cannot be used) are warnings that never block.
    history: dict[str, Any] = field(default_factory=dict)
    #: A shard's record (``--staging-shard``: K/N, run id, the whole collection, the facts a
    #: merge needs). A shard judges its own tests and run; gate minimums are the merge's.
    shard: dict[str, Any] = field(default_factory=dict)
    #: A merged verdict's record of its shards (``pytest-staging merge``): recorded, not judged.
    merged: dict[str, Any] = field(default_factory=dict)
    #: Why the shards do not make one complete run (missing, duplicated, another run,
    #: another deployment, unverified): each a NO-GO reason; the merge could not judge.
    merge_problems: list[str] = field(default_factory=list)
    #: The run's own trace id (readiness and version probes) and ``[evidence] trace_url``:
    #: recorded, never judged.
    trace_id: str = ""
    trace_url: str = ""


def _counts(tests: Iterable[TestRecord]) -> dict[str, int]:
    counts = {"total": 0, **dict.fromkeys(OUTCOMES, 0), "flaky": 0}
    for test in tests:
        counts["total"] += 1
        counts[test.outcome if test.outcome in OUTCOMES else "failed"] += 1
        counts["flaky"] += int(test.flaky)
    return counts


def _ran(tests: Iterable[TestRecord]) -> int:
    """Blocking tests with evidence of having run: what ``min_tests`` counts."""
    return sum(1 for t in tests if t.blocking and t.outcome in RAN)


def gate_shortfall(spec: GateSpec, ran: int) -> str | None:
    """**The one rule of what a gate needs**, for ``decide()`` and for ``pytest-staging verify``
    alike: a blocking gate must have run at least ``min_tests`` blocking tests (``ran``: tests
    with a pass, failure or error; skips, xfails and advisory tests do not count); a
    non-blocking gate needs nothing. ``min_tests = 0`` is the policy's word that the gate may be
    empty: such a gate is reported ``empty`` and counts for nothing, never as passed. Returns
    why the gate falls short, or None."""
    if spec.blocking and ran < spec.min_tests:
        return f"ran {ran} test(s), needs at least {spec.min_tests}"
    return None


def gate_unmet(name: str, entry: Mapping[str, Any]) -> str | None:
    """Why a judged gate (an entry of a verdict's ``gates``) does not satisfy its own spec, by
    the rule ``decide()`` applied (``gate_shortfall``), or None: what verify asks of a gate the
    policy requires. The text follows "gate NAME": ``is failed``, ``ran 0 test(s), ...``."""
    status = entry.get("status")
    if status in ("failed", "error"):
        return f"is {status}"
    spec = GateSpec(name=name, blocking=entry.get("blocking") is not False,
                    min_tests=int(entry.get("min_tests", 1)))
    return gate_shortfall(spec, int(entry.get("ran") or 0))


def blocking_evidence(gates: Mapping[str, Mapping[str, Any]]) -> int:
    """Blocking tests that ran in blocking gates: a GO rests on at least one (advisory tests
    and gates report, they never block, so they cannot vouch for a release)."""
    return sum(int(g.get("ran") or 0) for g in gates.values() if g.get("blocking") is not False)


def _listed(lines: list[str], prefix: str) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"{prefix}... and {len(lines) - MAX_LISTED} more"]


def _failure(test: TestRecord, blocking: bool,
             quarantined: Mapping[str, Any] | None = None) -> dict[str, Any]:
    failure = {"nodeid": test.nodeid, "outcome": test.outcome, "message": test.message,
               "blocking": blocking, "evidence": test.evidence,
               **({"trace_id": test.trace_id} if test.trace_id else {})}
    if quarantined is not None:
        failure["quarantined"] = {"owner": quarantined.get("owner"),
                                  "expires": quarantined.get("expires")}
    return failure


def _quarantined(facts: RunFacts) -> dict[str, dict[str, Any]]:
    """Per node id of this run, the quarantine entry that covers it (expired ones too)."""
    if not facts.quarantine:
        return {}
    found = {}
    for test in facts.tests:
        entry = covering(facts.quarantine, test.nodeid)
        if entry is not None:
            found[test.nodeid] = dict(entry)
    return found


def _quarantine_note(entry: Mapping[str, Any]) -> str:
    who = f"owner {entry.get('owner') or 'unknown'}"
    if entry.get("expired", True):
        return f" (quarantine expired {entry.get('expires')}, {who})"
    return f" (quarantined until {entry.get('expires')}, {who})"


def _describe(test: TestRecord) -> str:
    what = {"failed": "failed", "error": "errored"}.get(test.outcome, test.outcome)
    text = f"{test.nodeid} {what}"
    return f"{text}: {test.message}" if test.message else text


def could_not_judge(check: Mapping[str, Any]) -> bool:
    """A failed check recorded with ``"inconclusive": true``: it could not measure (a lost load
    worker, a comparison that could not look), so it blocks without being evidence."""
    return check.get("inconclusive") is True


def _check_blocks(check: Mapping[str, Any], advisory: set[str]) -> bool:
    """Whether a failed check blocks: it says so, and the test that made it is not advisory."""
    return bool(check.get("blocking", True)) and check.get("nodeid") not in advisory


def _gate(spec: GateSpec, tests: list[TestRecord], data: Mapping[str, Any],
          flaky_policy: str, judge_empty: bool,
          quarantined: Mapping[str, Mapping[str, Any]] | None = None,
          ) -> tuple[dict[str, Any], list[str], list[str], list[str]]:
    """Judge one gate: its verdict entry, its NO-GO reasons, its warnings, and which of the
    reasons are evidence that the release is bad (the rest are inconclusive).
    ``quarantined``: the quarantine entry per node id; an unexpired one's failures and
    checks do not block and its test is no evidence toward ``min_tests``."""
    quarantined = quarantined or {}
    excused = {n for n, e in quarantined.items() if not e.get("expired", True)}
    counts = _counts(tests)
    reasons: list[str] = []
    evidence: list[str] = []
    warnings: list[str] = []
    failures = []
    blocked = False
    errored = False
    would_block: list[str] = []
    # A test whose own blocking checks failed is explained by them (observed vs required):
    # listing the test's assertion as well would give one cause two reason lines.
    # A check made by an advisory test never blocks, as the test itself never does.
    advisory = {t.nodeid for t in tests if not t.blocking}
    failing = [c for c in data.get("checks", [])
               if not c.get("passed", False) and _check_blocks(c, advisory) and c.get("nodeid")]
    explained = {c.get("nodeid") for c in failing}
    # ... and is evidence only if one of them is: a load that lost its worker fails its test
    # without saying anything about the release.
    unjudged = explained - {c.get("nodeid") for c in failing if not could_not_judge(c)}
    for test in tests:
        if test.outcome in ("failed", "error"):
            entry = quarantined.get(test.nodeid)
            if test.nodeid in excused and spec.blocking and test.blocking:
                failures.append(_failure(test, False, entry))
                would_block.append(f"{spec.name}: quarantined, would have blocked: "
                                   f"{_describe(test)}{_quarantine_note(entry or {})}")
                continue
            blocks = spec.blocking and test.blocking
            failures.append(_failure(test, blocks))
            if blocks:
                blocked = True
                errored = errored or test.outcome == "error"
                line = f"{spec.name}: {_describe(test)}"
                if test.nodeid not in explained or test.outcome == "error":
                    note = _quarantine_note(entry) if entry is not None else ""
                    reasons.append(f"{line}{note}")
                if test.nodeid not in unjudged:
                    evidence.append(line)
            else:
                would_block.append(f"{spec.name}: would have blocked: {_describe(test)}")
        elif test.flaky and test.outcome == "passed":
            line = f"{spec.name}: flaky (passed only on retry): {test.nodeid}"
            if (flaky_policy == "fail" and spec.blocking and test.blocking
                    and test.nodeid not in excused):
                blocked = True
                reasons.append(line)
            else:
                warnings.append(line)
    for check in data.get("checks", []):
        if check.get("passed", False):
            continue
        line = f"{spec.name}: {check.get('name', 'check')}: {check.get('detail', 'failed')}"
        if check.get("nodeid") in excused and spec.blocking and _check_blocks(check, advisory):
            would_block.append(f"{spec.name}: quarantined, would have blocked: "
                               f"{check.get('name', 'check')}: {check.get('detail', 'failed')}")
        elif spec.blocking and _check_blocks(check, advisory):
            blocked = True
            reasons.append(line)
            if not could_not_judge(check):
                evidence.append(line)
        else:
            would_block.append(f"{spec.name}: would have blocked: "
                               f"{check.get('name', 'check')}: {check.get('detail', 'failed')}")
    warnings.extend(str(w) for w in data.get("warnings", []))
    reasons = _listed(reasons, f"{spec.name}: ")
    warnings = _listed(would_block, f"{spec.name}: ") + warnings

    counted = [t for t in tests if t.nodeid not in excused] if excused else tests
    ran = _ran(counted) if spec.blocking else sum(1 for t in tests if t.outcome in RAN)
    shortfall = gate_shortfall(spec, ran) if judge_empty else None
    too_few = shortfall is not None
    if shortfall is not None:
        advisory = sum(1 for t in tests if not t.blocking and t.outcome in RAN)
        besides = f"; its {advisory} advisory test(s) do not count" if advisory else ""
        held = sum(1 for t in tests if t.nodeid in excused and t.outcome in RAN)
        besides += f"; its {held} quarantined test(s) do not count" if held else ""
        reasons.append(
            f"{spec.name}: gate {shortfall} (add tests, select gates with --staging-gate, or set "
            f"[gates.{spec.name}] min_tests){besides}")
    skipped = [t for t in tests if t.blocking and t.outcome in NOT_RUN]
    if skipped and spec.blocking:
        line = (f"{spec.name}: {len(skipped)} blocking test(s) skipped or xfailed, not counted "
                f"as passed")
        # Judged only when tests could run: on an unready target skips are not the cause.
        if judge_empty and spec.max_skipped is not None and len(skipped) > spec.max_skipped:
            blocked = True
            reasons.append(f"{line} (at most {spec.max_skipped} allowed by "
                           f"[gates.{spec.name}] max_skipped): "
                           + ", ".join(t.nodeid for t in skipped[:3])
                           + (" ..." if len(skipped) > 3 else ""))
        else:
            warnings.append(line)
    if errored:
        status = "error"
    elif blocked:
        status = "failed"
    elif too_few or ran == 0:
        status = "empty"
    elif would_block:
        status = "advisory"
    else:
        status = "passed"
    entry: dict[str, Any] = {
        "status": status,
        "blocking": spec.blocking,
        "min_tests": spec.min_tests,
        **({"max_skipped": spec.max_skipped} if spec.max_skipped is not None else {}),
        "ran": ran,
        "description": spec.description,
        "counts": counts,
        "failures": failures,
        "findings": list(data.get("findings", [])),
        "metrics": dict(data.get("metrics", {})),
        "checks": list(data.get("checks", [])),
    }
    entry.update({k: v for k, v in data.items() if k not in entry and k != "warnings"})
    return entry, reasons, warnings, evidence


def _target_reasons(target: TargetFacts) -> list[str]:
    reasons = []
    if not target.ready:
        reasons.append(target.not_ready_reason or f"target {target.url} was not ready")
    if target.off_target:
        reasons.append(target.off_target)
    expected = target.expected_version
    start, end = target.version_start, target.version_end
    if expected is not None:
        if start is None or end is None:
            detail = target.version_error or "the version endpoint gave no version"
            reasons.append(f"version {expected} expected but not observed: {detail}")
        if start is not None and start != expected:
            reasons.append(f"version mismatch at start: expected {expected}, observed {start}")
        if end is not None and end != expected and end != start:
            reasons.append(f"version mismatch at end: expected {expected}, observed {end}")
    if start is not None and end is not None and start != end:
        reasons.append(f"version changed during the run: {start} -> {end} (a redeploy?)")
    return reasons


def decide(facts: RunFacts) -> dict[str, Any]:
    """Turn the facts of a run into a verdict dict; GO only when nothing stands against it."""
    reasons: list[str] = []
    #: The reasons that are evidence the release is bad (``_gate``); all others are
    #: inconclusive: the run, the target, the version, empty gates could not judge it.
    evidence: list[str] = []
    warnings: list[str] = list(facts.warnings)

    reasons.extend(facts.usage_errors)
    reasons.extend(f"merge: {p}" for p in facts.merge_problems)
    if facts.signals:
        names = list(dict.fromkeys(facts.signals))
        reasons.append(f"run interrupted by {' and '.join(names)}"
                       + (f" ({len(facts.signals)} signals)" if len(facts.signals) > 1 else ""))
    elif facts.interrupted:
        reasons.append(f"run interrupted: {facts.interrupted}")
    if facts.internal_error:
        reasons.append(f"internal error: {facts.internal_error}")
    reasons.extend(f"pytest-staging failed: {e}" for e in facts.plugin_errors)
    reasons.extend(f"reports: {e}" for e in facts.output_errors)
    reasons.extend(f"xdist worker lost: {w}" for w in facts.workers_lost)
    reasons.extend(_listed([f"collection error: {e}" for e in facts.collection_errors], ""))
    target_reasons = _target_reasons(facts.target)
    reasons.extend(target_reasons)
    stopped = facts.interrupted or facts.signals or facts.internal_error
    if not facts.complete and not stopped:
        reasons.append("the run did not finish normally")
    if facts.exit_status not in (0, 1, 5) and not (stopped or facts.usage_errors):
        reasons.append(f"pytest ended with exit status {facts.exit_status}")

    incomplete = [t for t in facts.tests if t.outcome == "incomplete"]
    if incomplete:
        # Selected but without a final outcome: nothing says they would have passed.
        shown = ", ".join(f"{t.nodeid} ({t.message})" if t.message else t.nodeid
                          for t in incomplete[:3])
        more = f" and {len(incomplete) - 3} more" if len(incomplete) > 3 else ""
        reasons.append(f"{len(incomplete)} selected test(s) never reached a final outcome: "
                       f"{shown}{more}")

    by_gate: dict[str, list[TestRecord]] = {g.name: [] for g in facts.gates}
    for test in facts.tests:
        by_gate.setdefault(test.gate, []).append(test)
    # An unready target means no test ran: the empty gates are a consequence, not a cause.
    # A shard holds a slice of each gate: its minimums are judged on the merge; a merge of
    # shards that do not make one run holds a part of it (the merge problems are the cause).
    judge_empty = (facts.target.ready and not facts.usage_errors and not facts.shard
                   and not facts.merge_problems)
    gates: dict[str, Any] = {}
    specs = {g.name: g for g in facts.gates}
    quarantined = _quarantined(facts)
    for name, tests in by_gate.items():
        spec = specs.get(name) or GateSpec(name=name, blocking=True, min_tests=0)
        entry, gate_reasons, gate_warnings, gate_evidence = _gate(
            spec, tests, facts.gate_data.get(name, {}), facts.flaky_policy, judge_empty,
            quarantined)
        gates[name] = entry
        reasons.extend(gate_reasons)
        evidence.extend(gate_evidence)
        warnings.extend(gate_warnings)
    if judge_empty and not blocking_evidence(gates) and not any(
            g["status"] == "empty" and g["blocking"] and g["min_tests"] > 0
            for g in gates.values()):
        # Nothing here could have blocked a bad release: GO needs evidence for what it counts.
        # A quarantined test is no evidence either (its gate's "ran" leaves it out).
        ran = sum(1 for t in facts.tests if t.outcome in RAN
                  and quarantined.get(t.nodeid, {}).get("expired", True))
        reasons.append("no test ran" if not ran else
                       f"no blocking test ran: the {ran} test(s) that ran are advisory (they "
                       "report, never block); make a gate blocking or add a blocking test")
    if facts.destructive_skipped:
        warnings.append(
            f"{len(facts.destructive_skipped)} destructive test(s) not run: target matches "
            "sensitive_url")
    warnings.extend(_listed([
        f"{skip.get('gate')}: {skip.get('nodeid')} skipped at collection (its tests never "
        f"ran): {skip.get('reason')}"
        for skip in facts.selection.get("collection_skipped") or []
        if isinstance(skip, Mapping)], ""))
    if facts.allow_destructive:
        warnings.append("destructive tests allowed by --staging-allow-destructive")
    if facts.insecure:
        warnings.append("TLS certificate verification disabled by --staging-insecure")
    if facts.selection.get("partial"):
        left = ", ".join(facts.selection.get("filters") or []) or "a subset was selected"
        warnings.append(f"partial run ({left}): pytest-staging verify refuses it unless "
                        f"--allow-partial")

    warnings.extend(_stale_quarantine(facts, quarantined))

    if facts.fail_on == "warn":
        reasons.extend(f"warning (--staging-fail-on=warn): {w}"
                       for w in dict.fromkeys(warnings))
    # The history store's own trouble is bookkeeping, not the release: it never blocks.
    warnings.extend(str(p) for p in facts.history.get("problems") or [])
    reasons = list(dict.fromkeys(reasons))
    return {
        "schema": SCHEMA_ID,
        "verdict": GO if not reasons else NO_GO,
        "judgement": judgement(bool(reasons), bool(evidence)),
        "reasons": reasons,
        "warnings": list(dict.fromkeys(warnings)),
        "run": {
            "id": facts.run_id,
            "started": facts.started,
            "finished": facts.finished,
            "duration": round(facts.duration, 3),
            "complete": facts.complete,
            "exit_status": facts.exit_status,
            "workers": facts.workers,
            "versions": dict(facts.versions),
            "gates_selected": [g.name for g in facts.gates],
            "allow_destructive": facts.allow_destructive,
            "insecure": facts.insecure,
            "partial": bool(facts.selection.get("partial", False)),
            "signals": list(facts.signals),
            **({"fail_on": facts.fail_on} if facts.fail_on != "error" else {}),
            # What verify needs to re-derive the same verdict from the file.
            **({"flaky_policy": facts.flaky_policy} if facts.flaky_policy != "warn" else {}),
            **({"trace_id": facts.trace_id} if facts.trace_id else {}),
            **({"trace_url": facts.trace_url} if facts.trace_url else {}),
        },
        "target": {
            "url": facts.target.url,
            "expected_version": facts.target.expected_version,
            "observed_version": {"start": facts.target.version_start,
                                 "end": facts.target.version_end},
            "reachable": facts.target.reachable,
            "ready_after": facts.target.ready_after,
            "redirects": list(facts.target.redirects),
            "sensitive": facts.target.sensitive,
        },
        "gates": gates,
        "tests": [
            {"nodeid": t.nodeid, "gate": t.gate, "outcome": t.outcome,
             "duration": round(t.duration, 4), "blocking": t.blocking, "flaky": t.flaky,
             **({"trace_id": t.trace_id} if t.trace_id else {}),
             **({"quarantined": True} if t.nodeid in quarantined
                and not quarantined[t.nodeid].get("expired", True) else {})}
            for t in facts.tests
        ],
        "destructive_skipped": list(facts.destructive_skipped),
        **({"selection": dict(facts.selection)} if facts.selection else {}),
        **({"quarantine": _quarantine_entries(facts)} if facts.quarantine else {}),
        **({"history": dict(facts.history)} if facts.history else {}),
        **({"provenance": dict(facts.provenance)} if facts.provenance else {}),
        **({"shard": dict(facts.shard)} if facts.shard else {}),
        **({"merged": dict(facts.merged)} if facts.merged else {}),
    }


def _quarantine_entries(facts: RunFacts) -> list[dict[str, Any]]:
    """Every quarantine entry with what its test(s) did in this run."""
    out = []
    for entry in facts.quarantine:
        outcomes = [t.outcome for t in facts.tests if covering([entry], t.nodeid) is not None]
        worst = next((o for o in ("error", "failed", "incomplete", "passed") if o in outcomes),
                     outcomes[0] if outcomes else "not run")
        out.append({**entry, "outcome": worst})
    return out


def _stale_quarantine(facts: RunFacts, quarantined: Mapping[str, Any]) -> list[str]:
    """Entries whose test this (complete) run does not have: a renamed or removed test."""
    if facts.selection.get("partial") or not facts.quarantine or not facts.tests:
        return []
    matched = {e.get("test") for e in quarantined.values()}
    return [f"quarantine entry {e.get('test')} (owner {e.get('owner') or 'unknown'}) matches "
            "no test of this run: remove it from [flaky] quarantine, or fix its node id"
            for e in facts.quarantine if e.get("test") not in matched]


def judgement(reasons: bool, evidence: bool) -> str:
    """GO is ``passed``; a NO-GO with evidence that the release is bad is ``failed``, whatever
    else stands beside it; any other NO-GO is ``inconclusive``."""
    if not reasons:
        return PASSED
    return FAILED if evidence else INCONCLUSIVE


def placeholder(reason: str, *, run_id: str = "", started: str = "", url: str = "",
                exit_status: int = 1) -> dict[str, Any]:
    """A NO-GO verdict for a run that has not (or could not) come to a decision: it judged
    nothing, so it is ``inconclusive``."""
    return {
        "schema": SCHEMA_ID,
        "verdict": NO_GO,
        "judgement": INCONCLUSIVE,
        "reasons": [reason],
        "warnings": [],
        "run": {"id": run_id, "started": started, "finished": None, "duration": 0.0,
                "complete": False, "exit_status": exit_status, "workers": 0, "versions": {},
                "gates_selected": [], "allow_destructive": False, "insecure": False},
        "target": {"url": url, "expected_version": None,
                   "observed_version": {"start": None, "end": None}, "reachable": False,
                   "ready_after": None, "redirects": [], "sensitive": False},
        "gates": {},
        "tests": [],
        "destructive_skipped": [],
    }
