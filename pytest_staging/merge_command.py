"""``pytest-staging merge SHARD... --out DIR``: the one verdict of a sharded run, with every
report a run writes (verdict.json, verdict.md, verdict.html, findings.sarif, junit.xml and,
with a signing key, the attestations), signed once.

The judging is ``shard_merge``'s; this module reads the keys, writes a NO-GO placeholder
first (no stale GO survives in DIR), renders and writes with ``verdict_outputs`` (as a run's
controller does), and prints the summary a run prints. Exit status (``exit_codes``): 0 GO, 1
a failed merged verdict, 3 one that could not judge (or a verdict that could not be written),
2 a usage error (one line on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import Any

from pytest_staging import exit_codes, verdict_outputs
from pytest_staging.printable import one_line
from pytest_staging.redact import Redactor
from pytest_staging.signing import DEFAULT_KEY_ENV
from pytest_staging.verdict import decide

PROG = "pytest-staging merge"
#: The merge writes this report too (a run's JUnit file is pytest's, at --junitxml).
JUNIT_FILE = "junit.xml"
ENV_SIGNING_KEY = "STAGING_SIGNING_KEY"


class UsageError(Exception):
    """A merge that cannot start (one line): exit 2, nothing written."""


def add_merge_parser(sub: Any) -> None:
    """The ``merge`` subcommand's parser."""
    p = sub.add_parser(
        "merge", help="judge the shard verdicts of one sharded run as one verdict",
        description="merge the verdicts of the N shards of one run (--staging-shard K/N) into "
                    "one verdict and its reports in DIR: GO only when exactly the N shards of "
                    "one run, suite, policy and deployment are there, together they ran every "
                    "test once, and the merged run is GO (gate minimums, security grade and "
                    "contract coverage judged over all shards); exit 0 on GO, 1 when the "
                    "merged verdict is failed, 3 when it could not judge (a shard missing or "
                    "not trusted), 2 on a usage error (docs/exit-codes.md)")
    p.add_argument("shards", nargs="+", metavar="SHARD",
                   help="a shard's report directory or its verdict.json; one per shard")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="folder for the merged verdict.json and its reports (not a shard's)")
    p.add_argument("--signing-key", metavar="FILE",
                   help="Ed25519 private key (PEM) that signs the merged verdict's attestation "
                        f"[env {ENV_SIGNING_KEY} holding the PEM, else no attestation]")
    p.add_argument("--public-key", metavar="FILE",
                   help="Ed25519 public key (PEM): every shard's attestation must verify with "
                        "it and attest exactly that shard [a shard with an attestation is "
                        "refused]")
    p.add_argument("--allow-unsigned", action="store_true",
                   help="merge shards whose signatures nothing here checks (no HMAC key, no "
                        "--public-key), knowingly; the merged verdict says so [refused]")
    p.add_argument("--key-env", metavar="NAME",
                   help=f"env var holding the HMAC key that checks every shard's signature "
                        f"and signs the merged verdict [{DEFAULT_KEY_ENV}]; when named, it "
                        "must be set")


def _signing_key(args: argparse.Namespace) -> tuple[Any, set[str]]:
    """The Ed25519 private key (None when not signing) and its textual forms to mask."""
    from pytest_staging.attestation import AttestationError, load_private_key, secret_forms
    from pytest_staging.attestation_glue import AttestSettingsError, read_key_file

    if args.signing_key is not None:
        try:
            pem, source = read_key_file(args.signing_key), f"--signing-key {args.signing_key}"
        except AttestSettingsError as exc:
            raise UsageError(str(exc).replace("--staging-signing-key", "--signing-key"))\
                from None
    elif ENV_SIGNING_KEY in os.environ:
        if not os.environ[ENV_SIGNING_KEY].strip():
            raise UsageError(f"${ENV_SIGNING_KEY} is set but empty (a missing CI secret?): "
                             "unset it or give the PEM private key")
        pem, source = os.environ[ENV_SIGNING_KEY].encode("utf-8", "replace"), \
            f"${ENV_SIGNING_KEY}"
    else:
        return None, set()
    try:
        return load_private_key(pem, source), secret_forms(pem)
    except AttestationError as exc:
        raise UsageError(str(exc)) from None


