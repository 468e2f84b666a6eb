"""pytest-playwright in the release gate: registered only in an active run where
pytest-playwright is in use (this module imports Playwright).

Each fixture below extends pytest-playwright's fixture of the same name (it asks for it and
adds to it), so a conftest can still extend ours the same way:

- ``browser_type_launch_args``: a system Chromium when Playwright's download is absent
  (``--staging-browser-path``, else chromium-headless-shell / chromium on PATH), and an NSS
  database trusting ``--staging-ca-bundle``;
- ``browser_context_args``: ``base_url`` is the staging URL; ``--staging-insecure`` sets
  ``ignore_https_errors``;
- ``new_context``: every context the test opens is watched (console errors, failed requests),
  gets the ``--staging-header`` values and the test's W3C trace context on requests to the
  staging origin only, one redirect hop at a time (``BrowserHooks.forward``: a staging redirect
  to another origin carries none of them), and, in a destructive test, refuses requests to
  URLs matching ``sensitive_url`` and staging redirects to them.

Launching stays pytest-playwright's: once per process (xdist worker), a context per test.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import inspect
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from playwright.sync_api import BrowserType
from playwright.sync_api import Error as PlaywrightError

from pytest_staging.browser import evidence, remote
from pytest_staging.browser.chromium import BrowserSetupError, choose_executable, make_trust_home
from pytest_staging.browser.names import BROWSER_PATH_KEY
from pytest_staging.gate_assignment import run_last
from pytest_staging.redact import strip_credentials
from pytest_staging.settings import Settings
from pytest_staging.trace_context import Trace
from pytest_staging.trace_glue import trace_of
from pytest_staging.wire import ensure_payload

WATCHER_KEY = pytest.StashKey[evidence.PageWatcher]()
#: The failing test's evidence list (HTTP exchanges and the browser item), kept for teardown,
#: where the trace (known only then) is added to it.
EVIDENCE_KEY = pytest.StashKey[list[dict[str, Any]]]()
HOOKS_KEY = pytest.StashKey["BrowserHooks"]()
#: pytest-playwright's fixtures that start a browser.
BROWSER_FIXTURES = frozenset({"page", "context", "new_context", "browser"})
#: Traces of a test already redacted (reruns list them again).
TRACES_KEY = pytest.StashKey[set[str]]()
#: Extra CA certificates of Node (Playwright's driver), read when it starts.
NODE_CA = "NODE_EXTRA_CA_CERTS"
#: Answers the browser follows to their Location.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def permission_origin(url: str) -> str:
    """The origin of ``url`` as ``context.grant_permissions`` takes it: ``scheme://host[:port]``
    without credentials or a default port, an IPv6 host in brackets."""
    scheme, host, port = origin_of(url)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (
        f":{port}" if port != {"http": 80, "https": 443}.get(scheme) else "")


def _canonical(name: str) -> str:
    """``user-agent`` -> ``User-Agent``."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


def basic_auth(url: str) -> dict[str, str]:
    """``{"Authorization": "Basic ..."}`` for a URL with credentials, else ``{}``."""
    parts = urlsplit(url)
    if parts.username is None:
        return {}
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def register(config: pytest.Config, settings: Settings) -> None:
    """Register the fixtures (this module) and the report hook of an active run."""
    hooks = BrowserHooks(settings)
    config.stash[HOOKS_KEY] = hooks
    hooks.trust_ca_in_node()
    config.pluginmanager.register(hooks, "staging-browser")
    # This module's own object; an in-process run (pytester) may have dropped it from
    # sys.modules since it was first imported.
    module = sys.modules.get(__name__) or importlib.import_module(__name__)
    config.pluginmanager.register(module, "staging-browser-fixtures")


