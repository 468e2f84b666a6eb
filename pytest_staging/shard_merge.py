"""``pytest-staging merge``: N shard verdicts judged as the one run they must add up to.

Each input is read like ``verify`` reads a verdict (``verify.load_verdict``,
``check_schema``, the HMAC and Ed25519 signature checks), then its ``shard`` record (written by
``shard_hooks.record``) gives back the run's facts as ``decide()`` took them. The merge never
ANDs shard verdicts: it builds the facts of one run and decides once.

- **Complete and of one run**, else a ``merge_problems`` fact each (the merge could not
  judge): exactly N distinct shards of the same N; the same run id, suite and policy digests,
  target URL, subject, commit, collection, split, gates, expected and observed versions; every
  test of the collection in exactly one shard, none outside it; no partial shard; every
  signature checked when a key is given, an edited shard refused.
- **Judged over the merged data**: every test and check of every shard, each shard's own
  run facts (interruptions, internal errors, lost workers... prefixed with the shard), the
  gates' ``min_tests``/``max_skipped`` on the merged counts, the security grade and the
  contract coverage recomputed over all findings and operations (the gates' own ``finalize``
  / ``summarize``), then ``decide()``.

Plain data in and out: the command (``merge_command``) reads keys and writes the reports.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pytest_staging.printable import one_line
from pytest_staging.shard_split import collection_digest
from pytest_staging.verdict import (
    GO,
    OUTCOMES,
    GateSpec,
    RunFacts,
    TargetFacts,
    TestRecord,
    decide,
)
from pytest_staging.verify import (
    VerifyError,
    check_attestation,
    check_hmac,
    check_schema,
    load_verdict,
    parse_time,
    resolve_path,
)

#: Node ids named in one reason before "... and N more".
NAMED = 3


@dataclass
class Shard:
    """One input of the merge: what was read, and what stands against using it."""

    given: str
    verdict: dict[str, Any] = field(default_factory=dict)
    #: Why this input cannot be used at all ("" when it is a readable shard verdict).
    unreadable: str = ""
    #: Why its content cannot be trusted (a signature, a record that does not add up).
    untrusted: str = ""
    facts: RunFacts | None = None

    @property
    def record(self) -> dict[str, Any]:
        return self.verdict.get("shard") or {}

    @property
    def index(self) -> int:
        return int(self.record.get("index", 0))

    @property
    def count(self) -> int:
        return int(self.record.get("count", 0))

    @property
    def name(self) -> str:
        return f"shard {self.index}/{self.count} ({self.given})"

    @property
    def usable(self) -> bool:
        return not self.unreadable and not self.untrusted and self.facts is not None


@dataclass(frozen=True)
class Keys:
    """What the shards' signatures are checked with (as ``verify`` checks a verdict)."""

    hmac: str | None = None
    hmac_env: str = "STAGING_VERDICT_KEY"
    public_key: Any = None
    #: ``--allow-unsigned``: shards nothing here authenticates are merged, knowingly.
    allow_unsigned: bool = False


