"""Checks a deploy job runs on a verdict before promoting: plain functions over plain data.

``load_verdict`` turns a path into a dict or raises ``VerifyError``; ``verify`` runs the checks
in a fixed order and returns the first one that failed (or None). Every failure is one line a
release manager understands; nothing here ever lets a malformed verdict through.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pytest_staging import attestation
from pytest_staging.canonical import canonical_json
from pytest_staging.durations import format_duration
from pytest_staging.exit_codes import verify_exit_code
from pytest_staging.printable import one_line
from pytest_staging.schema import SCHEMA_ID, most_relevant_error
from pytest_staging.signing import DEFAULT_KEY_ENV, verify_signature
from pytest_staging.url_headers import SettingsError, target_identity
from pytest_staging.verdict import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    GateSpec,
    RunFacts,
    TargetFacts,
    TestRecord,
    blocking_evidence,
    decide,
    gate_unmet,
)

VERDICT_FILE = "verdict.json"
# A verdict that claims to have finished in the future beyond this is rejected: clocks drift a
# little between the CI runner and the deploy job, but not by minutes.
CLOCK_SKEW = timedelta(minutes=5)
#: ``verify --max-age`` when not given: a verdict is evidence about a moment, not forever.
DEFAULT_MAX_AGE = timedelta(hours=24)



@dataclass(frozen=True)
class VerifyError(Exception):
    """A failed check: ``check`` names it (``file``, ``schema``, ``signature``,
    ``attestation``, ``authentication``, ``verdict``, ``rederive``, ``partial``, ``gates``,
    ``version``, ``age``, ``target``, ``subject``, ...; ``usage`` for options that cannot be
    used), ``detail`` says why in one line."""

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
    cannot be checked) unless ``no_signature_check`` (``--no-signature-check``, implied by
    ``--allow-unsigned``). Passing this check without a key authenticates nothing: that is
    ``check_authenticated``'s to judge."""
    if key is not None:
        check_signature(verdict, key, key_env)
        return f"HMAC signature ok ({key_env})"
    if verdict.get("signature"):
        if no_signature_check:
            return f"HMAC signature present, not checked ({key_env} unset or empty)"
        raise VerifyError("signature", f"the verdict is HMAC-signed but {key_env} is unset or "
                                       "empty here, so the signature cannot be checked (set it, or "
                                       "pass --no-signature-check when --public-key checks "
                                       "the attestation)")
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


def check_attestation(verdict: dict[str, Any], verdict_path: Path | None, public_key: Any,
                      no_signature_check: bool) -> str:
    """With a public key: the signed statements must verify and attest exactly this verdict.
    Without one, a verdict with attestations beside it (or claiming to be signed) is refused
    unless ``no_signature_check`` (``--no-signature-check``, implied by ``--allow-unsigned``).
    ``verdict_path`` None (a verdict handed over as data): no file beside it to look at."""
    if public_key is None:
        present = [] if verdict_path is None else [
            n for n in (attestation.ENVELOPE_FILE, attestation.BUNDLE_FILE)
            if (verdict_path.parent / n).exists()]
        prov = verdict.get("provenance")
        claims = isinstance(prov, dict) and prov.get("signed") is True
        if not present and not claims:
            return "no attestation, no --public-key"
        if no_signature_check:
            return "attestation present, not checked (no --public-key)"
        what = present[0] if present else "the verdict says it was signed"
        raise VerifyError("attestation", f"{what}: an Ed25519-signed verdict cannot be checked "
                                         "without --public-key (pass it, or "
                                         "--no-signature-check when the HMAC key checks the "
                                         "verdict)")
    if verdict_path is None:
        raise VerifyError("attestation", "a public key needs the verdict's path: the "
                                         "attestation is the file beside it")
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


def check_authenticated(*, hmac: bool | None, attested: bool | None, allow_unsigned: bool,
                        key_env: str, unchecked: list[str]) -> str:
    """Trust only what was checked: a signature verified here (``hmac``: with the key from
    ``key_env``; ``attested``: the Ed25519 attestation with a public key; each None when there
    was nothing to check it with, False when its check failed), else a refusal, unless
    ``allow_unsigned`` accepts the verdict knowingly. ``unchecked``: signatures the verdict
    carries that could not be checked here; they authenticate nothing."""
    checked = [what for what, done in ((f"HMAC ({key_env})", hmac),
                                       ("Ed25519 attestation", attested)) if done]
    if checked:
        return f"authenticated by {' and '.join(checked)}"
    if False in (hmac, attested):
        raise VerifyError("authentication", "the signature check above failed: nothing "
                                            "authenticates this verdict")
    carried = f"; it carries {' and '.join(unchecked)}, not checked here" if unchecked else ""
    if allow_unsigned:
        return f"NOT AUTHENTICATED: no signature checked{carried} (--allow-unsigned)"
    raise VerifyError("authentication", f"no signature was checked ({key_env} is unset or "
                                        f"empty, no --public-key{carried}): set {key_env} to "
                                        "the run's HMAC key, pass --public-key FILE, or pass "
                                        "--allow-unsigned to accept an unauthenticated verdict")


