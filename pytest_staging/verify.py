"""Checks a deploy job runs on a verdict before promoting: plain functions over plain data.

``load_verdict`` turns a path into a dict or raises ``VerifyError``; ``verify`` runs the checks
in a fixed order and returns the first one that failed (or None). Every failure is one line a
release manager understands; nothing here ever lets a malformed verdict through.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pytest_staging import attestation
from pytest_staging.canonical import canonical_json
from pytest_staging.durations import format_duration
from pytest_staging.printable import one_line
from pytest_staging.schema import SCHEMA_ID, most_relevant_error
from pytest_staging.signing import DEFAULT_KEY_ENV, verify_signature
from pytest_staging.verdict import GateSpec, RunFacts, TargetFacts, TestRecord, decide

VERDICT_FILE = "verdict.json"
# A verdict that claims to have finished in the future beyond this is rejected: clocks drift a
# little between the CI runner and the deploy job, but not by minutes.
CLOCK_SKEW = timedelta(minutes=5)
#: ``verify --max-age`` when not given: a verdict is evidence about a moment, not forever.
DEFAULT_MAX_AGE = timedelta(hours=24)



@dataclass(frozen=True)
class VerifyError(Exception):
    """A failed check: ``check`` names it (``file``, ``schema``, ``signature``, ``verdict``,
    ``version``, ``age``), ``detail`` says why in one line."""

    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 time; ``Z`` is accepted and a naive time is taken as UTC."""
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    parsed = datetime.fromisoformat(s)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def resolve_path(path: str | Path) -> Path:
    """A report directory means its ``verdict.json``."""
    p = Path(path)
    return p / VERDICT_FILE if p.is_dir() else p


def load_verdict(path: str | Path) -> dict[str, Any]:
    """Read and parse a verdict file (or a report dir's verdict.json) into a dict."""
    p = resolve_path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise VerifyError("file", f"no verdict at {p}") from None
    except OSError as exc:
        raise VerifyError("file", f"cannot read {p}: {one_line(exc.strerror or exc)}") from None
    if not raw.strip():
        raise VerifyError("file", f"{p} is empty")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise VerifyError("file", f"{p} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise VerifyError(
            "file",
            f"{p} is malformed or truncated JSON ({exc.msg}: line {exc.lineno} "
            f"column {exc.colno})",
        ) from None
    except ValueError as exc:
        raise VerifyError("file", f"{p}: {one_line(exc)}") from None
    except RecursionError:
        raise VerifyError("file", f"{p} is nested too deeply to be a verdict") from None
    if not isinstance(data, dict):
        raise VerifyError("file", f"{p} holds a JSON {type(data).__name__}, not a verdict object")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def check_schema(verdict: dict[str, Any], schema: dict[str, Any] | None = None) -> None:
    """Raise VerifyError unless ``verdict`` is a ``pytest-staging/verdict@1`` that validates
    against ``schema`` (default: the shipped one, ``pytest_staging.schema``)."""
    declared = verdict.get("schema")
    if declared != SCHEMA_ID:
        raise VerifyError(
            "schema", f"expected schema {SCHEMA_ID!r}, found {one_line(repr(declared), 80)}"
        )
    try:
        error = most_relevant_error(verdict, schema)
    except (OSError, ValueError) as exc:
        raise VerifyError("schema", f"cannot load the shipped verdict schema: {one_line(exc)}")\
            from None
    if error is not None:
        where, message = error
        raise VerifyError("schema", f"at {where}: {one_line(message, 200)}")


def check_not_shard(verdict: dict[str, Any]) -> str:
    """A shard verdict (``--staging-shard``) is never deployable: only its merge is."""
    shard = verdict.get("shard")
    if shard is None:
        return "not a shard"
    where = f"{one_line(shard.get('index'), 8)}/{one_line(shard.get('count'), 8)}" \
        if isinstance(shard, dict) else "?"
    raise VerifyError("shard", f"this is shard {where} of a sharded run, never deployable "
                               "alone: merge every shard with `pytest-staging merge SHARD... "
                               "--out DIR` and verify DIR")