def _inputs_problem(args: argparse.Namespace, out: Path) -> str:
    for flag, value in (("--out", args.out), ("--signing-key", args.signing_key),
                        ("--public-key", args.public_key), ("--key-env", args.key_env)):
        if value is not None and not value.strip():
            return f"{flag} is empty (an unset variable?): give a value or leave it out"
    for given in args.shards:
        if not given.strip():
            return "an empty SHARD argument (an unset variable?)"
        path = Path(given)
        folder = path if path.is_dir() or not path.suffix else path.parent
        with contextlib.suppress(OSError):
            if folder.resolve() == out.resolve():
                return (f"--out {args.out} is the folder of shard {given}: the merge would "
                        "overwrite it; give the merged verdict a folder of its own")
    return ""


def cmd_merge(args: argparse.Namespace) -> int:
    """Merge, write every report, print the summary; 0 only on GO."""
    from pytest_staging.shard_merge import Keys, merge

    out = Path(args.out or ".")
    key_env = args.key_env or DEFAULT_KEY_ENV
    key = os.environ.get(key_env) or None
    try:
        problem = _inputs_problem(args, out)
        if problem:
            raise UsageError(problem)
        if args.key_env and key is None:
            raise UsageError(f"--key-env {args.key_env} names an unset or empty variable")
        public_key = None
        if args.public_key is not None:
            from pytest_staging.verify import VerifyError, read_public_key

            try:
                public_key = read_public_key(args.public_key)
            except VerifyError as exc:
                raise UsageError(f"--public-key: {exc.detail}") from None
        signing_key, pem_forms = _signing_key(args)
    except UsageError as exc:
        print(f"{PROG}: {one_line(exc, 400)}", file=sys.stderr)
        return 2
    redactor = Redactor({key or "", *pem_forms} - {""})
    from pytest_staging.stale import write_placeholder

    try:
        out.mkdir(parents=True, exist_ok=True)
        write_placeholder(out, "merge in progress (no verdict yet)", redactor)
        with contextlib.suppress(FileNotFoundError):
            (out / JUNIT_FILE).unlink()
    except OSError as exc:
        print(f"{PROG}: cannot write to {out}: {one_line(exc.strerror or exc, 200)}",
              file=sys.stderr)
        return exit_codes.COULD_NOT_JUDGE
    # Tens of thousands of test records, all kept to the end: the collector's walks over
    # them find nothing to free (a fifth of the merge's CPU), so it rests until the end.
    gc.disable()
    try:
        facts, verdict = merge(args.shards, Keys(key, key_env, public_key,
                                                 allow_unsigned=args.allow_unsigned),
                               signed=signing_key is not None)
        return _write(out, facts, verdict, redactor, key, signing_key)
    finally:
        gc.enable()


def _write(out: Path, facts: Any, verdict: dict[str, Any], redactor: Redactor,
           key: str | None, signing_key: Any) -> int:
    from pytest_staging.reports.junit import render_junit
    from pytest_staging.reports.terminal import render_terminal

    for _ in range(2):
        # Every text is redacted as it is rendered (the shards were redacted by their runs;
        # the merge's only secrets are its keys).
        rendered = verdict_outputs.render_reports(verdict, redactor.text, key, signing_key)
        try:
            rendered.reports[JUNIT_FILE] = redactor.text(render_junit(verdict))
        except Exception as exc:
            rendered.problems.append(f"cannot render {JUNIT_FILE}: {type(exc).__name__}: "
                                     f"{one_line(exc, 120)}")
        new = [p for p in rendered.problems if p not in facts.output_errors]
        if not new:
            break
        # A report that could not be made is a fact: decide again with it (as a run does).
        facts.output_errors.extend(redactor.text(p) for p in new)
        verdict = decide(facts)
    try:
        verdict_outputs.write_reports(out, rendered)
    except OSError as exc:
        print(f"{PROG}: cannot write the verdict to {out}: {one_line(exc.strerror or exc)}",
              file=sys.stderr)
        from pytest_staging.stale import remove_verdict

        remove_verdict(out)
        return exit_codes.COULD_NOT_JUDGE
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    markdown = rendered.reports.get("verdict.md")
    if summary and markdown is not None:  # as a run does: the job's summary shows the verdict
        with contextlib.suppress(OSError), open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    for text, _markup in render_terminal(verdict, str(out / "verdict.json")):
        print(redactor.text(text))
    return exit_codes.verdict_exit_code(verdict)
