"""The browser integration's light part, loaded on every run: its option, ``--base-url``
interoperability, and the switch that registers the Playwright fixtures in an active run.

Nothing here imports Playwright: an inactive run, or one with ``-p no:playwright``, never does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_staging.browser.chromium import executable
from pytest_staging.redact import strip_credentials

if TYPE_CHECKING:
    from pytest_staging.settings import Settings

ENV_BROWSER_PATH = "STAGING_BROWSER_PATH"
#: What ``--base-url`` (or PYTEST_BASE_URL) said before any plugin filled it from the ini file.
EXPLICIT_BASE_URL_KEY = pytest.StashKey[str | None]()
#: The browser to launch (``--staging-browser-path``), resolved once per process.
BROWSER_PATH_KEY = pytest.StashKey[str | None]()
#: Sub-folder of the report dir holding screenshots and traces, one folder per test.
ARTIFACTS_DIR = "browser"
#: Written into that folder: only a folder holding it is removed at the start of a run.
ARTIFACTS_MARKER = ".pytest-staging-artifacts"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("staging")
    group.addoption("--staging-browser-path", dest="staging_browser_path", metavar="PATH",
                    help="Chromium executable for browser tests (pytest-playwright) "
                         f"[env {ENV_BROWSER_PATH}, ini staging_browser_path, else Playwright's "
                         "download, else chromium-headless-shell / chromium on PATH]")
    parser.addini("staging_browser_path", "Chromium executable for browser tests")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before pytest-base-url's pytest_configure copies its ini value into the option: only a
    # --base-url the user typed (or PYTEST_BASE_URL) names a target; the ini value is a default.
    if not hasattr(config, "workerinput"):
        given = config.getoption("base_url", None)
        config.stash[EXPLICIT_BASE_URL_KEY] = str(given) if given is not None else None


def explicit_base_url(config: Any) -> str | None:
    """``--base-url`` / PYTEST_BASE_URL as given (pytest-base-url's or pytest-playwright's
    option), or None. ``""`` is returned as given: an empty target is a usage error."""
    stash = getattr(config, "stash", None)
    return stash.get(EXPLICIT_BASE_URL_KEY, None) if stash is not None else None


def browser_path_setting(config: pytest.Config) -> tuple[str | None, str]:
    """``(value, where it came from)`` of the browser path: option > env > ini."""
    value = config.getoption("staging_browser_path", None)
    if value is not None:
        return str(value), "--staging-browser-path"
    if os.environ.get(ENV_BROWSER_PATH) is not None:
        return os.environ[ENV_BROWSER_PATH], ENV_BROWSER_PATH
    ini = config.getini("staging_browser_path")
    if ini:
        inipath = config.inipath
        base = Path(inipath).parent if inipath else config.rootpath
        text = str(ini)
        # A bare name ("chromium") is looked up on PATH; a path is relative to the ini file.
        return (str(base / text) if os.sep in text else text), "ini staging_browser_path"
    return None, ""


def resolve_browser_path(config: pytest.Config) -> str | None:
    """The configured browser as an absolute executable, or None when none was configured.
    Raises ValueError (a usage error) for an empty or unusable value."""
    value, source = browser_path_setting(config)
    if value is None:
        return None
    if not value.strip():
        raise ValueError(f"{source} is empty: give a Chromium executable or leave it unset")
    found = executable(value)
    if found is None:
        raise ValueError(f"{source} {value}: not an executable file")
    return found


def usage_problem(config: pytest.Config, settings: Settings) -> str:
    """A browser setting this run cannot honour, as a usage error line ("" when all is well)."""
    from pytest_staging.settings import SettingsError, normalise_url

    base = explicit_base_url(config)
    if base is not None and settings.url_source != "--base-url":
        try:
            # Credentials aside: --base-url https://host/ names the same target as
            # --staging-url https://user:pass@host/.
            same = strip_credentials(normalise_url(base)[0]) == strip_credentials(settings.url)
        except SettingsError:
            same = False
        if not same:
            shown = settings.redactor().url(base)
            return (f"--base-url {shown} names a different target than the staging URL "
                    f"(from {settings.url_source}): pass one of them, or the same URL to both")
    try:
        config.stash[BROWSER_PATH_KEY] = resolve_browser_path(config)
    except ValueError as exc:
        return str(exc)
    return ""


def configure(config: pytest.Config, settings: Settings, *, controller: bool) -> None:
    """Wire browser tests into an active run (controller, serial run or xdist worker)."""
    # pytest-base-url's and pytest-playwright's base_url fixtures both read this option, so
    # page.goto("/login") goes to the staging target whichever of them provides the fixture.
    # Without URL credentials: pytest-base-url prints it in the header, tests print it; the
    # browser sends them as Basic auth to the staging origin (fixtures.BrowserHooks.headers).
    config.option.base_url = strip_credentials(settings.url)
    if BROWSER_PATH_KEY not in config.stash:
        try:
            config.stash[BROWSER_PATH_KEY] = resolve_browser_path(config)
        except ValueError as exc:
            raise pytest.UsageError(f"pytest-staging: {exc}") from None
    if controller:
        # Screenshots and traces of an earlier run must not pass for this run's; a folder
        # without our marker is someone else's (--staging-report-dir . next to a package).
        folder = settings.report_dir / ARTIFACTS_DIR
        if (folder / ARTIFACTS_MARKER).is_file():
            shutil.rmtree(folder, ignore_errors=True)
    if config.pluginmanager.hasplugin("playwright"):
        from pytest_staging.browser import fixtures

        fixtures.register(config, settings)
        return
    from pytest_staging.browser import base_url, missing

    # Only names no other plugin provides (pytest-playwright-asyncio has its own page).
    if not _provided(config, "page"):
        config.pluginmanager.register(missing, "staging-browser-missing")
    if not _provided(config, "base_url"):
        config.pluginmanager.register(base_url, "staging-base-url")


def _provided(config: pytest.Config, fixture: str) -> bool:
    """Whether a registered plugin or initial conftest has something of that name."""
    return any(hasattr(plugin, fixture) for plugin in config.pluginmanager.get_plugins())
