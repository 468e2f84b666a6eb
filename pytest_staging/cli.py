"""The ``pytest-staging`` command: ``verify`` a verdict before promoting, ``report`` it again,
``diff`` two verdicts for release notes, ``merge`` the shard verdicts of a sharded run.

Exit status of ``verify`` (``exit_codes``, docs/exit-codes.md): 0 a verified GO, 1 an authentic
NO-GO whose judgement is ``failed``, 2 a usage error, 3 could not judge (an inconclusive
verdict, or one it refuses: unreadable, unsigned, edited, stale, about another deployment);
one line on stderr, never a traceback. ``report`` and ``diff``: 0 done, 1 an unreadable
verdict, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pytest_staging import __version__, exit_codes, init_project
from pytest_staging.durations import parse_duration
from pytest_staging.exit_codes import verify_exit_code
from pytest_staging.keygen import add_keygen_parser, cmd_keygen
from pytest_staging.merge_command import add_merge_parser, cmd_merge
from pytest_staging.printable import one_line
from pytest_staging.signing import DEFAULT_KEY_ENV
from pytest_staging.verify import (
    DEFAULT_MAX_AGE,
    VerifyError,
    VerifyOptions,
    check_gate_options,
    check_target,
    decision,
    load_verdict,
    read_public_key,
    resolve_path,
    run_checks,
)

PROG = "pytest-staging"
#: ``verify --help``'s table of exit statuses (docs/exit-codes.md has the same).
VERIFY_EXIT_HELP = "\n".join([
    "exit status:",
    f"  {exit_codes.GO}  GO: the verdict verified",
    f"  {exit_codes.FAILED_EXIT}  failed: an authentic NO-GO with evidence that the release is bad",
    f"  {exit_codes.VERIFY_USAGE}  usage error: a bad or empty option, --key-env naming an unset "
    "variable",
    f"  {exit_codes.COULD_NOT_JUDGE}  could not judge: an inconclusive NO-GO (interrupted, target "
    "not ready,",
    "     empty gate, ...), or a verdict verify refuses (missing, unreadable, unsigned,",
    "     edited, stale, partial, about another version, target or run)",
    ""])


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="check, render and compare pytest-staging verdicts")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "verify", help="exit 0 only if a verdict is a fresh, complete, signed GO for this run",
        description="exit 0 only if the verdict is GO, validates against the schema, a "
                    "signature was checked here (the HMAC key in the environment, or "
                    "--public-key for the attestation) and verifies, its own facts re-derive "
                    "GO, the run was complete, the required gates passed, it is bound to what "
                    "is being deployed (version, target, subject, commit, CI run, policy) and "
                    "it is not older than --max-age; else one line naming the mismatch, and "
                    "the exit status says which kind",
        epilog=VERIFY_EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", help="a verdict.json or a report directory")
    p.add_argument("--expect-version", metavar="V",
                   help="version the run must have observed at its start and its end")
    p.add_argument("--max-age", metavar="DURATION", type=_max_age, default=DEFAULT_MAX_AGE,
                   help="maximum age since the run finished, e.g. 90s, 30m, 2h, 1d, or 'none' "
                        f"[{int(DEFAULT_MAX_AGE.total_seconds() // 3600)}h]")
    p.add_argument("--key-env", metavar="NAME",
                   help=f"env var holding the HMAC key [{DEFAULT_KEY_ENV}]; when named, "
                        "it must be set")
    p.add_argument("--public-key", metavar="FILE",
                   help="Ed25519 public key (PEM): verdict.intoto.jsonl beside the verdict must "
                        "verify with it and attest exactly this verdict")
    p.add_argument("--allow-unsigned", action="store_true",
                   help="accept a verdict no signature was checked for (no HMAC key here, no "
                        "--public-key): anyone who can write the file could have written it; "
                        "the GO line says so [refused]")
    p.add_argument("--no-signature-check", action="store_true",
                   help="do not refuse a signature that cannot be checked here (an HMAC "
                        "signature without the key, an attestation without --public-key) when "
                        "the other one is checked; it never stands in for a check [refused]")
    p.add_argument("--allow-partial", action="store_true",
                   help="accept a partial run (-k, -m, --lf, --deselect, --staging-gate) or an "
                        "older verdict without a selection record; the policy's blocking gates "
                        "are still required (see --skip-gate) [refused]")
    p.add_argument("--skip-gate", metavar="NAME", action="append",
                   help="with --allow-partial: a blocking gate of the policy the partial run "
                        "may leave out; repeatable [none: every blocking gate is required]")
    p.add_argument("--require-gate", metavar="NAME", action="append",
                   help="this gate must also have run at least one test and passed, whatever "
                        "the policy says; repeatable [the blocking gates the policy declared]")
    p.add_argument("--expect-target", metavar="URL",
                   help="the staging URL the run must have tested (scheme, host, port and "
                        "path, normalised like --staging-url; credentials and query are not "
                        "compared)")
    p.add_argument("--expect-subject", metavar="SUBJECT",
                   help="what must have been tested (the run's --staging-subject, e.g. "
                        "'ghcr.io/acme/shop@sha256:...')")
    p.add_argument("--expect-commit", metavar="SHA",
                   help="git commit the suite must have been run from (full or >= 7 hex)")
    p.add_argument("--expect-run-id", metavar="ID",
                   help="CI run the verdict must come from, or 'none' [the current CI run id, "
                        "when verify runs in CI and the verdict recorded one]")
    p.add_argument("--expect-policy-digest", metavar="SHA256",
                   help="sha256 the effective policy of the run must have (provenance "
                        "policy_digest)")
    p.add_argument("--expect-policy", metavar="FILE",
                   help="policy file (TOML, or a pyproject.toml) the run must have used, "
                        "unweakened by command-line overrides: its digest is expected")
    p.add_argument("--explain", action="store_true",
                   help="print every check and its result")

    p = sub.add_parser("report", help="re-render a verdict as Markdown or HTML",
                       description="re-render a verdict.json as Markdown or HTML")
    p.add_argument("path", metavar="PATH", help="a verdict.json or a report directory")
    p.add_argument("--format", choices=("md", "html"), required=True, help="output format")
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")

    p = sub.add_parser("diff", help="what changed between two verdicts (for release notes)",
                       description="list newly failing and fixed tests, new and resolved "
                                   "findings, metric and verdict changes between two verdicts")
    p.add_argument("old", metavar="OLD", help="the earlier verdict.json or report directory")
    p.add_argument("new", metavar="NEW", help="the later verdict.json or report directory")
    p.add_argument("--format", choices=("md", "json"), default="md", help="output format [md]")
    p.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    p.add_argument("--significant", metavar="PERCENT", type=_percent, default=10.0,
                   help="a metric change of at least PERCENT is significant and listed [10]")
    p.add_argument("--all-metrics", action="store_true",
                   help="list every metric change, not only the significant ones")
    p = sub.add_parser("history", help="trends of the runs in a history store (HTML, Markdown)",
                       description="chart verdicts, gates, loads, security grade and duration "
                                   "over the runs recorded with --staging-history, and list "
                                   "flaky tests, new failures since the last GO and the "
                                   "slowest tests; Markdown on stdout unless --html or --md")
    p.add_argument("path", metavar="PATH", help="the history store (SQLite file)")
    p.add_argument("--html", metavar="FILE", help="write the self-contained trends page here")
    p.add_argument("--md", metavar="FILE",
                   help="write the same facts as Markdown here (a PR comment, a step summary)")
    p.add_argument("--last", metavar="N", type=_positive, default=100,
                   help="the last N runs [100]")
    p.add_argument("--target", metavar="URL", help="only the runs of this target [all]")

    add_merge_parser(sub)
    init_project.add_parser(sub)
    add_keygen_parser(sub)
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _fail(command: str, error: VerifyError | str, code: int = 1) -> int:
    print(f"{PROG} {command}: {one_line(error, 400)}", file=sys.stderr)
    return code


def _refuse(error: VerifyError) -> int:
    """``verify``'s one line and its exit status, for a failure before any check ran."""
    code, _ = verify_exit_code([error.check], None)
    return _fail("verify", error, code)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from pytest_staging.reports.atomic import atomic_write_text

    atomic_write_text(output, text)