def check_signature(verdict: dict[str, Any], key: str | None, key_env: str) -> None:
    """With a key, the verdict must be signed and the signature must match."""
    if key is None:
        return
    if not verdict.get("signature"):
        raise VerifyError("signature", f"verdict is not signed but {key_env} is set")
    if not verify_signature(verdict, key):
        raise VerifyError(
            "signature",
            "verdict does not match its signature (edited after signing, or signed with "
            f"another key than {key_env})",
        )


def check_go(verdict: dict[str, Any]) -> None:
    """The verdict must be GO, with no reasons and a complete run."""
    value = verdict.get("verdict")
    reasons = verdict.get("reasons") or []
    if value != "GO":
        first = one_line(reasons[0], 200) if reasons else "no reason given"
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        raise VerifyError("verdict", f"{one_line(value, 20)}: {first}{more}")
    if reasons:
        raise VerifyError("verdict", f"GO but with {len(reasons)} reason(s): inconsistent verdict")
    run = verdict.get("run") or {}
    if run.get("complete") is not True:
        raise VerifyError("verdict", "GO but the run is not marked complete")


def check_version(verdict: dict[str, Any], expected: str) -> None:
    """The run must have observed ``expected`` both at its start and at its end."""
    observed = (verdict.get("target") or {}).get("observed_version") or {}
    for when in ("start", "end"):
        seen = observed.get(when)
        if seen is None:
            raise VerifyError("version", f"expected {expected}, the run observed no version "
                                         f"at its {when}")
        if str(seen) != expected:
            raise VerifyError("version", f"expected {expected}, the run observed "
                                         f"{one_line(seen, 80)} at its {when}")


def check_age(verdict: dict[str, Any], max_age: timedelta, now: datetime) -> None:
    """The run must have finished no longer than ``max_age`` before ``now``."""
    finished = (verdict.get("run") or {}).get("finished")
    if not finished:
        raise VerifyError("age", "the run has no finish time")
    try:
        at = parse_time(str(finished))
    except ValueError:
        raise VerifyError("age", f"unreadable finish time {one_line(finished, 60)!r}") from None
    age = now - at
    if age < -CLOCK_SKEW:
        raise VerifyError("age", f"finished {format_duration(age)} in the future ({finished})")
    if age > max_age:
        raise VerifyError("age", f"finished {format_duration(age)} ago ({finished}), older than "
                                 f"--max-age {format_duration(max_age)}")


def check_hmac(verdict: dict[str, Any], key: str | None, key_env: str,
               no_signature_check: bool) -> str:
    """The HMAC signature: checked with a key; a signed file without a key is refused (it
    cannot be checked) unless ``--no-signature-check``."""
    if key is not None:
        check_signature(verdict, key, key_env)
        return f"HMAC signature ok ({key_env})"
    if verdict.get("signature"):
        if no_signature_check:
            return f"HMAC signature present, not checked ({key_env} unset, " \
                   "--no-signature-check)"
        raise VerifyError("signature", f"the verdict is HMAC-signed but {key_env} is not set "
                                       "here, so the signature cannot be checked (set it, or "
                                       "pass --no-signature-check)")
    return f"not HMAC-signed, {key_env} unset"


