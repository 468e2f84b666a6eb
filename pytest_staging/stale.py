"""No stale GO: every invocation with a staging URL configured replaces the verdict on disk
before anything else can go wrong, and only the run that decides a GO writes one.

``invalidate_early()`` runs when pytest registers the plugin (``pytest_addoption``): before
pytest parses the command line, so a bad option value, an unknown flag, a conftest that fails to
import or a crash in start-up all leave a NO-GO placeholder rather than an earlier GO. Light on
imports: it runs in every pytest invocation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_staging.precedence import BY_NAME
from pytest_staging.redact import Redactor
from pytest_staging.report_dir_lock import BUSY_KEY, claim, release
from pytest_staging.reports.atomic import atomic_write_text
from pytest_staging.reports.json_report import render_json
from pytest_staging.selection import option_values
from pytest_staging.verdict import placeholder

#: The id of this invocation's run, made with its first placeholder.
RUN_ID_KEY = pytest.StashKey[str]()
#: Set while pytest_cmdline_main runs: the exit status is settled there, after everything.
MAIN_KEY = pytest.StashKey[bool]()
REPORT_FILES = ("verdict.json", "verdict.md", "verdict.html", "findings.sarif",
                "verdict.intoto.json", "verdict.intoto.jsonl")
STALE_FILES = ("verdict.html", "findings.sarif", "verdict.intoto.json", "verdict.intoto.jsonl")
# Before options are parsed, the names of the two settings read here come from the one table.
_URL, _REPORT_DIR = BY_NAME["url"], BY_NAME["report_dir"]
DEFAULT_REPORT_DIR = str(_REPORT_DIR.default)


def write_placeholder(report_dir: Path, reason: str, redactor: Redactor, **fields: Any) -> None:
    """Replace any earlier verdict with a NO-GO, so a crash never leaves a stale GO behind.
    When even that cannot be written (a full disk), the old files are removed."""
    from pytest_staging.reports.markdown import render_markdown

    verdict = placeholder(reason, **fields)
    try:
        atomic_write_text(report_dir / "verdict.json", redactor.text(render_json(verdict)))
        atomic_write_text(report_dir / "verdict.md", redactor.text(render_markdown(verdict)))
    except OSError:
        # Unlinking needs no space: an old GO must not stay where the deploy job looks.
        remove_verdict(report_dir)
        raise
    for name in STALE_FILES:
        with contextlib.suppress(FileNotFoundError):
            (report_dir / name).unlink()


def remove_verdict(report_dir: Path) -> None:
    """Delete every report file of an earlier run (best effort)."""
    for name in REPORT_FILES:
        with contextlib.suppress(OSError):
            (report_dir / name).unlink()


def verdict_run_id(report_dir: Path) -> str | None:
    """The run id of the verdict.json on disk: "" when unreadable, None when absent."""
    try:
        data = json.loads((report_dir / "verdict.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ""
    run = data.get("run") if isinstance(data, dict) else None
    return str(run.get("id", "")) if isinstance(run, dict) else ""


def _option(args: Sequence[str], name: str) -> str | None:
    """The last value of ``--name=value`` / ``--name value`` in ``args`` (None if absent)."""
    return (option_values(args, name) or [None])[-1]


def _ini(config: Any, name: str) -> Any:
    try:
        return config.getini(name)
    except (ValueError, KeyError, AttributeError):
        return None


def early_args(config: Any, environ: Mapping[str, str]) -> list[str]:
    """The command line as pytest will see it: ini ``addopts``, ``PYTEST_ADDOPTS``, args."""
    args: list[str] = [str(a) for a in (_ini(config, "addopts") or [])]
    with contextlib.suppress(ValueError):
        args += shlex.split(environ.get("PYTEST_ADDOPTS", ""))
    args += [str(a) for a in config.invocation_params.args]
    return args


def early_target(config: Any, environ: Mapping[str, str]) -> tuple[bool, Path]:
    """Whether a staging URL is configured (even an empty one), and the report dir, from what
    is known before pytest parses its options."""
    args = early_args(config, environ)
    inipath = getattr(config, "inipath", None)
    base = Path(inipath).parent if inipath else Path(config.invocation_params.dir)
    # pytest-base-url's --base-url (or PYTEST_BASE_URL) alone activates a run too.
    configured = (_option(args, _URL.flag) is not None or ENV_URL in environ
                  or bool(_ini(config, str(_URL.ini))) or bool(_option(args, "--base-url"))
                  or bool(environ.get("PYTEST_BASE_URL")))
    given = _option(args, _REPORT_DIR.flag)
    ini_dir = _ini(config, str(_REPORT_DIR.ini))
    if given:
        report_dir = Path(config.invocation_params.dir) / given
    elif environ.get(ENV_REPORT_DIR):
        report_dir = Path(environ[ENV_REPORT_DIR])
    elif ini_dir:
        report_dir = (base / str(ini_dir)).resolve()
    else:
        report_dir = Path(config.invocation_params.dir) / DEFAULT_REPORT_DIR
    return configured, report_dir


ENV_URL = str(_URL.env)
ENV_REPORT_DIR = str(_REPORT_DIR.env)


def invalidate_early(config: Any, environ: Mapping[str, str] | None = None) -> None:
    """Replace the verdict with a NO-GO placeholder when this invocation is meant to be an
    active run. xdist workers leave the controller's files alone."""
    environ = os.environ if environ is None else environ
    if config is None or environ.get("PYTEST_XDIST_WORKER") or RUN_ID_KEY in config.stash:
        return
    run_id = uuid.uuid4().hex
    config.stash[RUN_ID_KEY] = run_id
    try:
        configured, report_dir = early_target(config, environ)
    except Exception:
        return  # the ordinary start-up path reports what is wrong with the options
    if not configured:
        return
    # The report dir is this run's for its whole lifetime, or it is another live run's: then
    # nothing of this one may land there (pytest_configure refuses to start it).
    config.add_cleanup(lambda: None if config.stash.get(MAIN_KEY, False) else release(config))
    why = claim(config, report_dir, run_id)
    if why:
        config.stash[BUSY_KEY] = why
        return
    with contextlib.suppress(OSError):
        write_placeholder(report_dir, "run did not get past start-up (no verdict yet)",
                          Redactor(), run_id=run_id, exit_status=4)
