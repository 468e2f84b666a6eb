"""bandit over the source tree, through bandit's command line, with a path-normalised baseline.

bandit compares a baseline's ``filename`` strings verbatim: a baseline made with ``bandit -r
src`` (filenames ``src/app.py``) never matches a scan of ``/abs/path/src`` (filenames
``/abs/path/src/app.py``), so every old issue comes back as new. Here every filename, in the
scan and in the baseline, is resolved to an absolute path first. bandit also treats several
identical issues in one file as one; here matching counts them, so a second
``subprocess(..., shell=True)`` added to a file that already had one is reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

LEVEL_NAMES = ("low", "medium", "high")
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "node_modules", "__pycache__",
    "build", "dist", ".mypy_cache", ".pytest_cache", ".ruff_cache",
)


class BanditError(RuntimeError):
    """bandit could not scan (bad source path, unreadable baseline...): one line for a human."""


@dataclass
class BanditResult:
    """What one bandit scan found."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    baselined: int = 0
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"findings": self.findings, "baselined": self.baselined, "files": self.files,
                "skipped": self.skipped, "version": self.version}


def _python_files(source: Path, exclude: Iterable[str]) -> list[str]:
    if source.is_file():
        return [str(source)]
    skip = set(exclude)
    files = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".py")]
    return files


def _resolve(filename: str, bases: Sequence[Path]) -> str:
    """Absolute form of a filename from a scan or a baseline (first base where it exists)."""
    path = Path(filename)
    if path.is_absolute():
        return os.path.normpath(path)
    for base in bases:
        candidate = base / path
        if candidate.exists():
            return os.path.normpath(candidate.resolve())
    return os.path.normpath(bases[0] / path) if bases else os.path.normpath(path)


