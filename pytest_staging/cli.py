"""The ``pytest-staging`` command: ``verify`` a verdict before promoting, ``report`` it again,
``diff`` two verdicts for release notes.

Exit status: 0 success, 1 a failed check or an unreadable verdict (one line on stderr, never a
traceback), 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pytest_staging import __version__, init_project
from pytest_staging.signing import DEFAULT_KEY_ENV
from pytest_staging.verify import (
    VerifyError,
    format_duration,
    load_verdict,
    one_line,
    parse_duration,
    resolve_path,
    verify,
)

PROG = "pytest-staging"


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        "verify", help="exit 0 only if a verdict is a fresh, signed GO for the expected version",
        description="exit 0 only if the verdict is GO, validates against the schema, its "
                    "signature verifies (when a key is set), the observed version matches and "
                    "it is not older than --max-age; else exit 1 with one line saying why")
    p.add_argument("path", metavar="PATH", help="a verdict.json or a report directory")
    p.add_argument("--expect-version", metavar="V",
                   help="version the run must have observed at its start and its end")
    p.add_argument("--max-age", metavar="DURATION", type=_duration,
                   help="maximum age since the run finished, e.g. 90s, 30m, 2h, 1d")
    p.add_argument("--key-env", metavar="NAME",
                   help=f"env var holding the HMAC key [{DEFAULT_KEY_ENV}]; when named, "
                        "it must be set")

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
    init_project.add_parser(sub)
    return parser


def _fail(command: str, error: VerifyError | str) -> int:
    print(f"{PROG} {command}: {one_line(error, 400)}", file=sys.stderr)
    return 1


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from pytest_staging.reports.atomic import atomic_write_text

    atomic_write_text(output, text)


def cmd_verify(args: argparse.Namespace) -> int:
    """``pytest-staging verify``: the gate a deploy job runs before promoting."""
    key_env = args.key_env or DEFAULT_KEY_ENV
    key = os.environ.get(key_env) or None
    if args.key_env and key is None:
        return _fail("verify", VerifyError(
            "signature", f"--key-env {args.key_env} names an unset or empty variable"))
    path = resolve_path(args.path)
    try:
        verdict = load_verdict(path)
        verify(verdict, key=key, key_env=key_env, expect_version=args.expect_version,
               max_age=args.max_age)
    except VerifyError as exc:
        return _fail("verify", exc)
    facts = [f"signature ok ({key_env})" if key else f"signature not checked: {key_env} unset"]
    if args.expect_version is not None:
        facts.append(f"version {args.expect_version}")
    if args.max_age is not None:
        facts.append(f"within {format_duration(args.max_age)}")
    print(f"GO: {path} verified ({', '.join(facts)})")
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


COMMANDS = {"verify": cmd_verify, "report": cmd_report, "diff": cmd_diff,
            "init": init_project.cmd_init}


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
        return _fail(args.command, f"internal error: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    sys.exit(main())