def _signatures_carried(verdict: dict[str, Any], path: Path | None) -> list[str]:
    """The signatures a verdict carries or claims, whether or not they can be checked here."""
    found = ["an HMAC signature"] if verdict.get("signature") else []
    prov = verdict.get("provenance")
    beside = path is not None and any((path.parent / n).exists() for n in (
        attestation.ENVELOPE_FILE, attestation.BUNDLE_FILE))
    if beside or (isinstance(prov, dict) and prov.get("signed") is True):
        found.append("an attestation")
    return found


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
    history = verdict.get("history")
    problems = [str(p) for p in (history.get("problems") or [])] \
        if isinstance(history, dict) else []
    return RunFacts(**_known(RunFacts, {
        "signals": [str(x) for x in run.get("signals") or []],
        # As judged on the day of the run (``expired``), like the gates' accepted risks.
        "quarantine": [dict(e) for e in verdict.get("quarantine") or [] if isinstance(e, dict)],
        # The history store's problems are warnings that never block (not even under
        # fail_on "warn"): they go back where decide() took them from, not among the others.
        "history": {"problems": problems} if problems else {},
        # Every other warning the file records, again: under fail_on "warn" each is a reason.
        "warnings": [str(w) for w in verdict.get("warnings") or [] if str(w) not in problems],
        "fail_on": str(run.get("fail_on") or "error"),
        "flaky_policy": str(run.get("flaky_policy") or "warn")}),
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
                    and test.get("blocking", True) and gate.get("blocking", True)
                    and not _quarantined_now(verdict, test)):
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


def _quarantined_now(verdict: dict[str, Any], test: dict[str, Any]) -> bool:
    """Whether an unexpired quarantine entry of the verdict covers this failed test."""
    from pytest_staging.quarantine import covering

    entries = [e for e in verdict.get("quarantine") or [] if isinstance(e, dict)]
    entry = covering(entries, str(test.get("nodeid") or ""))
    return (entry is not None and entry.get("expired") is False
            and test.get("outcome") in ("failed", "error"))


def rederived_judgement(verdict: dict[str, Any]) -> str:
    """The judgement the file's own facts give: ``passed`` for a GO; for a NO-GO, ``failed``
    when its tests and checks hold evidence that the release is bad (``decide()`` on them, the
    re-derivation above), else ``inconclusive`` (what could not be judged, an interruption or
    an unready target, is recorded in the reasons, not in the facts)."""
    if verdict.get("verdict") == "GO":
        return PASSED
    return FAILED if decide(_facts_from(verdict))["judgement"] == FAILED else INCONCLUSIVE


def check_judgement(verdict: dict[str, Any]) -> str:
    """The recorded judgement must be the one the file's facts give (a ``failed`` edited into
    ``inconclusive`` to pause instead of roll back, or the other way, is refused). A verdict
    written before judgements existed has none: it is judged from its facts."""
    try:
        derived = rederived_judgement(verdict)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VerifyError("judgement", f"cannot re-derive the judgement from its own facts "
                                       f"({type(exc).__name__}: {one_line(exc, 80)})") from None
    recorded = verdict.get("judgement")
    if recorded is None:
        return f"no judgement recorded (an older verdict); its facts give {derived}"
    if recorded != derived:
        raise VerifyError("judgement", f"the file says {one_line(recorded, 20)} but its own "
                                       f"facts give {derived}")
    return f"judgement {derived}"


def decision(verdict: dict[str, Any], results: list[CheckResult]) -> tuple[int,
                                                                           VerifyError | None]:
    """``verify``'s exit status (``exit_codes.verify_exit_code``) and the failed check that
    decided it (the one line to print), from every check's result."""
    failed = [r for r in results if r.ok is False]
    judgement = verdict.get("judgement")
    if judgement is None and failed:
        try:
            judgement = rederived_judgement(verdict)
        except (KeyError, TypeError, ValueError, AttributeError):
            judgement = INCONCLUSIVE
    code, index = verify_exit_code([r.check for r in failed], judgement)
    if index < 0:
        return code, None
    check, detail = failed[index].check, failed[index].detail
    if check == "verdict" and judgement in (FAILED, INCONCLUSIVE):
        detail = re.sub(r"^NO-GO: ", f"NO-GO ({judgement}): ", detail)
    return code, VerifyError(check, detail)


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
    if selection.get("not_run"):
        # Not a subset: the run was blocked (the target was not ready) before its tests.
        return f"complete selection; {selection['not_run']} collected test(s) not run"
    return "complete selection"