def _key(data: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two issues the same one (bandit's own notion, line numbers excluded)."""
    return (data["file"], data["test_id"], data["severity"], data["confidence"],
            data.get("cwe"), data["text"])


def load_baseline(path: str | Path, source: Path, cwd: Path | None = None
                  ) -> list[dict[str, Any]]:
    """Baseline issues (bandit's JSON report format) with filenames made absolute.

    A relative filename is tried against the current directory, the baseline's directory, the
    source directory and the source's parents, in that order.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        results = data["results"]
    except FileNotFoundError:
        raise BanditError(f"bandit baseline {file} not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BanditError(f"bandit baseline {file} is not a bandit JSON report ({exc})") \
            from None
    bases = [cwd or Path.cwd(), file.resolve().parent, source, *source.parents]
    out = []
    for item in results:
        cwe = item.get("issue_cwe") or {}
        out.append({
            "file": _resolve(str(item["filename"]), bases),
            "line": int(item.get("line_number") or 0),
            "test_id": str(item["test_id"]),
            "severity": str(item["issue_severity"]).lower(),
            "confidence": str(item["issue_confidence"]).lower(),
            "cwe": f"CWE-{cwe['id']}" if cwe.get("id") else None,
            "text": str(item["issue_text"]),
        })
    return out


def subtract_baseline(found: list[dict[str, Any]], baseline: list[dict[str, Any]]
                      ) -> tuple[list[dict[str, Any]], int]:
    """(issues not covered by the baseline, how many were covered), counting duplicates.

    Within one key, baseline entries cover the issues on their own line first, then the rest in
    line order, so the issue left over is the one most likely new.
    """
    budget: Counter[tuple[Any, ...]] = Counter(_key(b) for b in baseline)
    lines: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for item in baseline:
        lines[_key(item)].append(item["line"])
    covered: set[int] = set()
    for index, item in enumerate(found):
        key = _key(item)
        if budget[key] and item["line"] in lines[key]:
            budget[key] -= 1
            lines[key].remove(item["line"])
            covered.add(index)
    for index, item in enumerate(found):
        key = _key(item)
        if index not in covered and budget[key]:
            budget[key] -= 1
            covered.add(index)
    return [f for i, f in enumerate(found) if i not in covered], len(covered)


def run_bandit(source: str | Path, *, severity: str = "medium", confidence: str = "medium",
               baseline: str | Path | None = None, exclude: Iterable[str] = DEFAULT_EXCLUDE,
               root: str | Path | None = None) -> BanditResult:
    """Scan ``source`` with bandit; findings at or above both thresholds, minus the baseline.

    ``root`` (default: the current directory) is what finding ``file`` paths are shown relative
    to when the file lies below it.
    """
    for name, value in (("severity", severity), ("confidence", confidence)):
        if value not in LEVEL_NAMES:
            raise BanditError(f"bandit {name} {value!r}: expected one of low, medium, high")
    path = Path(source).resolve()
    if not path.exists():
        raise BanditError(f"bandit source {source} does not exist")
    files = _python_files(path, exclude)
    report = _bandit_cli(files, severity, confidence) if files else {"results": [],
                                                                      "errors": []}
    shown_root = Path(root).resolve() if root else Path.cwd()
    found = []
    for data in report.get("results") or []:
        cwe = data.get("issue_cwe") or {}
        found.append({
            "file": _resolve(str(data["filename"]), [Path.cwd()]),
            "line": int(data["line_number"]),
            "test_id": str(data["test_id"]),
            "test_name": str(data["test_name"]),
            "severity": str(data["issue_severity"]).lower(),
            "confidence": str(data["issue_confidence"]).lower(),
            "cwe": f"CWE-{cwe['id']}" if cwe.get("id") else None,
            "text": str(data["issue_text"]),
            "more_info": str(data.get("more_info", "")),
        })
    baselined = 0
    if baseline:
        found, baselined = subtract_baseline(found, load_baseline(baseline, path))

    findings = [_as_finding(item, shown_root) for item in found]
    skipped = [f"{e.get('filename')}: {e.get('reason')}" for e in report.get("errors") or []]
    return BanditResult(findings=findings, baselined=baselined, files=len(files),
                        skipped=skipped, version=_bandit_version())


#: bandit's own limit: a scan of a large tree takes minutes, never forever.
BANDIT_TIMEOUT = 600.0


def _bandit_version() -> str:
    try:
        return metadata.version("bandit")
    except metadata.PackageNotFoundError:
        return ""


def _bandit_cli(files: Sequence[str], severity: str, confidence: str) -> dict[str, Any]:
    """bandit's JSON report for ``files``, from bandit's command line (its supported interface).

    Run as a subprocess, bandit's plugin loading cannot log into the test process: stevedore's
    "Could not load 'sarif': No module named 'sarif_om'" (an optional formatter) stays in the
    child's stderr, which is read only when the scan itself fails.
    """
    command = [sys.executable, "-m", "bandit", "--format", "json", "--quiet",
               f"--severity-level={severity}", f"--confidence-level={confidence}", *files]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BANDIT_TIMEOUT,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BanditError(f"bandit failed: {type(exc).__name__}: {exc}") from None
    try:
        # 0: no issue, 1: issues found; anything else is bandit failing, whatever it printed.
        if done.returncode not in (0, 1):
            raise ValueError(f"exit status {done.returncode}")
        report = json.loads(done.stdout)
        if not isinstance(report, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        problem = [ln for ln in done.stderr.splitlines() if ln.strip()
                   and "sarif" not in ln.lower()]
        why = problem[-1] if problem else f"exit status {done.returncode}, no JSON report"
        raise BanditError(f"bandit failed: {why}") from None
    return report


def _as_finding(item: dict[str, Any], root: Path) -> dict[str, Any]:
    file = Path(item["file"])
    try:
        shown = file.relative_to(root).as_posix()
    except ValueError:
        shown = file.as_posix()
    level = {"high": "fail", "medium": "fail", "low": "warn"}.get(item["severity"], "warn")
    return {
        "rule": item["test_id"],
        "family": "bandit",
        "severity": item["severity"],
        "level": level,
        "title": f"{item['test_name']}: {item['text']}",
        "url": "",
        "evidence": f"{shown}:{item['line']}: {item['text']} (confidence {item['confidence']})",
        "fix": item["more_info"] or "see the bandit documentation for this test id",
        "file": shown,
        "line": item["line"],
        "test_id": item["test_id"],
        "cwe": item["cwe"],
        "confidence": item["confidence"],
        "text": item["text"],
    }
