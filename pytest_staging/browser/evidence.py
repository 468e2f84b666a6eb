"""What a failing browser test leaves behind: screenshots, console errors, failed requests
and (when the user records traces) the Playwright trace, all redacted.

The evidence item joins the test's ``staging_evidence`` list in the verdict::

    {"method": "GET", "url": <page URL>, "status": null, "kind": "browser",
     "title": ..., "screenshot": "browser/<test>/page-1.png",
     "screenshot_data": "data:image/png;base64,..." (bounded; what verdict.html shows),
     "console_errors": [...], "failed_requests": [{"method", "url", "status", "error"}],
     "trace": "browser/<test>/trace.zip" (only when --tracing kept one)}
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from collections import deque
from pathlib import Path
from typing import Any

from pytest_staging.browser.names import ARTIFACTS_DIR, ARTIFACTS_MARKER
from pytest_staging.printable import error_line, first_line
from pytest_staging.redact import Redactor

#: Kept per test, newest last: enough to see what went wrong, bounded in size.
KEEP_MESSAGES = 20
MESSAGE_LIMIT = 500
#: A screenshot is embedded in verdict.json/verdict.html only up to this size (bytes of the
#: image); a larger one is re-taken as a smaller JPEG, else only linked.
EMBED_LIMIT = 200_000
#: Pages screenshotted per failing test (the last one is embedded).
MAX_PAGES = 3
#: Failing tests per process (xdist worker) whose screenshot is embedded; later ones are
#: linked only, so 500 failing journeys cannot make a 100 MB verdict.json.
MAX_EMBEDDED = 10
SCREENSHOT_TIMEOUT_MS = 5_000


def safe_name(nodeid: str) -> str:
    """A folder name for a test: readable, filesystem-safe, unique by a hash suffix."""
    readable = re.sub(r"[^A-Za-z0-9._-]+|\.{2,}", "_", nodeid).strip("_.")[:80]
    return f"{readable}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


class PageWatcher:
    """Listens to a test's browser contexts: console errors, page errors, failed requests."""

    def __init__(self) -> None:
        self.contexts: list[Any] = []
        self.console_errors: deque[str] = deque(maxlen=KEEP_MESSAGES)
        self.failed_requests: deque[dict[str, Any]] = deque(maxlen=KEEP_MESSAGES)
        #: Requests to a sensitive URL in a destructive test: refused by the guard's route, or
        #: seen too late to stop (a redirect hop: Playwright routes never see those).
        self.refused: list[str] = []
        self.reached: list[str] = []
        #: How many of each already failed a report phase.
        self.flagged = (0, 0)
        #: Remote browser: contexts the test (or pytest-playwright) closed, and whether one
        #: was closed by the other side (the server's connection went away).
        self.closed_by_test: set[int] = set()
        self.dropped = False

    def watch(self, context: Any) -> None:
        self.contexts.append(context)
        context.on("console", self._console)
        context.on("weberror", self._page_error)
        context.on("requestfailed", self._request_failed)
        context.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = (message.location or {}).get("url") or ""
            self.console_errors.append(_short(f"{message.text} ({where})" if where
                                              else message.text))

    def _page_error(self, web_error: Any) -> None:
        error = web_error.error
        self.console_errors.append(_short(f"uncaught {getattr(error, 'name', '') or 'error'}: "
                                          f"{getattr(error, 'message', error)}"))

    def _request_failed(self, request: Any) -> None:
        self.failed_requests.append({"method": request.method, "url": _short(request.url),
                                     "status": None, "error": _short(request.failure or "")})

    def request_error(self, method: str, url: str, error: str) -> None:
        """A request the staging route could not send (the browser only sees it failed)."""
        self.failed_requests.append({"method": method, "url": _short(url), "status": None,
                                     "error": _short(first_line(error))})

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed_requests.append({"method": response.request.method,
                                         "url": _short(response.url),
                                         "status": response.status})

    def pages(self) -> list[Any]:
        """Open pages of the watched contexts, oldest first."""
        pages: list[Any] = []
        for context in self.contexts:
            try:
                pages.extend(p for p in context.pages if not p.is_closed())
            except Exception:  # a closed context: nothing to show
                continue
        return pages