class BrowserHooks:
    """Settings, route handlers and report hook of the browser integration (per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redactor = settings.redactor()
        self.origin = origin_of(settings.url)
        #: The staging origin as permissions name it (``https://staging.example:8443``).
        self.origin_url = permission_origin(settings.url)
        pattern = settings.policy["target.sensitive_url"]
        self.sensitive = re.compile(pattern) if pattern else None
        self.embedded = 0
        #: What the staging origin gets on every browser request: URL credentials as Basic
        #: auth, sent up front as the staging client sends them, then --staging-header values.
        self.headers = {**basic_auth(settings.url), **settings.headers}
        #: A remote browser server (--staging-browser-ws), and whether its connection is gone.
        self.ws = settings.browser_ws
        self.lost = False
        #: NODE_EXTRA_CA_CERTS before this run set it (``(value,)``), and the combined bundle
        #: written when one was already given.
        self.node_ca: tuple[str | None] | None = None
        self.node_ca_file = ""

    def trust_ca_in_node(self) -> None:
        """``--staging-ca-bundle`` for Playwright's driver (Node), which sends the staging
        requests of the browser (``forward``): Node reads ``NODE_EXTRA_CA_CERTS`` when it
        starts, and pytest-playwright starts the driver after this. A bundle already given
        there stays trusted too. A remote browser server sends them from its own machine."""
        bundle = self.settings.verify if isinstance(self.settings.verify, str) else None
        if bundle is None or self.ws is not None:
            return
        bundle = os.path.abspath(bundle)
        before = os.environ.get(NODE_CA)
        self.node_ca = (before,)
        if before and os.path.abspath(before) != bundle:
            handle, both = tempfile.mkstemp(prefix="staging-ca-", suffix=".pem")
            with os.fdopen(handle, "wb") as out:
                for path in (before, bundle):
                    with contextlib.suppress(OSError), open(path, "rb") as pem:
                        out.write(pem.read() + b"\n")
            self.node_ca_file = both
            bundle = both
        os.environ[NODE_CA] = bundle

    def pytest_unconfigure(self) -> None:
        # The driver has stopped: the process's environment is as it was (pytester runs
        # several sessions in one process).
        if self.node_ca is None:
            return
        before = self.node_ca[0]
        if before is None:
            os.environ.pop(NODE_CA, None)
        else:
            os.environ[NODE_CA] = before
        if self.node_ca_file:
            with contextlib.suppress(OSError):
                os.unlink(self.node_ca_file)

    def lose_connection(self) -> None:
        """The remote browser server's connection is gone (Playwright's ``disconnected``, or
        a context closed by the other side): later browser tests say so in one line."""
        self.lost = True

    def remote_context(self, new_context: Callable[..., Any], kwargs: dict[str, Any],
                       watcher: evidence.PageWatcher) -> Any:
        """A context on the remote browser, watched for the connection going away."""
        problem = ""
        try:
            context = new_context(**kwargs)
        except PlaywrightError as exc:
            problem = (remote.dropped(str(self.ws), exc, self.redactor, earlier=True)
                       if self.lost else remote.unusable(str(self.ws), exc, self.redactor))
        if problem:
            pytest.fail(problem, pytrace=False)
        closing = context.close  # pytest-playwright's wrapper, called at its teardown

        def close(*args: Any, **kw: Any) -> Any:
            watcher.closed_by_test.add(id(context))
            return closing(*args, **kw)

        def closed(_context: Any) -> None:
            # Playwright closes every context of a connection that dropped, at once.
            if id(context) not in watcher.closed_by_test:
                watcher.dropped = True
                self.lose_connection()

        context.close = close
        context.on("close", closed)
        return context

    def is_staging(self, url: str) -> bool:
        return origin_of(url) == self.origin

    def forward(self, route: Any, watcher: evidence.PageWatcher, trace: Trace | None = None,
                guarded: bool = False, timeout_ms: float = 30_000) -> None:
        """A browser request to the staging origin, with our headers, one hop at a time.

        Only to the staging origin: ``extra_http_headers`` would hand a token to every
        third-party script, font and analytics host the page loads. Not by ``route.continue_``
        with headers either: Playwright puts those headers on every redirect hop the browser
        then follows, another origin's included. So Playwright's HTTP client sends the request
        (our headers, the test's trace span, the context's cookies), redirects not followed, and
        the answer goes to the browser as it is: a 3xx is followed by the browser as a hop of
        its own, which carries none of our headers (Playwright routes no redirect hop). In a
        guarded destructive test, a redirect to a sensitive URL is refused before the browser
        can follow it."""
        request = route.request
        ours = {name.lower() for name in self.headers}
        # request.headers has the cookies the browser would send, its names in lower case:
        # written as Chromium writes them on HTTP/1.1 (Cookie, User-Agent), since a server
        # that (wrongly) reads header names case-sensitively would otherwise lose the session.
        headers = {_canonical(name): value for name, value in request.headers.items()
                   if name.lower() not in ours}
        headers.update(self.headers)
        if trace is not None:  # a new span of the test's trace, unless the page sent its own
            trace.stamp(headers, request.url)
        try:
            # [browser] timeout per request, as for a navigation (Playwright's own is 30 s).
            response = route.fetch(headers=headers, max_redirects=0, timeout=timeout_ms)
        except PlaywrightError as exc:
            # Unreachable, TLS refused, timed out: the browser sees a failed request, the
            # evidence says why (the browser's own line would only say net::ERR_FAILED).
            watcher.request_error(request.method, request.url, str(exc))
            with contextlib.suppress(PlaywrightError):
                route.abort("failed")
            return
        location = response.headers.get("location")
        if guarded and self.sensitive is not None and location \
                and response.status in REDIRECT_STATUSES:
            target = urljoin(request.url, location)
            if self.sensitive.search(target):
                watcher.refused.append(target)
                with contextlib.suppress(PlaywrightError):
                    route.abort("blockedbyclient")
                return
        with contextlib.suppress(PlaywrightError):  # the page or context closed meanwhile
            route.fulfill(response=response)

    def watch_redirects(self, request: Any, watcher: evidence.PageWatcher) -> None:
        # Routes never see redirect hops: a staging answer's Location is judged in forward(),
        # but a hop of another origin's redirect to a sensitive URL cannot be stopped, only
        # caught, and it fails the test.
        if (request.redirected_from is not None and self.sensitive is not None
                and self.sensitive.search(request.url)):
            watcher.reached.append(request.url)

    def guard(self, route: Any, watcher: evidence.PageWatcher) -> None:
        url = route.request.url
        if self.sensitive is not None and self.sensitive.search(url):
            watcher.refused.append(url)
            route.abort("blockedbyclient")
            return
        route.fallback()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # Browser tests first (a stable sort, load tests stay last): under xdist they are
        # handed out early and are done before the load tests measure the target.
        items.sort(key=lambda item: (run_last(item),
                                     not BROWSER_FIXTURES & set(getattr(item, "fixturenames",
                                                                        ()))))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]
                                  ) -> Iterator[None]:
        report: pytest.TestReport = yield
        try:
            self.annotate(item, report, call)
        except Exception as exc:  # the controller turns this into NO-GO
            # On the report's payload, which the controller reads (a bare report attribute
            # reached nobody: the error was lost and the test counted as passed).
            ensure_payload(report).plugin_error = (
                f"browser evidence of {item.nodeid}: {type(exc).__name__}: {exc}"
                .splitlines()[0])
        return report  # type: ignore[return-value]

    def annotate(self, item: pytest.Item, report: pytest.TestReport,
                 call: pytest.CallInfo[None] | None = None) -> None:
        if report.when == "setup" and EVIDENCE_KEY in item.stash:
            del item.stash[EVIDENCE_KEY]  # a rerun: the failed attempt's evidence is gone
        watcher = item.stash.get(WATCHER_KEY, None)
        if self.ws is not None and report.failed and watcher is not None and watcher.dropped:
            # Playwright says "Target page, context or browser has been closed": the line
            # says which server went away, so nobody looks for a bug in the page.
            error = call.excinfo.value if call is not None and call.excinfo else None
            report.longrepr = remote.dropped(self.ws, error, self.redactor, earlier=False)
        if report.when != "setup" and watcher is not None:
            refused = watcher.refused[watcher.flagged[0]:]
            reached = watcher.reached[watcher.flagged[1]:]
            watcher.flagged = (len(watcher.refused), len(watcher.reached))
            if (refused or reached) and report.passed:
                # A refused request the page shrugged off is still a destructive test that
                # tried to touch a sensitive URL; a redirect hop that got there is worse.
                report.outcome = "failed"
                report.longrepr = guard_message(refused, reached, self.redactor)
            elif (refused or reached) and report.failed:
                # The refusal is the cause ("Page.goto: net::ERR_BLOCKED_BY_CLIENT" is its
                # effect): the reason line names it, the test's own error follows.
                message = guard_message(refused, reached, self.redactor)
                ensure_payload(report).reason = message
                report.longrepr = f"{message}\n{report.longreprtext}"
        if report.when == "teardown":
            self.keep_traces(item, report)
            return
        if not report.failed:
            return
        funcargs = getattr(item, "funcargs", {})
        pages = watcher.pages() if watcher is not None else []
        if not pages and funcargs.get("page") is not None:
            pages = [funcargs["page"]]
        if watcher is None and not pages:
            return
        embed = self.embedded < evidence.MAX_EMBEDDED
        found = evidence.capture(watcher, pages, self.settings.report_dir, item.nodeid,
                                 self.redactor, embed=embed)
        self.embedded += "screenshot_data" in found
        payload = ensure_payload(report)
        items = [*payload.evidence, found]
        payload.evidence = items
        item.stash[EVIDENCE_KEY] = items
        report.sections.append(("staging: browser evidence", describe(found)))

    def keep_traces(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """Redact the traces pytest-playwright kept (``--tracing``); link a failing test's."""
        done = item.stash.setdefault(TRACES_KEY, set())
        # user_properties is the item's own list: a rerun's report lists earlier traces too.
        traces = [str(value) for name, value in report.user_properties
                  if name == "playwright_trace" and str(value) not in done]
        for trace in traces:
            evidence.redact_trace(Path(item.config.invocation_params.dir, trace), self.redactor)
            done.add(trace)
        items = item.stash.get(EVIDENCE_KEY, None)
        if items is None or not traces:
            return
        browser = next((e for e in items if e.get("kind") == "browser"), None)
        if browser is not None:
            # The last trace is this attempt's (its last context, when it opened several).
            browser["trace"] = evidence.keep_trace(
                Path(item.config.invocation_params.dir, traces[-1]), self.settings.report_dir,
                item.nodeid)
            ensure_payload(report).evidence = items


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], browser_type: Any,
                             pytestconfig: pytest.Config,
                             tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """pytest-playwright's launch arguments, with the browser to use and the staging CA."""
    hooks = pytestconfig.stash[HOOKS_KEY]
    args = dict(browser_type_launch_args)
    configured = pytestconfig.stash.get(BROWSER_PATH_KEY, None)
    ca_bundle = hooks.settings.verify if isinstance(hooks.settings.verify, str) else None
    if hooks.ws is not None:
        # The browser server launches the browser: the path is on its machine (sent as its
        # launch option, see connect_options), and its machine's trust store decides TLS.
        ca_bundle = None
    if browser_type.name != "chromium":
        if configured or ca_bundle:
            pytest.fail(f"--staging-browser-path and --staging-ca-bundle apply to Chromium "
                        f"only, not {browser_type.name}", pytrace=False)
        return args
    if hooks.ws is not None:
        if configured:
            args["executable_path"] = configured
        return args
    problem = ""
    try:
        path = choose_executable(configured, args, browser_type.executable_path)
        if path:
            args["executable_path"] = path
        if ca_bundle:
            home = make_trust_home(ca_bundle, tmp_path_factory.mktemp("chromium-home"))
            args["env"] = {**os.environ, **(args.get("env") or {}), "HOME": str(home)}
    except BrowserSetupError as exc:
        problem = str(exc)
    if problem:  # outside the except: one line, no "during handling of..." chain
        pytest.fail(problem, pytrace=False)
    return args


