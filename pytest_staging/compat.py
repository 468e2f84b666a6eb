"""The one home of what pytest-staging uses from pytest or pytest-xdist that is not their
public API. ``tests/test_compat.py`` fails loudly when an upgrade removes any of it.

- ``capturemanager.global_and_fixture_disabled()``: pytest's capture plugin, to show a live
  line (a load test's progress) past output capturing, as pytest's own live logging does;
  pytest has no public equivalent outside the ``capsys``/``capfd`` fixtures, which would
  change how the user's test is captured.

- ``map_failure_text()``: the structure of pytest's failure representation (the
  ``_pytest._code`` ``Repr*`` objects behind ``report.longrepr``), to mask secrets and make
  control characters visible in every string of it while keeping its structure (colours,
  the short summary's one-line message, xdist's serialisation). pytest documents
  ``longrepr`` only as "None or a failure representation".
- ``without_frames_from()``: a traceback entry's frame globals (``entry.frame.f_globals``), to
  drop the frames of requests, urllib3, pytest and pluggy from a failed request's traceback.
- ``pytest_configuration()``: ``_pytest.config.findpaths.determine_setup``, pytest's own rule
  for the rootdir and the configuration file a command line reads (``pytest-staging init``
  records the policy there, and checks that pytest reads what it wrote). pytest documents the
  rule, not a function; its signature changed in 8.0 and 9.0, so it is called with the
  keywords it accepts.

- ``project_testpaths()``: pytest's own search for its configuration file
  (``_pytest.config.findpaths.locate_config``), to know the ``testpaths`` a project declares
  when ``-c``/``--config-file`` made the run read another file: pytest has no public way to
  ask which file it would have found.

No other module imports ``_pytest`` or xdist internals (``tests/test_compat.py`` greps for it).

Everything else uses documented API: xdist's ``workerinput`` (``workerid``, ``testrunuid``)
and its ``pytest_configure_node`` hook, ``config.stash``, ``pytest.TerminalReporter``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # printable.py (report writers) imports this module: pytest stays unloaded
    from pathlib import Path

    import pytest

#: (plugin name, attribute) pairs of non-public API used here.
PRIVATE_API = (("capturemanager", "global_and_fixture_disabled"),)


def capture_suspended(config: pytest.Config) -> contextlib.AbstractContextManager[Any]:
    """A context in which writes to the terminal are not captured (pytest's global and
    fixture capture suspended); a no-op when capturing is off (``-s``, ``-p no:capture``)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    disabled = getattr(capman, "global_and_fixture_disabled", None)
    return disabled() if disabled is not None else contextlib.nullcontext()


def missing_private_api(config: pytest.Config) -> list[str]:
    """The entries of ``PRIVATE_API`` this pytest no longer has (for the upgrade test)."""
    missing = []
    for plugin_name, attribute in PRIVATE_API:
        plugin = config.pluginmanager.getplugin(plugin_name)
        if plugin is None or not callable(getattr(plugin, attribute, None)):
            missing.append(f"{plugin_name}.{attribute}")
    return missing


#: pytest's failure representation objects live in modules under this package.
_REPR_PACKAGE = "_pytest."


def map_failure_text(longrepr: Any, fn: Callable[[str], str]) -> Any:
    """``longrepr`` with ``fn`` applied to every string inside it: a str, or pytest's
    representation objects (``ExceptionChainRepr``, ``ReprEntry``, ``ReprFileLocation``, ...)
    changed in place, keeping their structure."""
    return _map(longrepr, fn, set())


def _map(value: Any, fn: Callable[[str], str], seen: set[int]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        value[:] = [_map(v, fn, seen) for v in value]
        return value
    if isinstance(value, tuple):
        return tuple(_map(v, fn, seen) for v in value)
    # Only pytest's own representation objects: anything else is left as it is.
    if id(value) in seen or not type(value).__module__.startswith(_REPR_PACKAGE):
        return value
    seen.add(id(value))
    for name, attr in list(vars(value).items()):
        object.__setattr__(value, name, _map(attr, fn, seen))  # in case a Repr is frozen
    return value


def frame_module(entry: Any) -> str:
    """The ``__name__`` of the module a traceback entry's frame runs in ("" if unknown: the
    frame is kept, a pytest that changed this shows more frames, never crashes the report;
    ``tests/test_compat.py`` fails loudly instead)."""
    try:
        return str(entry.frame.f_globals.get("__name__", "") or "")
    except AttributeError:
        return ""


def without_frames_from(excinfo: pytest.ExceptionInfo[BaseException],
                        packages: tuple[str, ...]) -> None:
    """Drop from ``excinfo``'s traceback the frames of modules in ``packages`` (kept whole
    when nothing else would remain)."""
    prefixes = tuple(f"{p}." for p in packages)

    def keep(entry: Any) -> bool:
        name = frame_module(entry)
        return not (name in packages or name.startswith(prefixes))

    filtered = excinfo.traceback.filter(keep)
    if len(filtered):
        excinfo.traceback = filtered


def project_testpaths(invocation_dir: Path, args: list[str]) -> tuple[Path, list[str]] | None:
    """The configuration file pytest finds for ``args`` from ``invocation_dir`` when no ``-c``
    is given, and its ``testpaths`` (None when there is none, or it declares no testpaths)."""
    import inspect
    import shlex
    from pathlib import Path

    from _pytest.config import findpaths

    paths = [Path(invocation_dir, a.split("::")[0]) for a in args if not a.startswith("-")]
    paths = paths or [Path(invocation_dir)]
    locate = findpaths.locate_config
    if len(inspect.signature(locate).parameters) >= 2:  # pytest >= 8.1
        found = locate(Path(invocation_dir), paths)
    else:  # pragma: no cover - pytest < 8.1: locate_config(args)
        found = locate(paths)  # type: ignore[call-arg]
    inipath, inicfg = found[1], found[2]
    value = inicfg.get("testpaths") if inipath is not None else None
    value = getattr(value, "value", value)  # pytest >= 9 wraps values (ConfigValue)
    if isinstance(value, str):
        value = shlex.split(value)
    if not value:
        return None
    return Path(inipath), [str(v) for v in value]


def pytest_configuration(invocation_dir: Path, args: Sequence[str]
                         ) -> tuple[Path, Path | None, dict[str, Any]]:
    """``(rootdir, configuration file or None, its pytest values)`` that ``pytest ARGS`` run
    from ``invocation_dir`` reads (no ``-c``, ``--rootdir`` or ``-o``), by pytest's own
    ``determine_setup``. Values are as pytest reads them: strings (or lists) from an INI-style
    file or ``[tool.pytest.ini_options]``, native TOML values from ``pytest.toml`` or
    ``[tool.pytest]``. Raises what pytest raises for a file it cannot read (``UsageError``,
    or ``Failed`` for a ``[pytest]`` section in ``setup.cfg``)."""
    from _pytest.config.findpaths import determine_setup

    offered = {"inifile": None, "args": [str(a) for a in args], "rootdir_cmd_arg": None,
               "invocation_dir": Path(invocation_dir), "override_ini": None, "config": None}
    accepted = inspect.signature(determine_setup).parameters
    found = determine_setup(**{k: v for k, v in offered.items() if k in accepted})
    rootdir, inipath, inicfg = found[0], found[1], found[2]
    # pytest 9 wraps each value (ConfigValue.value); earlier versions hold it plainly.
    values = {str(k): getattr(v, "value", v) for k, v in dict(inicfg or {}).items()}
    return Path(rootdir), Path(inipath) if inipath is not None else None, values