def check_gate_options(required: list[str] | None, skip: list[str] | None,
                       allow_partial: bool) -> tuple[list[str], list[str]]:
    """``--require-gate`` and ``--skip-gate`` as given, checked against each other: the gates
    required explicitly and the gates skipped, each once."""
    explicit = [str(n) for n in dict.fromkeys(required or [])]
    skipped = [str(n) for n in dict.fromkeys(skip or [])]
    if skipped and not allow_partial:
        raise VerifyError("usage", "--skip-gate only applies with --allow-partial (a complete "
                                   "run has run every blocking gate)")
    for name in skipped:
        if name in explicit:
            raise VerifyError("usage", f"--skip-gate {one_line(name, 40)} and --require-gate "
                                       f"{one_line(name, 40)}: give one of them")
    return explicit, skipped


def check_required_gates(verdict: dict[str, Any], required: list[str] | None = None,
                         allow_partial: bool = False, skip: list[str] | None = None) -> str:
    """Every blocking gate the policy declared (``selection.gates_blocking``; an older verdict:
    its blocking gates) satisfies its own spec by the rule ``decide()`` applies
    (``verdict.gate_unmet``, on the gates re-derived from the file's tests), minus only the
    gates ``skip`` names (``--skip-gate``, with ``--allow-partial``). ``required``
    (``--require-gate``) adds gates that must have run at least one test and passed, whatever
    the policy says. A verdict with no blocking test run is refused: consent to a partial run
    is not consent to a run that tested nothing blocking."""
    gates = verdict.get("gates")
    if not isinstance(gates, dict):
        raise VerifyError("gates", "the verdict has no gates object")
    selection = verdict.get("selection")
    declared = selection.get("gates_blocking") if isinstance(selection, dict) else None
    if isinstance(declared, list):
        policy, why = [str(n) for n in declared], "blocking gates of the policy"
    else:
        policy = [str(n) for n, g in gates.items() if isinstance(g, dict)
                  and g.get("blocking", True) is not False]
        why = "blocking gates in the verdict"
    explicit, skipped = check_gate_options(required, skip, allow_partial)
    for name in skipped:
        if name not in policy:
            raise VerifyError("usage", f"--skip-gate {one_line(name, 40)} is not one of the "
                                       f"{why}: {one_line(', '.join(policy) or 'none', 160)}")
    derived = decide(_facts_from(verdict))["gates"]
    names = [n for n in policy if n not in skipped]
    names += [n for n in explicit if n not in names]
    shown = []
    for name in names:
        source = "--require-gate" if name in explicit and name not in policy else why
        entry = derived.get(name)
        if not isinstance(gates.get(name), dict) or entry is None:
            raise VerifyError("gates", f"required gate {one_line(name, 40)} did not run "
                                       f"({source})")
        problem = gate_unmet(name, entry)
        if problem is None and name in explicit:
            if int(entry.get("ran") or 0) < 1:
                problem = f"is {entry.get('status')} with 0 test(s) run"
            elif entry.get("blocking") is False and entry.get("status") != "passed":
                problem = "had failures (an advisory gate: they did not block the run)"
        if problem is not None:
            raise VerifyError("gates", f"required gate {one_line(name, 40)} {problem} "
                                       f"({'--require-gate' if name in explicit else source})")
        empty = entry.get("status") == "empty"
        shown.append(f"{name} (empty, min_tests = {entry.get('min_tests')})" if empty else name)
    if not blocking_evidence(derived):
        raise VerifyError("gates", "no blocking test ran: nothing in this verdict could have "
                                   "blocked a bad release (only advisory gates or tests ran)")
    detail = f"gates passed: {', '.join(shown) or '(none required)'} ({why}"
    detail += f"{', --require-gate' if any(n not in policy for n in explicit) else ''})"
    if skipped:
        detail += f"; not required: {', '.join(skipped)} (--skip-gate)"
    return detail