@pytest.fixture(scope="session")
def connect_options(connect_options: dict[str, Any] | None,
                    browser_type_launch_args: dict[str, Any], pytestconfig: pytest.Config
                    ) -> dict[str, Any] | None:
    """pytest-playwright's ``connect_options``: the remote browser server of
    ``--staging-browser-ws`` (policy ``[browser] ws_endpoint``), when one is given, with the
    launch options (``--staging-browser-path``) sent to it; the connection and the server's
    browser launch are bounded by the policy's ``[browser] timeout``."""
    hooks = pytestconfig.stash[HOOKS_KEY]
    if hooks.ws is None:
        return connect_options
    # connect(self, endpoint, ...): "ws_endpoint" in older Playwright releases.
    names = list(inspect.signature(BrowserType.connect).parameters)
    return remote.connect_options(hooks.ws, browser_type_launch_args,
                                  float(hooks.settings.policy["browser.timeout"]),
                                  connect_options, endpoint_name=names[1])


@pytest.fixture(scope="session")
def launch_browser(launch_browser: Callable[..., Any], pytestconfig: pytest.Config
                   ) -> Callable[..., Any]:
    """pytest-playwright's ``launch_browser``; a remote browser server that cannot be reached
    or cannot launch the browser fails every browser test with one line naming it."""
    hooks = pytestconfig.stash[HOOKS_KEY]
    if hooks.ws is None:
        return launch_browser

    def launch(**kwargs: Any) -> Any:
        problem = ""
        try:
            browser = launch_browser(**kwargs)
        except PlaywrightError as exc:
            problem = remote.unusable(str(hooks.ws), exc, hooks.redactor)
        if problem:  # outside the except: one line, no "during handling of..." chain
            pytest.fail(problem, pytrace=False)
        browser.on("disconnected", lambda _browser: hooks.lose_connection())
        return browser

    return launch


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], pytestconfig: pytest.Config
                         ) -> dict[str, Any]:
    """pytest-playwright's context arguments, aimed at the staging target."""
    hooks = pytestconfig.stash[HOOKS_KEY]
    url = hooks.settings.url
    args = {**browser_context_args, "base_url": strip_credentials(url)}
    if hooks.settings.insecure:
        args["ignore_https_errors"] = True
    return args


