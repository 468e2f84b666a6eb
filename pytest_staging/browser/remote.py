"""A remote Playwright browser server (``--staging-browser-ws``): what is sent to it, and the
one line a run says when it cannot be used or goes away. Plain functions, no Playwright.

Playwright's browser server (``playwright run-server``, ``launchServer``, a browser farm)
launches the browser itself, with the launch options a client sends as JSON in the
``x-playwright-launch-options`` header of the WebSocket handshake, in Playwright's own
(camelCase) names. A server started without ``--unsafe`` keeps only the safe ones (headless,
channel, timeout, proxy, slowMo) and ignores the rest, ``executablePath`` included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pytest_staging.browser.ws_endpoint import shown
from pytest_staging.printable import first_line
from pytest_staging.redact import Redactor

LAUNCH_OPTIONS_HEADER = "x-playwright-launch-options"
#: pytest-playwright's launch arguments (Python names) -> the server's names. Nothing else is
#: sent: ``env`` is this machine's environment (secrets included), and paths such as
#: ``downloads_path`` mean nothing on the server's machine.
SERVER_OPTION_NAMES = {
    "headless": "headless", "channel": "channel", "args": "args", "timeout": "timeout",
    "proxy": "proxy", "slow_mo": "slowMo", "executable_path": "executablePath",
    "chromium_sandbox": "chromiumSandbox", "firefox_user_prefs": "firefoxUserPrefs",
}


def server_launch_options(launch_args: Mapping[str, Any]) -> dict[str, Any]:
    """The launch options the browser server gets, from pytest-playwright's launch arguments
    (``executable_path`` is ``--staging-browser-path``: a path on the server's machine)."""
    options = {SERVER_OPTION_NAMES[k]: v for k, v in launch_args.items()
               if k in SERVER_OPTION_NAMES and v is not None}
    ignore = launch_args.get("ignore_default_args")
    if ignore is True:
        options["ignoreAllDefaultArgs"] = True
    elif ignore:
        options["ignoreDefaultArgs"] = list(ignore)
    return options


def connect_options(ws_url: str, launch_args: Mapping[str, Any], timeout_s: float,
                    given: Mapping[str, Any] | None = None, *,
                    endpoint_name: str = "ws_endpoint") -> dict[str, Any]:
    """pytest-playwright's ``connect_options`` for the server at ``ws_url``: the connection
    (and the server's browser launch) bounded by ``timeout_s``, the launch options in their
    header (ours win over pytest-playwright's, which sends the Python names).
    ``endpoint_name``: what ``BrowserType.connect`` calls its first argument (``ws_endpoint``
    until Playwright 1.5x, ``endpoint`` since)."""
    base = {k: v for k, v in (given or {}).items() if k not in ("ws_endpoint", "endpoint")}
    headers = dict(base.get("headers") or {})
    headers[LAUNCH_OPTIONS_HEADER] = json.dumps(server_launch_options(launch_args))
    return {**base, endpoint_name: ws_url, "timeout": timeout_s * 1000, "headers": headers}


def _detail(error: BaseException | str, redactor: Redactor) -> str:
    # Playwright's message: "BrowserType.connect: <what>" then a call log that repeats the
    # endpoint with its credentials: the first line only, masked.
    line = first_line(redactor.text(str(error)))
    return line.split(": ", 1)[1] if line.startswith("BrowserType.connect: ") else line


def unusable(ws_url: str, error: BaseException | str, redactor: Redactor) -> str:
    """The connection (or the server's browser launch) failed."""
    return (f"remote browser server {shown(ws_url)} could not be used: "
            f"{_detail(error, redactor) or 'no reason given'}")


def dropped(ws_url: str, error: BaseException | str | None, redactor: Redactor, *,
            earlier: bool) -> str:
    """The server closed the connection: during this test, or before it (``earlier``)."""
    when = "before this test" if earlier else "during the test"
    text = f"remote browser server {shown(ws_url)} closed the connection {when} (it stopped, " \
           "or the network dropped)"
    detail = _detail(error, redactor) if error is not None else ""
    return f"{text}: {detail}" if detail else text


__all__ = ["LAUNCH_OPTIONS_HEADER", "SERVER_OPTION_NAMES", "connect_options", "dropped",
           "server_launch_options", "unusable"]
