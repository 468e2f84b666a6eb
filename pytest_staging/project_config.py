"""One key recorded in the pytest configuration a project already has, without losing a byte.

``pytest-staging init`` records ``staging_policy`` where ``pytest SUITE`` will read it: the
configuration file pytest's own rule finds (``compat.pytest_configuration``: ``pytest.toml``,
``pytest.ini``, ``pyproject.toml``, ``tox.ini``, ``setup.cfg``, from the suite's folder
upwards), else a ``[tool.pytest.ini_options]`` table appended to the ``pyproject.toml`` of the
current folder, else a new ``pytest.ini`` there. The edit only inserts lines (comments, other
keys, line endings and the rest of the file stay as they were), and is checked before anything
is written: the whole file parses to what it held plus the one key (``tomllib`` /
``iniconfig``, the readers pytest uses), and pytest's own rule, run on the new text, finds the
file and reads the key. What cannot be done that way raises :class:`ConfigEditError` with one
line; nothing is written.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_staging import compat

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: The INI section pytest reads in each INI-style file (pytest.ini files are configuration
#: even without it).
INI_SECTIONS = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest",
                "setup.cfg": "tool:pytest"}
TOML_FILES = ("pyproject.toml", "pytest.toml", ".pytest.toml")
NEW_FILE = "pytest.ini"


class ConfigEditError(Exception):
    """The key cannot be recorded safely: one line saying why (nothing was written)."""


@dataclass(frozen=True)
class ProjectConfig:
    """What ``pytest ARGS`` reads: its rootdir, configuration file (None: none) and values."""

    rootdir: Path
    path: Path | None
    values: dict[str, Any]

    def resolve(self, value: str) -> Path:
        """A path value of this configuration, as the plugin reads it (relative to the file)."""
        base = self.path.parent if self.path is not None else self.rootdir
        return (base / value).resolve()


@dataclass(frozen=True)
class ConfigEdit:
    """The configuration file's new text, and how to say what changed."""

    path: Path
    before: str | None
    text: str
    #: Where the key went, e.g. ``[tool.pytest.ini_options]``.
    table: str
    #: The line as written, e.g. ``staging_policy = staging-policy.toml``.
    line: str

    @property
    def created(self) -> bool:
        return self.before is None


def find(invocation_dir: Path, suite: Path) -> ProjectConfig:
    """The configuration ``pytest SUITE`` reads when run from ``invocation_dir``. A suite
    folder that does not exist yet is searched from its nearest existing parent (a folder that
    does not exist holds no configuration file)."""
    start = (invocation_dir / suite).resolve()
    while not start.exists() and start != start.parent:
        start = start.parent
    try:
        rootdir, path, values = compat.pytest_configuration(invocation_dir, [str(start)])
    except (Exception, compat_failure()) as exc:  # pytest's UsageError, or Failed
        raise ConfigEditError(f"pytest cannot read its configuration: {_one_line(exc)}"
                              ) from None
    return ProjectConfig(rootdir, path, values)


def compat_failure() -> type[BaseException]:
    """pytest's ``fail()`` exception (not an ``Exception``), raised for a ``[pytest]``
    section in ``setup.cfg``."""
    import pytest

    return pytest.fail.Exception


def _one_line(exc: BaseException) -> str:
    from pytest_staging.printable import one_line

    return one_line(str(exc) or type(exc).__name__)


def plan(config: ProjectConfig, invocation_dir: Path, suite: Path, key: str,
         target: Path) -> ConfigEdit | None:
    """The edit that records ``key`` = the path ``target`` (written relative to the file, as
    the plugin reads it); None when the file already names that path. Raises
    :class:`ConfigEditError` when it cannot be done safely."""
    target = target.resolve()
    if key in config.values:
        if config.resolve(str(config.values[key])) == target:
            return None
        raise ConfigEditError(f"{config.path} already sets {key} = {config.values[key]}")
    path = config.path
    if path is None:
        pyproject = invocation_dir / "pyproject.toml"
        path = pyproject if pyproject.is_file() else invocation_dir / NEW_FILE
        if not (invocation_dir / suite).resolve().is_relative_to(invocation_dir.resolve()):
            raise ConfigEditError(f"{suite} is outside this folder: pytest would not find a "
                                  f"{path.name} here when it runs {suite}")
    value = Path(os.path.relpath(target, path.resolve().parent)).as_posix()
    before = _read(path)
    if path.name in INI_SECTIONS:
        edit = _ini_edit(path, before, INI_SECTIONS[path.name], key, value)
    elif path.name in TOML_FILES:
        edit = _toml_edit(path, before, key, value)
    else:
        raise ConfigEditError(f"{path}: pytest-staging init does not edit this kind of file")
    _check_pytest_reads(edit, config, key, value)
    return edit


def write(edit: ConfigEdit) -> None:
    """Write the checked text (atomically; an existing file keeps its mode)."""
    from pytest_staging.reports.atomic import atomic_write_text

    mode = edit.path.stat().st_mode if edit.path.exists() else None
    atomic_write_text(edit.path, edit.text)
    if mode is not None:
        os.chmod(edit.path, mode & 0o7777)


