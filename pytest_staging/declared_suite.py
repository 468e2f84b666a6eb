"""The suite a project declares, and what a run's path options leave out of it.

A run is whole only if it collects the declared suite: the policy's ``[suite] paths`` (relative
to the rootdir), else pytest's ``testpaths`` (relative to the folder of the ini file that
declares them, so ``--rootdir`` cannot move them). ``-c``/``--config-file`` is a choice of the
run, not of the project: the ``testpaths`` of the project's own ini file (the one pytest finds
without ``-c``) still declare the suite; only without them do the ``-c`` file's. With none of
these the project declared nothing, and any paths a run names are its suite.

What narrows a run (each one a line of the verdict's ``selection.filters``, which makes the run
partial): collection roots (the paths named on the command line, or the folder pytest was
started in) that do not cover every declared path; ``--ignore`` / ``--ignore-glob`` not given
by the ini file's own ``addopts``; ``-o testpaths=...``. The plain comparison is
``selection.uncovered()``; this module reads what it compares from pytest's configuration.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_staging import compat
from pytest_staging.policy import Policy
from pytest_staging.selection import option_values, uncovered


def _expand(base: Path, patterns: Sequence[str]) -> list[Path]:
    """Declared paths, globs expanded as pytest expands ``testpaths`` (a pattern matching
    nothing is kept as written: declared but absent, so never collected)."""
    found: list[Path] = []
    for pattern in patterns:
        path = base / pattern
        matches = sorted(glob.glob(str(path), recursive=True)) if glob.has_magic(pattern) else []
        found.extend([Path(m) for m in matches] or [path])
    return [Path(os.path.realpath(p)) for p in found]


def declared(config: pytest.Config, policy: Policy) -> tuple[list[Path], str, Path] | None:
    """The declared suite as absolute paths, where it is declared, and the folder its paths
    are relative to (None: not declared)."""
    suite = list(policy["suite.paths"] or [])
    if suite:
        root = Path(config.rootpath)
        return _expand(root, suite), f"[suite] paths of {policy.source}", root
    inipath = config.inipath
    if getattr(config.option, "inifilename", None):
        # -c FILE is a choice of this run: the project's own ini file declares the suite.
        try:
            own = compat.project_testpaths(Path(config.invocation_params.dir),
                                           [str(a) for a in config.args])
        except Exception:
            own = None
        if own is not None and (inipath is None or not own[0].samefile(inipath)):
            base, paths = own[0].parent, own[1]
            return _expand(base, paths), f"testpaths of the project's {own[0].name}", base
    testpaths = [str(p) for p in config.getini("testpaths") or []]
    if testpaths and not _overridden(config, "testpaths"):
        base = Path(inipath).parent if inipath else Path(config.rootpath)
        name = inipath.name if inipath else "the ini file"
        return _expand(base, testpaths), f"testpaths of {name}", base
    return None


def _overridden(config: pytest.Config, name: str) -> bool:
    return any(str(o).split("=", 1)[0].strip() == name
               for o in getattr(config.option, "override_ini", None) or [])


def roots(config: pytest.Config) -> list[Path] | None:
    """The paths the run collects from (None with ``--pyargs``: module names, not paths)."""
    if getattr(config.option, "pyargs", False):
        return None
    base = Path(config.invocation_params.dir)
    paths = [str(a).split("::", 1)[0] for a in config.args]
    return [Path(os.path.realpath(base / p)) for p in paths]


def _shown(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, os.path.realpath(base))
    except ValueError:  # another drive (Windows)
        return str(path)


def left_out(config: pytest.Config, policy: Policy) -> list[str]:
    """Lines for ``selection.filters``: how this run's paths narrow the declared suite."""
    lines: list[str] = []
    ini_addopts = [] if _overridden(config, "addopts") else [
        str(a) for a in config.getini("addopts") or []]
    for flag, dest in (("--ignore", "ignore"), ("--ignore-glob", "ignore_glob")):
        given = Counter(str(v) for v in getattr(config.option, dest, None) or [])
        given.subtract(Counter(option_values(ini_addopts, flag)))
        lines.extend(f"{flag} {value}" for value, n in given.items() for _ in range(n))
    for override in getattr(config.option, "override_ini", None) or []:
        if str(override).split("=", 1)[0].strip() == "testpaths":
            lines.append(f"-o {override}")
    suite = declared(config, policy)
    collected = roots(config)
    if suite is None or collected is None:
        return lines
    paths, source, base = suite  # both sides shown relative to where the suite is declared
    missing = uncovered(paths, collected)
    if missing:
        lines.append(
            f"declared suite not collected: {', '.join(_shown(p, base) for p in missing[:5])}"
            + (f" (+{len(missing) - 5})" if len(missing) > 5 else "")
            + f" ({source}; this run collected "
            + ", ".join(_shown(p, base) for p in collected[:5])
            + (f" (+{len(collected) - 5})" if len(collected) > 5 else "") + ")"
            + ("; a staging suite that is only part of it is declared with [suite] paths"
               if source.startswith("testpaths") else ""))
    return lines


__all__ = ["declared", "left_out", "roots"]
