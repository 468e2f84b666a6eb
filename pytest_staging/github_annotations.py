"""GitHub Actions annotations for a NO-GO: where it failed, in the pull request's diff view.

With ``GITHUB_ACTIONS=true`` (set by the runner), each failing blocking test becomes an
``::error file=...,line=...::`` workflow command pointing at the test's own line, and the NO-GO
reasons become one more annotation. The Markdown verdict already goes to the job summary
(``$GITHUB_STEP_SUMMARY``). Advisory failures and a GO print nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_staging.reports.summary import JUDGEMENT_MEANING, judgement_of, verdict_label

#: Annotations GitHub shows per step are limited (10 errors); more would only be dropped.
MAX_TEST_ANNOTATIONS = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: Any) -> str:
    """One workflow command, e.g. ``::error file=a.py,line=3,title=T::message``."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items()
                     if v is not None and v != "")
    return f"::{kind}{' ' + props if props else ''}::{escape_data(message)}"


def annotations(verdict: Mapping[str, Any], locations: Mapping[str, tuple[str, int | None]]
                ) -> list[str]:
    """The workflow commands for a verdict ([] for a GO)."""
    if verdict.get("verdict") == "GO":
        return []
    lines = []
    failures = [(gate, f) for gate, data in (verdict.get("gates") or {}).items()
                for f in (data.get("failures") or []) if f.get("blocking")]
    for gate, failure in failures[:MAX_TEST_ANNOTATIONS]:
        nodeid = str(failure.get("nodeid"))
        file, line = locations.get(nodeid, ("", None))
        message = f"{nodeid} {failure.get('outcome')}: {failure.get('message') or ''}".strip()
        lines.append(command("error", message, file=file, line=line,
                             title=f"staging NO-GO: {gate} gate"))
    reasons = [str(r) for r in verdict.get("reasons") or []]
    judgement = judgement_of(verdict)
    meaning = f"{judgement}: {JUDGEMENT_MEANING[judgement]}\n" if judgement else ""
    lines.append(command("error", meaning + ("\n".join(reasons) or "no reason recorded"),
                         title=f"staging verdict {verdict_label(verdict)}: "
                               f"{len(reasons)} reason(s)"))
    return lines


class GithubAnnotations:
    """On the controller of an active run inside GitHub Actions."""

    def __init__(self, controller: Any, rootpath: Path, workspace: Path | None) -> None:
        self.controller = controller
        self.rootpath = rootpath
        self.workspace = workspace
        self.locations: dict[str, tuple[str, int | None]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.location or (report.nodeid in self.locations and not report.failed):
            return
        fspath, lineno = report.location[0], report.location[1]
        path = (self.rootpath / fspath).resolve()
        if self.workspace is not None and path.is_relative_to(self.workspace):
            shown = path.relative_to(self.workspace).as_posix()
        else:
            shown = Path(fspath).as_posix()
        # pytest's test line is 0-based; GitHub's (like an editor's) 1-based.
        line = lineno + 1 if lineno is not None else None
        crash = getattr(report.longrepr, "reprcrash", None) if report.failed else None
        if crash is not None and Path(str(crash.path)).resolve() == path:
            line = int(crash.lineno)  # the failing line itself, when it is in the test's file
        self.locations[report.nodeid] = (shown, line)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        verdict = self.controller.verdict
        if verdict is None:
            return
        for line in annotations(verdict, self.locations):
            terminalreporter.write_line(self.controller.redactor.text(line))


def register(config: pytest.Config, controller: Any) -> None:
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    workspace = os.environ.get("GITHUB_WORKSPACE")
    config.pluginmanager.register(
        GithubAnnotations(controller, Path(config.rootpath),
                          Path(workspace).resolve() if workspace else None),
        "staging-github-annotations")