def _fields(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """Only the fields ``cls`` has: a newer or older shard may record more or fewer."""
    return {k: v for k, v in data.items() if k in cls.__dataclass_fields__}


def light(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """``verdict`` with its per-test lists empty (``tests``, and the shard record's slice,
    collection and facts' tests): what the schema check gets, as jsonschema takes seconds
    over the 20,000 items of a big shard; those lists are read item by item here. Shallow
    copies: the verdict itself is untouched."""
    view = {**verdict, "tests": []}
    shard = verdict.get("shard")
    if isinstance(shard, dict):
        view["shard"] = shard = {**shard, "slice": []}
        if isinstance(shard.get("facts"), dict):
            shard["facts"] = {**shard["facts"], "tests": []}
        collection = shard.get("collection")
        if isinstance(collection, dict):
            shard["collection"] = collection = {**collection}
            if isinstance(collection.get("advisory"), list):
                collection["advisory"] = []
            if isinstance(collection.get("gates"), dict):
                collection["gates"] = {gate: [] for gate in collection["gates"]}
    return view


def _test(t: Any) -> TestRecord:
    """One test of a shard's record, every field present and of its type (ValueError
    otherwise): none is filled in with a passing default."""
    duration = t.get("duration") if isinstance(t, dict) else None
    if not (isinstance(t, dict) and isinstance(t.get("nodeid"), str)
            and isinstance(t.get("gate"), str) and t.get("outcome") in OUTCOMES
            and isinstance(duration, (int, float)) and not isinstance(duration, bool)
            and duration >= 0 and isinstance(t.get("blocking"), bool)
            and isinstance(t.get("flaky"), bool) and isinstance(t.get("message"), str)
            and isinstance(t.get("evidence"), list)
            and isinstance(t.get("trace_id", ""), str)):
        raise ValueError(f"not a test record: {one_line(t, 80)}")
    return TestRecord(nodeid=t["nodeid"], gate=t["gate"], outcome=t["outcome"],
                      duration=float(duration), blocking=t["blocking"], flaky=t["flaky"],
                      message=t["message"], evidence=list(t["evidence"]),
                      trace_id=t.get("trace_id", ""))


def collection_of(shard: Mapping[str, Any]) -> list[str]:
    """The node ids of a shard's recorded collection (by gate, in collection order within
    each), checked against its digest: ValueError when a node id is not a string or the
    entries are not what the digest says."""
    collection = shard["collection"]
    advisory = set(collection["advisory"])
    entries = [(n, g, n not in advisory) for g, ids in collection["gates"].items() for n in ids]
    if not all(isinstance(n, str) for n, _, _ in entries):
        raise ValueError("a node id of its collection is not a string")
    if collection_digest(entries) != collection["digest"] or len(entries) != collection["count"]:
        raise ValueError("its collection is not the one its digest names")
    return [n for n, _, _ in entries]


def facts_of(verdict: Mapping[str, Any]) -> RunFacts:
    """The run facts a shard verdict recorded (the rest already checked by the schema)."""
    data = verdict["shard"]["facts"]
    tests = [_test(t) for t in data["tests"]]
    plain = {k: v for k, v in _fields(RunFacts, data).items()
             if k not in ("target", "gates", "tests")}
    return RunFacts(**plain, target=TargetFacts(**_fields(TargetFacts, data["target"])),
                    gates=[GateSpec(**_fields(GateSpec, g)) for g in data["gates"]],
                    tests=tests, selection=dict(verdict.get("selection") or {}),
                    provenance=dict(verdict.get("provenance") or {}),
                    shard=dict(verdict["shard"]))


def read_shard(given: str, keys: Keys) -> Shard:
    """Read one input: a shard's report dir or its verdict.json."""
    shard = Shard(given)
    path = resolve_path(given)
    try:
        shard.verdict = load_verdict(path)
        check_schema(light(shard.verdict))
    except VerifyError as exc:
        # A file problem names the file already; a schema problem does not.
        shard.unreadable = exc.detail if exc.check == "file" else f"{given}: {exc.detail}"
        shard.verdict = {}
        return shard
    if "merged" in shard.verdict:
        shard.unreadable = f"{given} is a merged verdict, not a shard"
    elif "shard" not in shard.verdict and shard.verdict.get("reasons"):
        # A shard that ended before deciding (a usage error, a crash, a kill) left its NO-GO.
        shard.unreadable = (f"{given} holds no shard record but a NO-GO: "
                            f"{one_line(shard.verdict['reasons'][0], 200)}")
    elif "shard" not in shard.verdict:
        shard.unreadable = (f"{given} is not a shard verdict (no shard record: was it run with "
                            "--staging-shard K/N?)")
    if shard.unreadable:
        shard.verdict = {}
        return shard
    try:
        check_hmac(shard.verdict, keys.hmac, keys.hmac_env, False)
        check_attestation(shard.verdict, path, keys.public_key, False)
    except VerifyError as exc:
        shard.untrusted = f"{shard.name}: {exc.check}: {exc.detail}"
        return shard
    if keys.hmac is None and keys.public_key is None and not keys.allow_unsigned:
        # Trust only what was checked (as verify): anyone who can write a shard's artifact
        # could otherwise write a passing part of the merged GO.
        shard.untrusted = (f"{shard.name}: no signature was checked ({keys.hmac_env} is unset "
                           "or empty, no --public-key): set it to the runs' HMAC key, pass "
                           "--public-key FILE, or pass --allow-unsigned")
        return shard
    try:
        shard.facts = facts_of(shard.verdict)
        if not all(isinstance(n, str) for n in shard.record["slice"]):
            raise ValueError("a node id of its slice is not a string")
        derived = decide(shard.facts)
    except (KeyError, TypeError, ValueError) as exc:
        shard.untrusted = (f"{shard.name}: its record cannot be read back "
                           f"({type(exc).__name__}: {one_line(exc, 80)})")
        return shard
    if derived["verdict"] != shard.verdict.get("verdict") or \
            derived["tests"] != shard.verdict.get("tests"):
        shard.untrusted = (f"{shard.name}: its verdict does not follow from its own record "
                           "(edited after the run?)")
    return shard


# -- one run? ---------------------------------------------------------------------------------
def _value(shard: Shard, what: str) -> Any:
    v, prov = shard.verdict, shard.verdict.get("provenance") or {}
    target = v.get("target") or {}
    observed = target.get("observed_version") or {}
    facts = shard.facts
    return {
        "run id": shard.record.get("run_id"),
        "suite digest": prov.get("suite_digest"),
        "policy digest": prov.get("policy_digest"),
        "target URL": target.get("url"),
        "subject": prov.get("subject"),
        "commit": prov.get("commit"),
        "expected version": target.get("expected_version"),
        "version at start": observed.get("start"),
        "version at end": observed.get("end"),
        "collection": (shard.record.get("collection") or {}).get("digest"),
        "split": shard.record.get("split"),
        "gates": [(g.name, g.blocking, g.min_tests, g.max_skipped) for g in facts.gates]
        if facts else None,
        "--staging-fail-on": facts.fail_on if facts else None,
    }[what]


#: What every shard of one run shares; a difference names the shard and both values.
SHARED = ("run id", "suite digest", "policy digest", "target URL", "subject", "commit",
          "expected version", "version at start", "version at end", "collection", "split",
          "gates", "--staging-fail-on")


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef"
                                                           for c in value):
        return f"sha256:{value[:12]}..."
    if isinstance(value, dict):
        return ", ".join(f"{k} {_shown(v)}" for k, v in value.items()) or "none"
    return "none" if value is None else one_line(value, 80)


def _names(nodeids: Sequence[str]) -> str:
    shown = ", ".join(nodeids[:NAMED])
    return shown + (f" and {len(nodeids) - NAMED} more" if len(nodeids) > NAMED else "")


def run_problems(shards: Sequence[Shard]) -> list[str]:
    """Why the shards that could be read are not the N shards of one run."""
    problems: list[str] = []
    if not shards:
        return problems
    first = shards[0]
    count = first.count
    for shard in shards[1:]:
        if shard.count != count:
            problems.append(f"shards of a different N: {shard.name} is one of {shard.count} "
                            f"shards, {first.name} one of {count}")
    by_index: dict[int, list[Shard]] = {}
    for shard in shards:
        by_index.setdefault(shard.index, []).append(shard)
    for index, same in sorted(by_index.items()):
        if len(same) > 1:
            problems.append(f"shard {index}/{count} given {len(same)} times: "
                            + ", ".join(s.given for s in same))
    missing = [k for k in range(1, count + 1)
               if not any(s.count == count for s in by_index.get(k, []))]
    if missing:
        problems.append(f"{len(missing)} of {count} shards missing: "
                        + ", ".join(f"{k}/{count}" for k in missing)
                        + " (each must be merged, or the run is not complete)")
    for what in SHARED:
        want = _value(first, what)
        for shard in shards[1:]:
            if shard.facts is None and what in ("gates", "--staging-fail-on"):
                continue
            have = _value(shard, what)
            if have != want:
                problems.append(f"{what} differs: {shard.name} has {_shown(have)}, "
                                f"{first.name} has {_shown(want)}")
    for shard in shards:
        collection = shard.record.get("collection") or {}
        if collection.get("collected") is not True:
            problems.append(f"{shard.name} recorded no collection (it ended before "
                            "collecting?)")
        selection = shard.verdict.get("selection") or {}
        if selection.get("partial") is True:
            what = "; ".join(str(f) for f in selection.get("filters") or []) \
                or f"{selection.get('deselected', 0)} test(s) deselected"
            problems.append(f"{shard.name} was a partial run ({one_line(what, 120)})")
    return problems


def coverage_problems(shards: Sequence[Shard], collection: Sequence[str]) -> list[str]:
    """Every test of the collection in exactly one shard's results, none outside it."""
    problems: list[str] = []
    ran: dict[str, list[str]] = {}
    for shard in shards:
        assert shard.facts is not None
        assigned = set(shard.record.get("slice") or [])
        outcomes = {t.nodeid for t in shard.facts.tests}
        outside = sorted(outcomes - assigned)
        if outside:
            problems.append(f"{shard.name} ran {len(outside)} test(s) outside its slice: "
                            f"{_names(outside)}")
        unrecorded = sorted(assigned - outcomes)
        if unrecorded:
            problems.append(f"{shard.name} has no outcome for {len(unrecorded)} test(s) of its "
                            f"slice: {_names(unrecorded)}")
        for nodeid in outcomes:
            ran.setdefault(nodeid, []).append(f"{shard.index}/{shard.count}")
    twice = sorted(n for n, where in ran.items() if len(where) > 1)
    if twice:
        problems.append(f"{len(twice)} test(s) ran in more than one shard: "
                        + _names([f"{n} ({' and '.join(ran[n])})" for n in twice]))
    known = set(collection)
    nowhere = [n for n in dict.fromkeys(collection) if n not in ran]
    if nowhere:
        problems.append(f"{len(nowhere)} test(s) of the collection ran in no shard: "
                        f"{_names(nowhere)}")
    unknown = sorted(n for n in ran if n not in known)
    if unknown:
        problems.append(f"{len(unknown)} test(s) ran that the collection does not hold: "
                        f"{_names(unknown)}")
    return problems


# -- one run's facts --------------------------------------------------------------------------
def _prefixed(shards: Iterable[Shard], get: Callable[[RunFacts], Iterable[str]]) -> list[str]:
    return [f"shard {s.index}/{s.count}: {line}" for s in shards if s.facts is not None
            for line in get(s.facts)]


def _joined(shards: Iterable[Shard], get: Callable[[RunFacts], str]) -> str:
    return "; ".join(_prefixed(shards, lambda f: [get(f)] if get(f) else []))


def _time(text: Any) -> datetime | None:
    try:
        return parse_time(str(text)) if text else None
    except ValueError:
        return None


def _target(shards: Sequence[RunFacts]) -> TargetFacts:
    """The target of the merged run: the shards' (they must agree; a version that moved
    between shards is a version that changed during the run)."""
    first = shards[0].target
    start = first.version_start
    end = next((f.target.version_end for f in shards if f.target.version_end != start),
               first.version_end)
    return TargetFacts(
        url=first.url,
        reachable=all(f.target.reachable for f in shards),
        ready=all(f.target.ready for f in shards),
        ready_after=max((f.target.ready_after or 0.0 for f in shards), default=None)
        if all(f.target.ready for f in shards) else None,
        not_ready_reason="; ".join(dict.fromkeys(
            f.target.not_ready_reason or f"target {f.target.url} was not ready"
            for f in shards if not f.target.ready)),
        redirects=list(dict.fromkeys(r for f in shards for r in f.target.redirects)),
        off_target="; ".join(dict.fromkeys(f.target.off_target for f in shards
                                           if f.target.off_target)),
        sensitive=any(f.target.sensitive for f in shards),
        expected_version=first.expected_version,
        version_start=start,
        version_end=end,
        version_error="; ".join(dict.fromkeys(f.target.version_error for f in shards
                                              if f.target.version_error)),
    )


def _tests(shards: Sequence[Shard], collection: Sequence[str]) -> list[TestRecord]:
    """Every shard's test records, in the order of the collection (a test run twice is there
    twice: the merge is NO-GO for it already)."""
    by_nodeid: dict[str, list[TestRecord]] = {}
    for shard in shards:
        assert shard.facts is not None
        for test in shard.facts.tests:
            by_nodeid.setdefault(test.nodeid, []).append(test)
    ordered = [t for n in dict.fromkeys(collection) for t in by_nodeid.pop(n, [])]
    return ordered + [t for records in by_nodeid.values() for t in records]


def _gate_data(shards: Sequence[RunFacts]) -> dict[str, dict[str, Any]]:
    """The gates' recorded data of all shards, accumulated as one run accumulates its tests'
    (``record.merge``): findings, checks and warnings added up, metrics by name."""
    from pytest_staging.record import merge

    merged: dict[str, dict[str, Any]] = {}
    for facts in shards:
        for gate, data in facts.gate_data.items():
            merge(merged.setdefault(gate, {}), data)
    return merged


def _stopped(facts: RunFacts) -> str:
    """How a shard's run was stopped early ("" when it was not)."""
    if facts.signals:
        return f"by {' and '.join(dict.fromkeys(facts.signals))}"
    return facts.interrupted


def _exit_status(shards: Sequence[RunFacts]) -> int:
    statuses = [f.exit_status for f in shards]
    odd = [s for s in statuses if s not in (0, 1, 5)]
    return odd[0] if odd else 1 if 1 in statuses else 0 if 0 in statuses else 5


def finalize_gates(gate_data: dict[str, dict[str, Any]], gates: Iterable[str],
                   policy: Mapping[str, Any]) -> None:
    """The gates' judgements over all shards' data: the security grade (``security_gate.
    finalize``) and the contract coverage (``contract_gate.summarize``), as a run makes them
    before ``decide()`` (the shards themselves left them to the merge)."""
    from pytest_staging.policy import Policy

    values = Policy(values=dict(policy), gates={})
    names = set(gates)
    if "security" in names:
        from pytest_staging.gates.security import gate as security_gate
        from pytest_staging.gates.security.settings import from_section as security_settings

        security_gate.finalize(gate_data, security_settings(values.section("security")))
    if "contract" in names and values.get("contract.schema"):
        from pytest_staging.gates.contract.gate import METRIC_PREFIX, summarize
        from pytest_staging.gates.contract.settings import from_section as contract_settings

        metrics = (gate_data.get("contract") or {}).get("metrics") or {}
        seeds = {v.get("seed") for k, v in metrics.items()
                 if k.startswith(METRIC_PREFIX) and isinstance(v, dict)}
        seed = next(iter(seeds)) if len(seeds) == 1 else None
        summarize(gate_data, contract_settings(values.section("contract")), seed)


def merged_facts(shards: Sequence[Shard], problems: Sequence[str], collection: Sequence[str],
                 *, signed: bool) -> RunFacts:
    """The one run the usable ``shards`` make of ``collection``, with ``problems`` as merge
    facts."""
    usable = [s for s in shards if s.usable]
    if not usable:
        # Nothing ran here, so nothing was unready or cut short: the problems are the reasons.
        return RunFacts(run_id=uuid.uuid4().hex, complete=True, target=TargetFacts(ready=True),
                        merge_problems=list(problems) or ["no shard verdict to merge"],
                        merged=_record(shards, []))
    first = usable[0]
    facts = [s.facts for s in usable if s.facts is not None]
    lead = facts[0]
    started = [t for t in (_time(f.started) for f in facts) if t]
    finished = [t for t in (_time(f.finished) for f in facts) if t]
    selection = dict(lead.selection)
    if selection:
        selection["partial"] = any(s.facts.selection.get("partial") for s in usable
                                   if s.facts is not None)
        selection["deselected"] = sum(int(f.selection.get("deselected") or 0) for f in facts)
        selection["filters"] = list(dict.fromkeys(x for f in facts
                                                  for x in f.selection.get("filters") or []))
    provenance = dict(lead.provenance)
    if provenance:
        provenance["signed"] = signed
    gate_data = _gate_data(facts)
    finalize_gates(gate_data, [g.name for g in lead.gates], first.record.get("policy") or {})
    return RunFacts(
        run_id=uuid.uuid4().hex,
        started=min(f.started for f in facts) if not started
        else min(started).isoformat(timespec="seconds").replace("+00:00", "Z"),
        # The evidence is as old as its oldest shard: verify --max-age judges that one.
        finished=min(finished).isoformat(timespec="seconds").replace("+00:00", "Z")
        if finished else lead.finished,
        duration=(max(finished) - min(started)).total_seconds() if started and finished
        else max(f.duration for f in facts),
        exit_status=_exit_status(facts),
        complete=all(f.complete for f in facts),
        interrupted=_joined(usable, _stopped),
        internal_error=_joined(usable, lambda f: f.internal_error),
        output_errors=_prefixed(usable, lambda f: f.output_errors),
        usage_errors=_prefixed(usable, lambda f: f.usage_errors),
        plugin_errors=_prefixed(usable, lambda f: f.plugin_errors),
        collection_errors=_prefixed(usable, lambda f: f.collection_errors),
        workers=sum(f.workers for f in facts),
        workers_lost=_prefixed(usable, lambda f: f.workers_lost),
        target=_target(facts),
        gates=list(lead.gates),
        tests=_tests(usable, collection),
        gate_data=gate_data,
        warnings=list(dict.fromkeys(w for f in facts for w in f.warnings)),
        flaky_policy=lead.flaky_policy,
        destructive_skipped=list(dict.fromkeys(n for f in facts for n in f.destructive_skipped)),
        allow_destructive=any(f.allow_destructive for f in facts),
        insecure=any(f.insecure for f in facts),
        versions=dict(lead.versions),
        selection=selection,
        provenance=provenance,
        fail_on=lead.fail_on,
        merged=_record(shards, collection, first.record.get("run_id", "")),
        merge_problems=list(problems),
    )


def _record(shards: Sequence[Shard], collection: Sequence[str], run_id: str = ""
            ) -> dict[str, Any]:
    """The merged verdict's ``merged`` object: what was merged, from where."""
    readable = [s for s in shards if not s.unreadable]
    return {
        "count": readable[0].count if readable else 0,
        "run_id": str(run_id),
        "collection_digest": str(((readable[0].record.get("collection") or {}).get("digest")
                                  if readable else "") or ""),
        "tests": len(collection),
        "shards": [{
            "input": s.given,
            "index": s.index if not s.unreadable else None,
            "count": s.count if not s.unreadable else None,
            "verdict": s.verdict.get("verdict") if not s.unreadable else None,
            "tests": len(s.verdict.get("tests") or []),
            "host": (s.verdict.get("provenance") or {}).get("host"),
            "finished": (s.verdict.get("run") or {}).get("finished"),
        } for s in shards],
    }


def merge(inputs: Sequence[str], keys: Keys, *, signed: bool = False
          ) -> tuple[RunFacts, dict[str, Any]]:
    """The facts and the verdict of the run the shard verdicts at ``inputs`` make (GO only
    when they are every shard of one run and its facts are GO). ``signed``: the merged
    verdict will carry an Ed25519 attestation (recorded in its provenance)."""
    shards = [read_shard(given, keys) for given in inputs]
    problems = [s.unreadable for s in shards if s.unreadable]
    readable = [s for s in shards if not s.unreadable]
    problems += [s.untrusted for s in readable if s.untrusted]
    problems += run_problems(readable)
    usable = [s for s in readable if s.usable]
    collection: list[str] = []
    if usable:
        try:
            collection = collection_of(usable[0].record)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{usable[0].name}: {one_line(exc, 120)}")
        else:
            if not problems:
                problems += coverage_problems(usable, collection)
    if not inputs:
        problems.append("no shard given")
    facts = merged_facts(shards, problems, collection, signed=signed)
    if keys.allow_unsigned and keys.hmac is None and keys.public_key is None:
        facts.warnings.append("shards merged without a signature check (--allow-unsigned): "
                              "nothing here authenticated them")
    verdict = decide(facts)
    if verdict["verdict"] == GO:
        # A shard judges only what the merge judges again: one that was NO-GO alone cannot be
        # part of a GO. Should that ever be, it is a fact against the merge, not a pass.
        against = [s for s in usable if s.verdict.get("verdict") != GO]
        if against:
            first = (against[0].verdict.get("reasons") or ["no reason"])[0]
            facts = replace(facts, merge_problems=[
                f"{against[0].name} was NO-GO on its own: {one_line(first, 160)}"])
            verdict = decide(facts)
    return facts, verdict