def check_target(verdict: dict[str, Any], expected: str) -> str:
    """The run tested ``expected`` (``--expect-target``): scheme, host, port and path compared
    as ``url_headers.target_identity`` normalises them, the way the run normalised
    ``--staging-url``; credentials and the query are in neither side of the comparison."""
    try:
        want = target_identity(expected)
    except SettingsError as exc:
        raise VerifyError("usage", f"--expect-target: {one_line(exc, 200)}"
                          .replace("staging URL ", "")) from None
    target = verdict.get("target")
    recorded = target.get("url") if isinstance(target, dict) else None
    if not isinstance(recorded, str) or not recorded.strip():
        raise VerifyError("target", f"expected target {want}, the verdict records no target URL")
    try:
        found = target_identity(recorded)
    except SettingsError:
        raise VerifyError("target", f"expected target {want}, the verdict's target "
                                    f"{one_line(recorded, 120)!r} is not a URL") from None
    if found != want:
        raise VerifyError("target", f"expected target {want}, the verdict tested {found}")
    return f"target {found}"


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
    """What ``verify`` checks beyond the verdict itself (the CLI options). The defaults are the
    command's: nothing unauthenticated, partial or stale is accepted unless a field says so."""

    key: str | None = None
    key_env: str = DEFAULT_KEY_ENV
    public_key: Any = None
    #: A signature the verdict carries that cannot be checked here is not a reason to refuse
    #: (another one must still be checked, unless ``allow_unsigned``).
    no_signature_check: bool = False
    #: Accept a verdict no signature was checked for (and say so).
    allow_unsigned: bool = False
    expect_version: str | None = None
    #: None: ``DEFAULT_MAX_AGE``; ``timedelta.max``: no limit (never in the future, though).
    max_age: timedelta | None = DEFAULT_MAX_AGE
    now: datetime | None = None
    allow_partial: bool = False
    #: Gates that must have run and passed besides the policy's blocking gates (None: no gate
    #: check at all).
    require_gates: list[str] | None = field(default_factory=list)
    #: Blocking gates of the policy a partial run may leave out (with ``allow_partial``).
    skip_gates: list[str] = field(default_factory=list)
    rederive: bool = True
    expect_target: str | None = None
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
    max_age = DEFAULT_MAX_AGE if o.max_age is None else o.max_age
    lenient = o.no_signature_check or o.allow_unsigned
    results: list[CheckResult] = []

    def run(name: str, step: Any) -> CheckResult:
        results.append(_run(name, step))
        return results[-1]

    run("shard", lambda: check_not_shard(verdict))
    run("schema", lambda: check_schema(verdict, o.schema) or "validates")
    hmac = run("signature", lambda: check_hmac(verdict, o.key, o.key_env, lenient))
    attested = run("attestation", lambda: check_attestation(verdict, path, o.public_key,
                                                            lenient))
    run("authentication", lambda: check_authenticated(
        hmac=None if o.key is None else hmac.ok is True,
        attested=None if o.public_key is None else attested.ok is True,
        allow_unsigned=o.allow_unsigned, key_env=o.key_env,
        unchecked=[s for s, can in (("an HMAC signature", o.key is not None),
                                    ("an attestation", o.public_key is not None))
                   if not can and s in _signatures_carried(verdict, path)]))
    run("verdict", lambda: check_go(verdict) or "GO, no reasons, run complete")
    if o.rederive:
        run("rederive", lambda: check_rederived(verdict))
        run("judgement", lambda: check_judgement(verdict))
    run("partial", lambda: check_selection(verdict, o.allow_partial))
    if o.require_gates is not None:
        run("gates", lambda: check_required_gates(verdict, o.require_gates, o.allow_partial,
                                                  o.skip_gates))
    optional = [
        ("version", o.expect_version, lambda: check_version(verdict, o.expect_version or "")
         or f"version {o.expect_version} at start and end"),
        ("age", max_age, lambda: check_age(verdict, max_age, o.now or datetime.now(timezone.utc))
         or ("not in the future (--max-age none)" if max_age == timedelta.max
             else f"finished within {format_duration(max_age)}")),
        ("target", o.expect_target, lambda: check_target(verdict, o.expect_target or "")),
        ("subject", o.expect_subject, lambda: check_subject(verdict, o.expect_subject or "")),
        ("commit", o.expect_commit, lambda: check_commit(verdict, o.expect_commit or "")),
        ("run-id", o.expect_run_id, lambda: check_run_id(verdict, o.expect_run_id or "",
                                                          o.run_id_source)),
        ("policy", o.expect_policy_digest,
         lambda: check_policy_digest(verdict, o.expect_policy_digest or "")),
    ]
    for name, wanted, step in optional:
        if wanted is not None:
            run(name, step)
        else:
            results.append(CheckResult(name, None, "not asked"))
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
    path: str | Path | None = None,
    **more: Any,
) -> None:
    """Run every check in order; raise VerifyError on the first that fails.

    The defaults are ``pytest-staging verify``'s: a verdict is refused unless a signature was
    checked (``key``, or ``public_key`` with the verdict's ``path`` for its attestation;
    ``allow_unsigned=True`` accepts one knowingly), unless it is complete (``allow_partial``,
    ``skip_gates``), unless the policy's blocking gates hold (``require_gates``), unless it
    re-derives (``rederive``) and unless it finished within ``max_age`` (None: 24h;
    ``timedelta.max``: no limit). ``more`` takes any other ``VerifyOptions`` field."""
    options = VerifyOptions(key=key, key_env=key_env, expect_version=expect_version,
                            max_age=max_age, now=now, schema=schema, **more)
    error = first_failure(run_checks(verdict, options, None if path is None else Path(path)))
    if error is not None:
        raise error
