"""The browser integration's light part, loaded on every run: its option, ``--base-url``
interoperability, and the switch that registers the Playwright fixtures in an active run.

Nothing here imports Playwright: an inactive run, or one with ``-p no:playwright``, never does.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from pytest_staging.browser.chromium import executable
from pytest_staging.browser.names import ARTIFACTS_DIR, ARTIFACTS_MARKER, BROWSER_PATH_KEY
from pytest_staging.precedence import BY_NAME
from pytest_staging.redact import strip_credentials
from pytest_staging.settings import (
    EXPLICIT_BASE_URL_KEY,
    SettingsError,
    explicit_base_url,
    normalise_url,
    setting,
)

if TYPE_CHECKING:
    from pytest_staging.settings import Settings

ENV_BROWSER_PATH = str(BY_NAME["browser_path"].env)
ENV_BROWSER_WS = str(BY_NAME["browser_ws"].env)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("staging")
    group.addoption("--staging-browser-path", dest="staging_browser_path", metavar="PATH",
                    help="Chromium executable for browser tests (pytest-playwright) "
                         f"[env {ENV_BROWSER_PATH}, ini staging_browser_path, else Playwright's "
                         "download, else chromium-headless-shell / chromium on PATH]")
    parser.addini("staging_browser_path", "Chromium executable for browser tests")
    group.addoption("--staging-browser-ws", dest="staging_browser_ws", metavar="WS_URL",
                    help="run browser tests on a remote Playwright browser server "
                         "(ws://HOST:PORT/PATH, e.g. playwright run-server); "
                         "--staging-browser-path is then the server's browser "
                         f"[env {ENV_BROWSER_WS}, policy browser.ws_endpoint, none: a local "
                         "browser]")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before pytest-base-url's pytest_configure copies its ini value into the option: only a
    # --base-url the user typed (or PYTEST_BASE_URL) names a target; the ini value is a default.
    if not hasattr(config, "workerinput"):
        given = config.getoption("base_url", None)
        config.stash[EXPLICIT_BASE_URL_KEY] = str(given) if given is not None else None


def browser_path_setting(config: pytest.Config) -> tuple[str | None, str]:
    """``(value, where it came from)`` of the browser path: option > env > ini (a bare name
    like ``chromium`` is looked up on PATH; a path is relative to the ini file)."""
    found = setting(config, "browser_path")
    if not found.given:
        return None, ""
    return str(found.value), found.label


def resolve_browser_path(config: pytest.Config, *, remote: bool = False) -> str | None:
    """The configured browser as an absolute executable, or None when none was configured.
    ``remote``: the path is on the browser server's machine, sent as given. Raises
    ValueError (a usage error) for an empty or unusable value."""
    value, source = browser_path_setting(config)
    if value is None:
        return None
    if not value.strip():
        raise ValueError(f"{source} is empty: give a Chromium executable or leave it unset")
    if remote:
        return value.strip()
    found = executable(value)
    if found is None:
        raise ValueError(f"{source} {value}: not an executable file")
    return found


def usage_problem(config: pytest.Config, settings: Settings) -> str:
    """A browser setting this run cannot honour, as a usage error line ("" when all is well)."""
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
        config.stash[BROWSER_PATH_KEY] = resolve_browser_path(
            config, remote=settings.browser_ws is not None)
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
            config.stash[BROWSER_PATH_KEY] = resolve_browser_path(
                config, remote=settings.browser_ws is not None)
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