def _read(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        # bytes -> str without newline translation: CRLF files keep their line endings
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigEditError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigEditError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _newline(text: str | None) -> str:
    return "\r\n" if text and "\r\n" in text else "\n"


def _insert_after(text: str, header: re.Pattern[str], lines: list[str]) -> str | None:
    """``text`` with ``lines`` inserted after the first line matching ``header`` (None when
    no line matches)."""
    nl = _newline(text)
    source = text.splitlines(keepends=True)
    for index, line in enumerate(source):
        if header.match(line.rstrip("\r\n")):
            if not line.endswith("\n"):
                source[index] = line + nl
            source[index + 1:index + 1] = [f"{added}{nl}" for added in lines]
            return "".join(source)
    return None


def _append(text: str | None, lines: list[str]) -> str:
    nl = _newline(text)
    text = text or ""
    if text and not text.endswith("\n"):
        text += nl
    if text.strip():
        text += nl
    return text + "".join(f"{line}{nl}" for line in lines)


COMMENT = "# recorded by pytest-staging init: the release policy of runs with a staging URL"


def _ini_edit(path: Path, before: str | None, section: str, key: str,
              value: str) -> ConfigEdit:
    import iniconfig

    line = f"{key} = {value}"
    old = _ini_sections(path, before or "")
    if section in old:
        header = re.compile(rf"\[\s*{re.escape(section)}\s*\]\s*([#;].*)?$")
        text = _insert_after(before or "", header, [COMMENT, line])
        if text is None:
            raise ConfigEditError(f"{path}: cannot find the [{section}] line to add {key} "
                                  "under")
    else:
        text = _append(before, [f"[{section}]", COMMENT, line])
    expected = {name: dict(items) for name, items in old.items()}
    expected.setdefault(section, {})[key] = value
    try:
        new = _ini_sections(path, text)
    except (iniconfig.ParseError, ConfigEditError):
        new = None
    if new != expected:
        raise ConfigEditError(f"{path}: adding {line!r} under [{section}] would change how "
                              "the file reads")
    return ConfigEdit(path, before, text, f"[{section}]", line)


def _ini_sections(path: Path, text: str) -> dict[str, dict[str, str]]:
    import iniconfig

    try:
        parsed = iniconfig.IniConfig(str(path), data=text)
    except iniconfig.ParseError as exc:
        raise ConfigEditError(f"{path}: not a valid INI file ({exc})") from None
    return {section.name: dict(section.items()) for section in parsed}


def _toml_edit(path: Path, before: str | None, key: str, value: str) -> ConfigEdit:
    try:
        old = tomllib.loads(before or "")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigEditError(f"{path}: invalid TOML ({exc})") from None
    line = f"{key} = {json.dumps(value, ensure_ascii=False)}"
    if path.name == "pyproject.toml":
        tool_pytest = old.get("tool", {}).get("pytest", {})
        native = isinstance(tool_pytest, dict) and any(k != "ini_options" for k in tool_pytest)
        table = ("tool", "pytest") if native else ("tool", "pytest", "ini_options")
    else:
        table = ("pytest",)
    name = ".".join(table)
    current: Any = old
    for part in table:
        current = current.get(part) if isinstance(current, dict) else None
    if current is None:
        text = _append(before, [f"[{name}]", COMMENT, line])
    else:
        pattern = r"\s*\.\s*".join(re.escape(p) for p in table)
        header = re.compile(rf"\[\s*{pattern}\s*\]\s*(#.*)?$")
        inserted = _insert_after(before or "", header, [COMMENT, line])
        if inserted is None:
            raise ConfigEditError(f"{path}: [{name}] is not written as a table header; add "
                                  f"{line} to it yourself")
        text = inserted
    expected = copy.deepcopy(old)
    target = expected
    for part in table:
        target = target.setdefault(part, {})
    target[key] = value
    try:
        new = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        new = None
    if new != expected:
        raise ConfigEditError(f"{path}: adding {line} to [{name}] would change how the file "
                              "reads")
    return ConfigEdit(path, before, text, f"[{name}]", line)


def _check_pytest_reads(edit: ConfigEdit, config: ProjectConfig, key: str,
                        value: str) -> None:
    """pytest's own rule, run on the new text in a scratch folder: it finds the file and reads
    every value it read before, plus the key."""
    with tempfile.TemporaryDirectory(prefix="pytest-staging-init-") as scratch:
        copy_path = Path(scratch) / edit.path.name
        copy_path.write_bytes(edit.text.encode("utf-8"))
        try:
            _, found, values = compat.pytest_configuration(Path(scratch), [scratch])
        except (Exception, compat_failure()) as exc:
            raise ConfigEditError(f"{edit.path}: pytest could not read it after the edit "
                                  f"({_one_line(exc)})") from None
    before = config.values if config.path == edit.path else {}
    if found != copy_path or values != {**before, key: value}:
        raise ConfigEditError(f"{edit.path}: pytest would not read {key} from it after the "
                              "edit")


__all__ = ["ConfigEdit", "ConfigEditError", "ProjectConfig", "find", "plan", "write"]
