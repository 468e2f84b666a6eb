"""Run ``pytest sample_suite`` the way a user does: a subprocess from the repository root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The hypothesis plugin (a test extra) is irrelevant to the sample and slow to import when
#: bytecode caching is off; the cache provider would write into the repository. Schemathesis'
#: own pytest plugin (the [contract] extra's) is not what the contract gate uses: 1 s a run.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:schemathesis")


@dataclass
class SampleRun:
    args: list[str]
    exit_code: int
    output: str
    verdict: dict[str, Any]

    @property
    def reasons(self) -> str:
        return "\n".join(self.verdict.get("reasons", []))


def sample_command(report_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "sample_suite", *QUIET,
            f"--staging-report-dir={report_dir}", *args]


def clean_env() -> dict[str, str]:
    """The environment minus anything that would point the run elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STAGING_", "SHOP_", "PYTEST_ADDOPTS"))}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def start_sample(report_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(sample_command(report_dir, *args), cwd=ROOT, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_sample(process: subprocess.Popen[str], report_dir: Path,
                  timeout: float = 180) -> SampleRun:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        output += f"\n[killed after {timeout}s]"
    verdict_file = report_dir / "verdict.json"
    verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else {}
    return SampleRun(list(map(str, process.args)), process.returncode, output, verdict)  # type: ignore[arg-type]


def run_sample(report_dir: Path, *args: str, timeout: float = 180) -> SampleRun:
    return finish_sample(start_sample(report_dir, *args), report_dir, timeout)