def _max_age(text: str) -> timedelta | None:
    """argparse type of ``--max-age``: a duration (``durations.parse_duration``) or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or 'none' for no limit)") from None


def _policy_digest(args: argparse.Namespace) -> str | None:
    """``--expect-policy-digest``, or the digest of the ``--expect-policy`` file."""
    if args.expect_policy is None:
        return args.expect_policy_digest
    if args.expect_policy_digest is not None:
        raise VerifyError("usage", "give --expect-policy or --expect-policy-digest, not both")
    from pathlib import Path

    from pytest_staging.policy import PolicyError, load_policy
    from pytest_staging.provenance import policy_digest

    file = Path(args.expect_policy)
    try:
        policy = load_policy(file, file.parent)
    except (PolicyError, OSError, ValueError) as exc:
        raise VerifyError("policy", f"--expect-policy {file}: {one_line(exc, 200)}") from None
    return policy_digest(policy.values, policy.gates)


def _expected_run_id(args: argparse.Namespace, verdict: dict[str, Any]) -> tuple[str | None,
                                                                                  str]:
    """``--expect-run-id``; by default the current CI run when the verdict recorded one."""
    from pytest_staging.provenance import current_run_id

    if args.expect_run_id is not None:
        value = args.expect_run_id.strip()
        return (None if value.lower() == "none" else value), "--expect-run-id"
    prov = verdict.get("provenance")
    recorded = isinstance(prov, dict) and isinstance(prov.get("ci"), dict) and \
        prov["ci"].get("run_id") is not None
    current = current_run_id(os.environ)
    if recorded and current:
        return current, "the current CI run"
    return None, ""


def cmd_verify(args: argparse.Namespace) -> int:
    """``pytest-staging verify``: the gate a deploy job runs before promoting."""
    key_env = args.key_env or DEFAULT_KEY_ENV
    key = os.environ.get(key_env) or None
    if args.key_env and key is None:
        return _refuse(VerifyError(
            "usage", f"--key-env {args.key_env} names an unset or empty variable"))
    for flag, value in (("--expect-version", args.expect_version),
                        ("--expect-subject", args.expect_subject),
                        ("--expect-commit", args.expect_commit),
                        ("--expect-run-id", args.expect_run_id),
                        ("--expect-policy-digest", args.expect_policy_digest),
                        ("--expect-policy", args.expect_policy),
                        ("--expect-target", args.expect_target),
                        ("--public-key", args.public_key),
                        *(("--skip-gate", v) for v in args.skip_gate or []),
                        *(("--require-gate", v) for v in args.require_gate or [])):
        if value is not None and not value.strip():
            return _refuse(VerifyError(
                "usage", f"{flag} is empty (an unset variable?): give a value or leave it out"))
    path = resolve_path(args.path)
    try:
        if args.expect_target is not None:
            check_target({"target": {"url": args.expect_target}}, args.expect_target)
        check_gate_options(args.require_gate, args.skip_gate, args.allow_partial)
        policy_digest = _policy_digest(args)
        public_key = read_public_key(args.public_key) if args.public_key else None
        verdict = load_verdict(path)
    except VerifyError as exc:
        return _refuse(exc)
    run_id, run_id_source = _expected_run_id(args, verdict)
    options = VerifyOptions(
        key=key, key_env=key_env, public_key=public_key,
        no_signature_check=args.no_signature_check, allow_unsigned=args.allow_unsigned,
        expect_version=args.expect_version,
        max_age=timedelta.max if args.max_age is None else args.max_age,
        allow_partial=args.allow_partial, skip_gates=list(args.skip_gate or []),
        require_gates=list(args.require_gate or []), rederive=True,
        expect_target=args.expect_target,
        expect_subject=args.expect_subject, expect_commit=args.expect_commit,
        expect_run_id=run_id, run_id_source=run_id_source,
        expect_policy_digest=policy_digest)
    results = run_checks(verdict, options, path)
    if args.explain:
        marks = {True: "ok  ", False: "FAIL", None: "-   "}
        for result in results:
            print(f"  {marks[result.ok]} {result.check}: {one_line(result.detail, 300)}")
        sys.stdout.flush()
    code, error = decision(verdict, results)
    if error is not None:
        return _fail("verify", error, code)
    facts = [r.detail for r in results
             if r.ok and r.check not in ("shard", "schema", "authentication", "verdict", "rederive",
                                         "judgement", "partial")]
    # Said first and plainly when nothing authenticated the verdict (--allow-unsigned).
    unsigned = any(r.check == "authentication" and r.ok and r.detail.startswith("NOT ")
                   for r in results)
    how = " but NOT AUTHENTICATED (--allow-unsigned: no signature checked)" if unsigned else ""
    print(f"GO: {path} verified{how} ({'; '.join(facts)})")
    return 0


def _render(verdict: dict[str, Any], fmt: str) -> str:
    if fmt == "html":
        from pytest_staging.reports.html import render_html

        return render_html(verdict)
    from pytest_staging.reports.markdown import render_markdown

    return render_markdown(verdict)


def cmd_report(args: argparse.Namespace) -> int:
    """``pytest-staging report``: re-render a verdict."""
    try:
        verdict = load_verdict(args.path)
    except VerifyError as exc:
        return _fail("report", exc)
    try:
        text = _render(verdict, args.format)
    except Exception as exc:  # a partial verdict must give one line, not a traceback
        return _fail("report", f"cannot render {args.format} from {resolve_path(args.path)}: "
                               f"{type(exc).__name__}: {exc}")
    _emit(text, args.output)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """``pytest-staging diff``: changes between two verdicts."""
    from pytest_staging.diff import diff_verdicts, render_diff_markdown

    try:
        old, new = load_verdict(args.old), load_verdict(args.new)
    except VerifyError as exc:
        return _fail("diff", exc)
    result = diff_verdicts(old, new, significant_percent=args.significant)
    if args.format == "json":
        text = json.dumps(result, indent=2, sort_keys=True, default=str) + "\n"
    else:
        text = render_diff_markdown(result, all_metrics=args.all_metrics)
    _emit(text, args.output)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """``pytest-staging history``: trends of a history store."""
    from pytest_staging.history.store import StoreError, open_store
    from pytest_staging.history.trends import collect
    from pytest_staging.reports.trends import render_trends_html, render_trends_markdown

    if args.target is not None and not args.target.strip():
        return _fail("history", "--target is empty (an unset variable?): give a URL or leave "
                                "it out")
    try:
        with open_store(args.path, write=False) as store:
            data = collect(store, last=args.last, target=args.target)
    except StoreError as exc:
        return _fail("history", exc)
    if args.html:
        _emit(render_trends_html(data), args.html)
    if args.md:
        _emit(render_trends_markdown(data), args.md)
    if not args.html and not args.md:
        _emit(render_trends_markdown(data), None)
    return 0


COMMANDS = {"verify": cmd_verify, "report": cmd_report, "diff": cmd_diff, "history": cmd_history,
            "merge": cmd_merge,
            "init": init_project.cmd_init, "keygen": cmd_keygen}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pytest-staging`` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return COMMANDS[args.command](args)
    except Exception as exc:  # fail closed with one line, never a traceback
        # verify could not judge; the other commands failed.
        return _fail(args.command, f"internal error: {type(exc).__name__}: {exc}",
                     exit_codes.COULD_NOT_JUDGE if args.command == "verify" else 1)


if __name__ == "__main__":
    sys.exit(main())

