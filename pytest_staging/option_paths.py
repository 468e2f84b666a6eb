"""Path values given to our options as a separate argument (``--staging-report-dir /abs/dir``).

pytest guesses its rootdir (and so which ini file and ``pyproject.toml`` it reads) from the
command line *before* plugins declare their options: a value given as a separate argument is
taken for a test path there. An absolute path, or one that leaves the current folder, moves
the rootdir to a common ancestor (``/`` at worst): the policy in ``pyproject.toml`` is no
longer found, JUnit class names and load names change, and a performance baseline matches
nothing. ``--opt=value`` is one argument, which pytest never mistakes for a path.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import Any

PREFIX = "--staging-"


def _outside(value: str, cwd: Path | None = None) -> bool:
    """Whether ``value`` is a path outside ``cwd`` (or, without ``cwd``, an absolute path or
    one with ``..``): such a value moves pytest's common-ancestor guess above the project."""
    if not value or value.startswith("-") or "://" in value:
        return False
    path = PurePath(value)
    if value.startswith("~"):
        return True
    if cwd is None:
        return path.is_absolute() or ".." in path.parts
    resolved = Path(os.path.normpath(cwd / Path(value).expanduser()))
    return not resolved.is_relative_to(cwd)


def _matches(value: str, given: Any) -> bool:
    if isinstance(given, (list, tuple)):
        return any(_matches(value, g) for g in given)
    return isinstance(given, str) and given == value


def _moved(target: Path, cwd: Path, rootpath: Path, inipath: Path | None) -> bool:
    """Whether pytest's rootdir shows the mark of ``target`` taken for a test path: the rootdir
    is the value itself (or inside it), or a common ancestor above the current folder that no
    ini file put there."""
    if rootpath == target or rootpath.is_relative_to(target):
        return True
    if not target.is_relative_to(rootpath) or rootpath == cwd:
        return False
    # An ini file at the rootdir above the current folder: pytest would have found it anyway.
    ini_dir = inipath.parent if inipath is not None else None
    return not (ini_dir == rootpath and cwd.is_relative_to(rootpath))


def split_path_options(args: Sequence[str], option: Any, cwd: Path | None = None,
                       rootpath: Path | None = None, inipath: Path | None = None
                       ) -> list[tuple[str, str]]:
    """``(option, value)`` pairs where one of our options took, as the next argument, a path
    that moved pytest's rootdir (with ``cwd`` and ``rootpath`` given), or that could (an
    absolute path or one with ``..``, without them). ``option`` is pytest's parsed namespace:
    a pair counts only when the option really took that argument as its value (a flag
    followed by a test path does not)."""
    found: list[tuple[str, str]] = []
    for flag, value in itertools.pairwise(args):
        if (not flag.startswith(PREFIX) or "=" in flag or value.startswith("-")
                or not value.strip()):
            # An empty value is no path: the empty-value rule names it (settings.py).
            continue
        dest = flag[2:].replace("-", "_")
        if not _matches(value, getattr(option, dest, None)):
            continue
        if "://" in value:
            continue
        if cwd is None or rootpath is None:
            if _outside(value):
                found.append((flag, value))
            continue
        target = Path(os.path.normpath(cwd / Path(value).expanduser()))
        if _moved(target, cwd, rootpath, inipath):
            found.append((flag, value))
    return found


def invocation_args(config: Any, environ: Any = None) -> list[list[str]]:
    """The argument lists pytest's rootdir guess saw: PYTEST_ADDOPTS and the command line."""
    environ = os.environ if environ is None else environ
    lists: list[list[str]] = []
    addopts = environ.get("PYTEST_ADDOPTS", "")
    if addopts.strip():
        with contextlib.suppress(ValueError):
            lists.append(shlex.split(addopts))
    lists.append([str(a) for a in config.invocation_params.args])
    return lists


def problem(config: Any, environ: Any = None) -> str:
    """A usage error line when a path option was given in the space-separated form with a
    path outside the current folder ("" when all is well)."""
    pairs: list[tuple[str, str]] = []
    cwd = Path(config.invocation_params.dir)
    for args in invocation_args(config, environ):
        inipath = Path(config.inipath) if config.inipath else None
        pairs.extend(split_path_options(args, config.option, cwd, Path(config.rootpath),
                                        inipath))
    if not pairs:
        return ""
    # Name a value outside the current folder first: that is the one that moved the rootdir.
    pairs.sort(key=lambda pair: not _outside(pair[1], cwd))
    return describe(pairs)


def describe(pairs: Iterable[tuple[str, str]]) -> str:
    pairs = list(pairs)
    flag, value = pairs[0]
    fixes = ", ".join(f"{f}={shlex.quote(v)}" for f, v in pairs)
    return (f"{flag} {value}: pytest takes a path given as a separate argument for a test path "
            f"and moves its rootdir; write {fixes}")


__all__ = ["describe", "problem", "split_path_options"]
