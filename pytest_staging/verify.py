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
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_staging.signing import DEFAULT_KEY_ENV, verify_signature

SCHEMA_ID = "pytest-staging/verdict@1"
VERDICT_FILE = "verdict.json"
# A verdict that claims to have finished in the future beyond this is rejected: clocks drift a
# little between the CI runner and the deploy job, but not by minutes.
CLOCK_SKEW = timedelta(minutes=5)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True)
class VerifyError(Exception):
    """A failed check: ``check`` names it (``file``, ``schema``, ``signature``, ``verdict``,
    ``version``, ``age``), ``detail`` says why in one line."""

    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.detail}"


def one_line(text: object, limit: int = 300) -> str:
    """Squash ``text`` to one printable line of at most ``limit`` characters."""
    s = "".join(ch if ch.isprintable() else " " for ch in str(text))
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``2h``, ``1d``, ``1w``, combinations like ``1h30m``, or bare
    seconds (``90``) into a timedelta. Raises ValueError on anything else."""
    s = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return timedelta(seconds=float(s))
    if not s or not re.fullmatch(rf"(?:{_DURATION_PART.pattern})+", s):
        raise ValueError(f"invalid duration {text!r} (use e.g. 90s, 30m, 2h, 1d)")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(s))
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta compactly: ``2d 3h``, ``5m 12s``, ``40s``."""
    total = int(abs(delta.total_seconds()))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


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
    if not isinstance(data, dict):
        raise VerifyError("file", f"{p} holds a JSON {type(data).__name__}, not a verdict object")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The verdict JSON Schema shipped in the package (loaded on first use)."""
    ref = resources.files("pytest_staging").joinpath("schema", "verdict.schema.json")
    try:
        return json.loads(ref.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerifyError("schema", f"cannot load the shipped verdict schema: {one_line(exc)}")\
            from None


def check_schema(verdict: dict[str, Any], schema: dict[str, Any] | None = None) -> None:
    """Raise VerifyError unless ``verdict`` is a ``pytest-staging/verdict@1`` that validates."""
    import jsonschema  # deferred: only verify needs it

    declared = verdict.get("schema")
    if declared != SCHEMA_ID:
        raise VerifyError(
            "schema", f"expected schema {SCHEMA_ID!r}, found {one_line(repr(declared), 80)}"
        )
    schema = load_schema() if schema is None else schema
    cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(verdict))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise VerifyError("schema", f"at {where}: {one_line(error.message, 200)}")


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


def verify(
    verdict: dict[str, Any],
    *,
    key: str | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    expect_version: str | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
    schema: dict[str, Any] | None = None,
) -> None:
    """Run every check in order; raise VerifyError on the first that fails."""
    check_schema(verdict, schema)
    check_signature(verdict, key, key_env)
    check_go(verdict)
    if expect_version is not None:
        check_version(verdict, expect_version)
    if max_age is not None:
        check_age(verdict, max_age, now or datetime.now(timezone.utc))