@pytest.fixture
def new_context(new_context: Callable[..., Any], request: pytest.FixtureRequest
                ) -> Callable[..., Any]:
    """pytest-playwright's ``new_context``, with each context watched and guarded."""
    hooks = request.config.stash[HOOKS_KEY]
    watcher = evidence.PageWatcher()
    request.node.stash[WATCHER_KEY] = watcher
    guard = (hooks.sensitive is not None and not hooks.settings.allow_destructive
             and request.node.get_closest_marker("destructive") is not None)

    timeout_ms = float(hooks.settings.policy["browser.timeout"]) * 1000
    trace = trace_of(request.node)

    def create(**kwargs: Any) -> Any:
        if guard:
            # Requests from a service worker bypass routes: none for a guarded test.
            kwargs.setdefault("service_workers", "block")
        if hooks.ws is None:
            context = new_context(**kwargs)
        else:
            context = hooks.remote_context(new_context, kwargs, watcher)
        # A broken page fails the journey within [browser] timeout, not Playwright's 30 s
        # per action (a NO-GO staging should not also cost minutes of CI).
        context.set_default_timeout(timeout_ms)
        watcher.watch(context)
        if hooks.headers or trace is not None or guard:
            browser = context.browser
            if browser is None or browser.browser_type.name == "chromium":
                # Documents served through route.fulfill have no IP address: Chromium's Local
                # Network Access counts them as public and blocks what they load from a
                # private or loopback address of another origin. Staging's own pages may, as
                # they could when the browser loaded them itself.
                context.grant_permissions(["local-network-access"], origin=hooks.origin_url)
            context.route(hooks.is_staging, lambda route: hooks.forward(
                route, watcher, trace, guarded=guard, timeout_ms=timeout_ms))
        if guard:
            # Registered last, so it runs first (Playwright tries the newest route first).
            context.route("**/*", lambda route: hooks.guard(route, watcher))
            context.on("request", lambda request: hooks.watch_redirects(request, watcher))
        return context

    return create