def read_public_key(path: str) -> Any:
    """The Ed25519 public key in the PEM file at ``path`` (``--public-key``), or VerifyError."""
    try:
        with open(path, "rb") as handle:
            pem = handle.read(64 * 1024)
    except OSError as exc:
        raise VerifyError("public-key", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return attestation.load_public_key(pem, path)
    except attestation.AttestationError as exc:
        raise VerifyError("public-key", str(exc)) from None


def _read_attestation(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > attestation.MAX_FILE_BYTES:
            raise VerifyError("attestation", f"{path} is too large ({size} bytes)")
        return path.read_bytes()
    except FileNotFoundError:
        raise VerifyError("attestation", f"no {path.name} beside the verdict (the run was "
                                         "not signed with --staging-signing-key?)") from None
    except OSError as exc:
        raise VerifyError("attestation", f"cannot read {path}: "
                                         f"{one_line(exc.strerror or exc)}") from None


def _envelopes(raw: bytes, path: Path) -> list[Any]:
    try:
        lines = [line for line in raw.decode("utf-8").splitlines() if line.strip()]
        return [json.loads(line, parse_constant=_reject_constant) for line in lines[:8]]
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise VerifyError("attestation", f"{path.name} is not JSON Lines of DSSE envelopes")\
            from None


def attested_verdict(verdict_path: Path, public_key: Any) -> tuple[dict[str, Any],
                                                                 dict[str, Any]]:
    """Open the bundle beside ``verdict_path`` with ``public_key``: return the test-result
    Statement and the Statement carrying the whole verdict, or raise VerifyError."""
    folder = verdict_path.parent
    bundle = folder / attestation.BUNDLE_FILE
    statements: dict[str, dict[str, Any]] = {}
    for envelope in _envelopes(_read_attestation(bundle), bundle):
        try:
            payload = attestation.open_envelope(envelope, public_key)
            stmt = attestation.read_statement(payload)
        except attestation.AttestationError as exc:
            raise VerifyError("attestation", f"{bundle.name}: {exc}") from None
        if stmt["predicateType"] in statements:
            raise VerifyError("attestation", f"{bundle.name}: two statements of type "
                                             f"{stmt['predicateType']}")
        statements[stmt["predicateType"]] = stmt
    for kind in (attestation.TEST_RESULT_PREDICATE, attestation.VERDICT_PREDICATE):
        if kind not in statements:
            raise VerifyError("attestation", f"{bundle.name} has no signed {kind} statement")
    result, full = (statements[attestation.TEST_RESULT_PREDICATE],
                    statements[attestation.VERDICT_PREDICATE])
    # The stand-alone envelope, when present, must attest what the bundle's first one does.
    single = folder / attestation.ENVELOPE_FILE
    if single.exists():
        try:
            envelope = json.loads(_read_attestation(single).decode("utf-8"),
                                  parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise VerifyError("attestation", f"{single.name} is not a JSON DSSE envelope")\
                from None
        try:
            stmt = attestation.read_statement(attestation.open_envelope(envelope, public_key))
        except attestation.AttestationError as exc:
            raise VerifyError("attestation", f"{single.name}: {exc}") from None
        if stmt != result:
            raise VerifyError("attestation", f"{single.name} and {bundle.name} attest "
                                             "different test results")
    return result, full


def check_attestation(verdict: dict[str, Any], verdict_path: Path, public_key: Any,
                      no_signature_check: bool) -> str:
    """With a public key: the signed statements must verify and attest exactly this verdict.
    Without one, a verdict with attestations beside it (or claiming to be signed) is refused
    unless ``--no-signature-check``."""
    folder = verdict_path.parent
    if public_key is None:
        present = [n for n in (attestation.ENVELOPE_FILE, attestation.BUNDLE_FILE)
                   if (folder / n).exists()]
        claims = (verdict.get("provenance") or {}).get("signed") is True
        if not present and not claims:
            return "no attestation, no --public-key"
        if no_signature_check:
            return "attestation present, not checked (--no-signature-check)"
        what = present[0] if present else "the verdict says it was signed"
        raise VerifyError("attestation", f"{what}: an Ed25519-signed verdict cannot be checked "
                                         "without --public-key (or pass --no-signature-check)")
    result, full = attested_verdict(verdict_path, public_key)
    body = {k: v for k, v in verdict.items() if k != "signature"}
    if canonical_json(full["predicate"]) != canonical_json(body):
        raise VerifyError("attestation", f"{verdict_path.name} differs from the verdict the "
                                         "attestation signed (edited after signing)")
    subject = str((body.get("provenance") or {}).get("subject") or "")
    expected_subject = [attestation.subject_descriptor(subject)]
    if full["subject"] != expected_subject or result["subject"] != expected_subject:
        raise VerifyError("attestation", "the attested subject is not the verdict's subject")
    if canonical_json(result["predicate"]) != canonical_json(
            attestation.result_predicate(body)):
        raise VerifyError("attestation", "the signed test-result predicate does not match the "
                                         "verdict (statements from different runs?)")
    return f"Ed25519 attestation ok (keyid {attestation.key_id(public_key)[:16]}...)"


def _facts_from(verdict: dict[str, Any]) -> RunFacts:
    """The facts a verdict file records, as ``decide()`` takes them."""
    run = verdict.get("run") or {}
    target = verdict.get("target") or {}
    observed = target.get("observed_version") or {}
    gates = verdict.get("gates") or {}
    messages = {f.get("nodeid"): str(f.get("message", ""))
                for g in gates.values() if isinstance(g, dict)
                for f in g.get("failures") or [] if isinstance(f, dict)}
    tests = [TestRecord(nodeid=str(t["nodeid"]), gate=str(t["gate"]), outcome=str(t["outcome"]),
                        duration=float(t.get("duration") or 0.0),
                        blocking=bool(t.get("blocking", True)), flaky=bool(t.get("flaky")),
                        message=messages.get(t["nodeid"], ""))
             for t in verdict.get("tests") or []]
    specs = [GateSpec(**_known(GateSpec, {
                 "name": str(name), "blocking": bool(g.get("blocking", True)),
                 "min_tests": int(g.get("min_tests", 1)),
                 "description": str(g.get("description", "")),
                 "max_skipped": g.get("max_skipped")}))
             for name, g in gates.items()]
    gate_data = {str(name): {"checks": list(g.get("checks") or []),
                             "findings": list(g.get("findings") or []),
                             "metrics": dict(g.get("metrics") or {})}
                 for name, g in gates.items()}
    ready_after = target.get("ready_after", 0.0 if target.get("reachable") else None)
    return RunFacts(**_known(RunFacts, {
        "signals": [str(x) for x in run.get("signals") or []]}),
        run_id=str(run.get("id", "")), started=str(run.get("started", "")),
        finished=run.get("finished"), duration=float(run.get("duration") or 0.0),
        exit_status=int(run.get("exit_status", 1)), complete=run.get("complete") is True,
        workers=int(run.get("workers") or 0),
        target=TargetFacts(url=str(target.get("url", "")),
                           reachable=bool(target.get("reachable")),
                           ready=ready_after is not None, ready_after=ready_after,
                           redirects=list(target.get("redirects") or []),
                           sensitive=bool(target.get("sensitive")),
                           expected_version=target.get("expected_version"),
                           version_start=observed.get("start"),
                           version_end=observed.get("end")),
        gates=specs, tests=tests, gate_data=gate_data,
        destructive_skipped=list(verdict.get("destructive_skipped") or []),
        allow_destructive=bool(run.get("allow_destructive")),
        insecure=bool(run.get("insecure")),
        selection=dict(verdict.get("selection") or {}),
        provenance=dict(verdict.get("provenance") or {}),
    )


def _known(cls: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Only the fields ``cls`` has: facts a newer or older ``decide()`` may not take."""
    return {k: v for k, v in values.items() if k in cls.__dataclass_fields__}


def check_rederived(verdict: dict[str, Any]) -> str:
    """Decide again from the file's own gates, tests, checks and target: a GO must come out
    GO, and every gate must have the status its tests and checks give it."""
    try:
        derived = decide(_facts_from(verdict))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VerifyError("rederive", f"cannot re-derive the verdict from its own facts "
                                      f"({type(exc).__name__}: {one_line(exc, 80)})") from None
    if derived["verdict"] != verdict.get("verdict"):
        first = derived["reasons"][0] if derived["reasons"] else "no reason"
        raise VerifyError("rederive", f"the file says {one_line(verdict.get('verdict'), 10)} "
                                      f"but its own facts give {derived['verdict']}: "
                                      f"{one_line(first, 200)}")
    if verdict.get("verdict") == "GO":
        # Whatever decide() makes of it: a blocking test without a pass cannot stand in a GO.
        gates = verdict.get("gates") or {}
        for test in verdict.get("tests") or []:
            gate = gates.get(test.get("gate")) or {}
            if (test.get("outcome") in ("failed", "error", "incomplete")
                    and test.get("blocking", True) and gate.get("blocking", True)):
                raise VerifyError("rederive", f"the file says GO but blocking test "
                                              f"{one_line(test.get('nodeid'), 120)} is "
                                              f"{one_line(test.get('outcome'), 20)}")
    for name, gate in (verdict.get("gates") or {}).items():
        again = derived["gates"].get(name, {}).get("status")
        if gate.get("status") != again:
            raise VerifyError("rederive", f"gate {one_line(name, 40)} says "
                                          f"{one_line(gate.get('status'), 20)} but its tests "
                                          f"and checks make it {again}")
    return f"re-derived {derived['verdict']} from {len(verdict.get('tests') or [])} test(s)"


def check_selection(verdict: dict[str, Any], allow_partial: bool) -> str:
    """A partial run (or one that does not say what it selected) is refused unless allowed."""
    selection = verdict.get("selection")
    run = verdict.get("run") or {}
    if not isinstance(selection, dict):
        if allow_partial:
            return "no selection record (older verdict), allowed by --allow-partial"
        raise VerifyError("partial", "the verdict has no selection record (an older file), so "
                                     "it cannot prove the run was complete (--allow-partial)")
    if selection.get("partial") is True or run.get("partial") is True:
        what = ", ".join(str(f) for f in selection.get("filters") or []) or "a subset"
        if allow_partial:
            return f"partial run ({one_line(what, 120)}), allowed by --allow-partial"
        raise VerifyError("partial", f"partial run: {one_line(what, 160)}; "
                                     f"{selection.get('deselected', 0)} test(s) deselected "
                                     "(pass --allow-partial to accept it)")
    return "complete selection"


def check_required_gates(verdict: dict[str, Any], required: list[str] | None,
                         allow_partial: bool = False) -> str:
    """Every required gate ran and passed. Default: the blocking gates the policy declared;
    with ``allow_partial``, those of them the run selected (a ``--staging-gate`` subset)."""
    gates = verdict.get("gates") or {}
    selection = verdict.get("selection") or {}
    if required:
        names, why = list(dict.fromkeys(required)), "--require-gate"
    else:
        declared = selection.get("gates_blocking")
        chosen = selection.get("gates_selected")
        if isinstance(declared, list) and allow_partial and isinstance(chosen, list):
            names = [str(n) for n in declared if n in chosen]
            why = "blocking gates the partial run selected"
        elif isinstance(declared, list):
            names, why = [str(n) for n in declared], "blocking gates of the policy"
        else:
            names = [str(n) for n, g in gates.items() if isinstance(g, dict)
                     and g.get("blocking", True)]
            why = "blocking gates in the verdict"
    for name in names:
        gate = gates.get(name)
        if not isinstance(gate, dict):
            raise VerifyError("gates", f"required gate {one_line(name, 40)} did not run "
                                       f"({why})")
        counts = gate.get("counts") or {}
        ran = sum(int(counts.get(k) or 0) for k in ("passed", "failed", "error"))
        if gate.get("status") not in ("passed", "advisory") or ran < 1:
            raise VerifyError("gates", f"required gate {one_line(name, 40)} is "
                                       f"{one_line(gate.get('status'), 20)} with {ran} test(s) "
                                       f"run ({why})")
    return f"gates passed: {', '.join(names) or '(none required)'} ({why})"


def _provenance(verdict: dict[str, Any], field: str, label: str) -> Any:
    prov = verdict.get("provenance")
    if not isinstance(prov, dict):
        raise VerifyError(label, "the verdict has no provenance to bind to")
    return prov.get(field)


def check_subject(verdict: dict[str, Any], expected: str) -> str:
    found = _provenance(verdict, "subject", "subject")
    if found != expected:
        raise VerifyError("subject", f"expected {one_line(expected, 120)}, the verdict is for "
                                     f"{one_line(found, 120)}")
    return f"subject {one_line(expected, 120)}"


def check_commit(verdict: dict[str, Any], expected: str) -> str:
    found = _provenance(verdict, "commit", "commit")
    want = expected.strip().lower()
    ok = isinstance(found, str) and (found == want or (
        len(want) >= 7 and re.fullmatch(r"[0-9a-f]+", want) is not None
        and found.startswith(want)))
    if not ok:
        raise VerifyError("commit", f"expected suite commit {one_line(expected, 64)}, the "
                                    f"verdict was made at {one_line(found, 64)}")
    return f"commit {found}"


def check_run_id(verdict: dict[str, Any], expected: str, source: str) -> str:
    prov = verdict.get("provenance")
    found = ((prov or {}).get("ci") or {}).get("run_id") if isinstance(prov, dict) else None
    if str(found) != expected or found is None:
        raise VerifyError("run-id", f"expected CI run {one_line(expected, 80)} ({source}), the "
                                    f"verdict comes from run {one_line(found, 80)}")
    return f"CI run {expected} ({source})"


def check_policy_digest(verdict: dict[str, Any], expected: str) -> str:
    found = _provenance(verdict, "policy_digest", "policy")
    want = expected.strip().lower().removeprefix("sha256:")
    if found != want:
        raise VerifyError("policy", f"policy digest {one_line(found, 70)} is not the expected "
                                    f"{one_line(want, 70)} (policy edited or weakened?)")
    return f"policy digest {want[:16]}..."


@dataclass
class VerifyOptions:
    """What ``verify`` checks beyond the verdict itself (the CLI options)."""

    key: str | None = None
    key_env: str = DEFAULT_KEY_ENV
    public_key: Any = None
    no_signature_check: bool = False
    expect_version: str | None = None
    max_age: timedelta | None = None
    now: datetime | None = None
    allow_partial: bool = True
    require_gates: list[str] | None = None
    rederive: bool = False
    expect_subject: str | None = None
    expect_commit: str | None = None
    expect_run_id: str | None = None
    run_id_source: str = "--expect-run-id"
    expect_policy_digest: str | None = None
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class CheckResult:
    check: str
    ok: bool | None  # None: not applicable / skipped
    detail: str


def run_checks(verdict: dict[str, Any], options: VerifyOptions,
               path: Path | None = None) -> list[CheckResult]:
    """Every check in order, each with its result (for ``--explain``); never raises."""
    o = options
    steps: list[tuple[str, Any]] = [
        ("shard", lambda: check_not_shard(verdict)),
        ("schema", lambda: check_schema(verdict, o.schema) or "validates"),
        ("signature", lambda: check_hmac(verdict, o.key, o.key_env, o.no_signature_check)),
    ]
    if path is not None:
        steps.append(("attestation", lambda: check_attestation(
            verdict, path, o.public_key, o.no_signature_check)))
    steps.append(("verdict", lambda: check_go(verdict) or "GO, no reasons, run complete"))
    if o.rederive:
        steps.append(("rederive", lambda: check_rederived(verdict)))
    steps.append(("partial", lambda: check_selection(verdict, o.allow_partial)))
    if o.require_gates is not None:
        steps.append(("gates", lambda: check_required_gates(verdict, o.require_gates,
                                                                   o.allow_partial)))
    optional = [
        ("version", o.expect_version, lambda: check_version(verdict, o.expect_version or "")
         or f"version {o.expect_version} at start and end"),
        ("age", o.max_age, lambda: check_age(verdict, o.max_age or timedelta(0),
                                             o.now or datetime.now(timezone.utc))
         or ("not in the future (--max-age none)" if o.max_age == timedelta.max
             else f"finished within {format_duration(o.max_age or timedelta(0))}")),
        ("subject", o.expect_subject, lambda: check_subject(verdict, o.expect_subject or "")),
        ("commit", o.expect_commit, lambda: check_commit(verdict, o.expect_commit or "")),
        ("run-id", o.expect_run_id, lambda: check_run_id(verdict, o.expect_run_id or "",
                                                          o.run_id_source)),
        ("policy", o.expect_policy_digest,
         lambda: check_policy_digest(verdict, o.expect_policy_digest or "")),
    ]
    results = [_run(name, step) for name, step in steps]
    for name, wanted, step in optional:
        results.append(_run(name, step) if wanted is not None
                       else CheckResult(name, None, "not asked"))
    return results


def _run(name: str, step: Any) -> CheckResult:
    try:
        detail = step()
    except VerifyError as exc:
        return CheckResult(exc.check, False, exc.detail)
    except Exception as exc:  # a malformed field must refuse, never crash
        return CheckResult(name, False, f"cannot check ({type(exc).__name__}: "
                                        f"{one_line(exc, 120)})")
    return CheckResult(name, True, str(detail or "ok"))


def first_failure(results: list[CheckResult]) -> VerifyError | None:
    for result in results:
        if result.ok is False:
            return VerifyError(result.check, result.detail)
    return None


def verify(
    verdict: dict[str, Any],
    *,
    key: str | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    expect_version: str | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
    schema: dict[str, Any] | None = None,
    **more: Any,
) -> None:
    """Run every check in order; raise VerifyError on the first that fails. ``more`` takes
    any other ``VerifyOptions`` field; the CLI's fail-closed defaults (24h age, no partial
    runs, required gates, re-derivation) are opt-in here."""
    path = more.pop("path", None)
    options = VerifyOptions(key=key, key_env=key_env, expect_version=expect_version,
                            max_age=max_age, now=now, schema=schema, **more)
    error = first_failure(run_checks(verdict, options, path))
    if error is not None:
        raise error