def screenshot(page: Any) -> tuple[bytes, str]:
    """``(image bytes, mime type)`` of the page's viewport: a PNG, else a JPEG that fits
    EMBED_LIMIT (a busy page can make a PNG of a megabyte)."""
    png = page.screenshot(type="png", timeout=SCREENSHOT_TIMEOUT_MS, animations="disabled")
    if len(png) <= EMBED_LIMIT:
        return png, "image/png"
    for quality in (70, 40):
        jpeg = page.screenshot(type="jpeg", quality=quality, timeout=SCREENSHOT_TIMEOUT_MS,
                               animations="disabled")
        if len(jpeg) <= EMBED_LIMIT:
            return jpeg, "image/jpeg"
    return png, "image/png"


def artifacts_folder(report_dir: Path, nodeid: str) -> Path:
    """``browser/<test>`` under the report dir, relative; the marker that makes the next run
    clear ``browser/`` is written on first use."""
    root = report_dir / ARTIFACTS_DIR
    root.mkdir(parents=True, exist_ok=True)
    (root / ARTIFACTS_MARKER).touch()
    return Path(ARTIFACTS_DIR) / safe_name(nodeid)


def write_bytes(path: Path, data: bytes) -> None:
    """Write through a temp file and a rename, like every report file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def capture(watcher: PageWatcher | None, pages: list[Any], report_dir: Path, nodeid: str,
            redactor: Redactor, *, embed: bool = True) -> dict[str, Any]:
    """The evidence item of a failing test, its screenshots written under the report dir
    (the last one also inline as a data URI when ``embed`` and small enough)."""
    folder = artifacts_folder(report_dir, nodeid)
    item: dict[str, Any] = {"method": "GET", "url": "", "status": None, "kind": "browser"}
    shots: list[str] = []
    errors: list[str] = []
    for index, page in enumerate(pages[-MAX_PAGES:], 1):
        item["url"] = redactor.url(page.url)
        try:
            item["title"] = redactor.text(_short(page.title()))
            data, mime = screenshot(page)
        except Exception as exc:  # a crashed or closed page: say so, keep the rest
            errors.append(f"screenshot of page {index}: {error_line(exc)}")
            continue
        name = folder / f"page-{index}.{'png' if mime == 'image/png' else 'jpg'}"
        write_bytes(report_dir / name, data)
        shots.append(name.as_posix())
        item["screenshot"] = name.as_posix()
        if embed and len(data) <= EMBED_LIMIT:
            item["screenshot_data"] = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        else:
            item.pop("screenshot_data", None)
    if len(shots) > 1:
        item["screenshots"] = shots
    if watcher is not None:
        item["console_errors"] = [redactor.text(t) for t in watcher.console_errors]
        item["failed_requests"] = [
            {**r, "url": redactor.url(r["url"]), "error": redactor.text(r.get("error") or "")}
            if r.get("error") is not None else {**r, "url": redactor.url(r["url"])}
            for r in watcher.failed_requests]
        if watcher.refused or watcher.reached:
            item["refused"] = [redactor.url(u) for u in watcher.refused + watcher.reached]
    if errors:
        item["error"] = "; ".join(errors)
    if not pages:
        item["error"] = "no open page to show"
    return item


def redact_trace(path: Path, redactor: Redactor) -> None:
    """Rewrite a Playwright trace zip with every secret masked in its text members.

    A trace holds the test's actions and their arguments (URLs, typed text), each request's
    and response's headers (Authorization, cookies, the --staging-header values), response
    bodies and DOM snapshots, and screenshots. Text members are redacted like all evidence;
    images cannot be, so a secret shown on screen stays visible in them.
    """
    if not redactor.secrets and not redactor.secret_headers:
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(
                tmp, "w", compression=zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                data = source.read(info)
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    target.writestr(info, data)
                    continue
                text = redactor.har_headers(redactor.text(text))
                target.writestr(info, text.encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def keep_trace(trace: Path, report_dir: Path, nodeid: str) -> str:
    """Copy a (redacted) trace next to the verdict; its path relative to the report dir."""
    name = artifacts_folder(report_dir, nodeid) / "trace.zip"
    (report_dir / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(trace, report_dir / name)
    return name.as_posix()