def guard_message(refused: list[str], reached: list[str], redactor: Any) -> str:
    """The failure of a destructive test whose browser went for a sensitive URL."""
    parts = [f"refused {len(refused)}"] if refused else []
    if reached:
        parts.append(f"{len(reached)} reached by a redirect before it could be stopped")
    first = redactor.url((refused or reached)[0])
    return (f"destructive guard: browser request(s) to a URL matching sensitive_url: "
            f"{', '.join(parts)}; first {first}")


def describe(item: dict[str, Any]) -> str:
    """The browser evidence as text for the terminal (already redacted)."""
    lines = [f"page: {item.get('url') or '-'}"
             + (f" ({item['title']})" if item.get("title") else "")]
    if item.get("screenshot"):
        lines.append(f"screenshot: {item['screenshot']} (under the report dir)")
    for text in item.get("console_errors") or []:
        lines.append(f"console error: {text}")
    for failed in item.get("failed_requests") or []:
        outcome = failed.get("status") or failed.get("error") or "failed"
        lines.append(f"request failed: {failed['method']} {failed['url']} -> {outcome}")
    for url in item.get("refused") or []:
        lines.append(f"refused by the destructive guard: {url}")
    if item.get("error"):
        lines.append(f"note: {item['error']}")
    return "\n".join(lines)
