"""One home per rule (issue 16.7): each of these rules lives in one module, and that module
behaves as the callers that used to carry their own copy expect."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import LoopbackServer, text_answer

import pytest_staging
from pytest_staging.durations import (
    parse_duration,
    parse_rate,
    parse_seconds,
    seconds_option,
)
from pytest_staging.failure_text import failure_message
from pytest_staging.gate_assignment import assign, assigned
from pytest_staging.gates.performance.report import markdown_lines as performance_lines
from pytest_staging.gates.performance.runner import LoadError, parse_timespan
from pytest_staging.printable import error_line, first_line, one_line
from pytest_staging.reports.markdown_text import md_code
from pytest_staging.schema import SCHEMA_ID, most_relevant_error, validation_errors
from pytest_staging.verdict import placeholder
from pytest_staging.verify import VerifyError, check_schema


def test_failed_request_report_shows_the_test_not_urllib3(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer) -> None:
    """report_hooks.py's short failure of a request the target did not answer (frames filtered by
    compat.without_frames_from, no ``_pytest`` import): the test's line and the requests
    exception, none of requests', urllib3's or pytest's frames."""

    def hang_up(req):  # the handler dies: the connection closes without an answer
        raise ConnectionAbortedError("no answer")

    server.routes["/down"] = hang_up
    pytester.makepyfile(test_down="""
        def test_down(staging):
            staging.get("/down")
    """)
    run = run_staging("-p", "no:xdist", url=server.url)
    assert run.ret == 1
    assert 'staging.get("/down")' in run.output
    assert "ConnectionError" in run.output
    for noise in ("urllib3/connectionpool.py", "requests/adapters.py", "_pytest/",
                  "pytest_staging/client.py", "pluggy/"):
        assert noise not in run.output
    # The reason names the URL and the cause, not urllib3's text cut before it (issue 24.7).
    [reason] = [r for r in run.verdict["reasons"] if r.startswith("integration: test_down")]
    assert reason == (f"integration: test_down.py::test_down failed: ConnectionError: cannot "
                      f"GET {server.url}down: the server closed the connection without an "
                      "answer"), reason
    assert "Max retries" not in reason and "ConnectionPool" not in reason


def test_one_line_is_one_printable_line() -> None:
    assert one_line("a\n  b\tc\r\nd") == "a b c d"
    assert one_line("ALL\x1b[2J GREEN\u202e") == "ALL\\x1b[2J GREEN\\u202e"  # shown, inert
    assert one_line(ValueError("boom")) == "boom"
    assert one_line("x" * 50, 20) == "x" * 17 + "..."
    assert len(one_line("\x00" * 50, 20)) == 20  # the limit holds after escaping


def test_failure_message_is_built_on_one_line(pytester: pytest.Pytester) -> None:
    """A report's one line (the controller's reason text) is the crash message, first line,
    through printable.one_line: the same folding, escaping and limit as verify's lines."""
    pytester.makepyfile(test_fail="""
        def test_fail():
            raise AssertionError("first   line\\x1b\\nsecond line")

        def test_long():
            raise ValueError("y" * 400)
    """)
    reprec = pytester.inline_run("-p", "no:cacheprovider", "-p", "no:xdist")
    failed = {r.nodeid.split("::")[-1]: r for r in reprec.getreports("pytest_runtest_logreport")
              if r.failed}
    assert failure_message(failed["test_fail"]) == "AssertionError: first line\\x1b"
    long = failure_message(failed["test_long"])
    assert long.startswith("ValueError: yyy") and long.endswith("...") and len(long) == 240


HOSTILE = "<img src=x onerror=alert(1)> **GO** | `x` :white_check_mark:\n## fake"


def test_md_code_is_one_inert_code_span() -> None:
    assert md_code("a`b|c\nd <i>") == "`a'b\\|c d &lt;i&gt;`"
    assert md_code("p95 < 300 & rps > 5") == "`p95 < 300 & rps > 5`"  # no tag: as written
    assert md_code("") == "-"


def test_gate_markdown_sections_use_the_one_escaper() -> None:
    """The performance section escaped only pipes and newlines before: a load name or a
    check's detail could add HTML, emphasis or an emoji tick to verdict.md."""
    verdict = {"gates": {"performance": {
        "metrics": {HOSTILE: {"requests": 10, "rps": 1.0, "p95": 12.0, "fail_ratio": 0.0}},
        "checks": [{"load": HOSTILE, "passed": False, "expr": "p95 < 1 | `x`",
                    "detail": HOSTILE}]}}}
    text = "\n".join(performance_lines(verdict))
    assert "<img" not in text and "**GO**" not in text and ":white_check_mark:" not in text
    assert "\n## fake" not in text
    assert "&lt;img src=x onerror=alert(1)&gt; \\*\\*GO\\*\\* \\|" in text
    assert "`p95 < 1 \\| 'x'`" in text


def test_no_markdown_escaper_outside_markdown_text() -> None:
    """One escaper per output format: no module but reports/markdown_text.py escapes pipes
    for Markdown on its own (three gates' ``_cell`` and diff's ``_md`` did)."""
    import re

    root = Path(pytest_staging.__file__).parent
    pattern = re.compile(r"""replace\(\s*["']\|["']\s*,\s*["']\\\\\|""")
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name != "markdown_text.py" and pattern.search(p.read_text())]
    assert offenders == []


def _definitions() -> dict[str, list[str]]:
    """Top-level functions, classes and constants of the package, by name -> modules."""
    import ast

    root = Path(pytest_staging.__file__).parent
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            for name in names:
                found.setdefault(name, []).append(str(path.relative_to(root)))
    return found


#: Rules that used to be written twice (issue 16.7), each with its one home now.
ONE_HOME = {
    "one_line": "printable.py",
    "first_line": "printable.py",
    "canonical_json": "canonical.py",
    "error_line": "printable.py",
    "failure_message": "failure_text.py",
    "md_escape": "reports/markdown_text.py",
    "md_code": "reports/markdown_text.py",
    "format_metric": "gates/performance/thresholds.py",
    "display_value": "reports/html.py",
    "parse_seconds": "durations.py",
    "parse_duration": "durations.py",
    "format_duration": "durations.py",
    "parse_rate": "durations.py",
    "SCHEMA_ID": "schema/__init__.py",
    "verdict_schema": "schema/__init__.py",
    "GATE_KEY": "gate_assignment.py",
    "assign": "gate_assignment.py",
    "is_load_test": "gate_assignment.py",
    # promotion.py rendered outputs, signed, wrote JUnit and read options: three modules now
    "render_outputs": "verdict_outputs.py",
    "JunitHooks": "junit_hooks.py",
    "relocate_skip": "skip_location.py",
    "retries_count": "promotion.py",
    # items.py assigned, selected, guarded and annotated and redacted reports
    "ItemHooks": "items.py",
    "ReportHooks": "report_hooks.py",
    "CLIENT_KEY": "report_hooks.py",
    # one wording of a request that got no answer (target.py had its own, parity raw urllib3)
    "request_failed": "request_problems.py",
    "chain_text": "tls_problems.py",
    # one bounded TLS handshake (transport.py and parity's compare.py each had one)
    "tls_handshake": "deadline.py",
}
#: Names that misled (two functions of one name doing different jobs): gone.
GONE = ("format_value", "_cell", "_md", "scrub", "_duration", "_first_line", "_TIMESPAN",
        "_seconds", "_non_negative_seconds",
        "_DURATION_PART",
        "load_schema", "SCHEMA", "gate_of",
        # dead code (nothing called it): found by vulture, checked by grep over tests and docs
        "phase_report", "write_sarif", "schemathesis_version", "SEVERITIES", "RUN_KEY",
        "DESCRIPTION",
        # the flaky property is set in ReportHooks' one report wrapper (no hook object of its own)
        "FlakyProperty",
        # target.py's wording of a failed request: request_problems.describe now
        "_texts")


def test_each_rule_has_one_home() -> None:
    found = _definitions()
    assert {name: found.get(name) for name in ONE_HOME} == {
        name: [home] for name, home in ONE_HOME.items()}
    assert {name: found[name] for name in GONE if name in found} == {}


@pytest.mark.parametrize(("text", "seconds"), [
    (30, 30.0), (2.5, 2.5), ("45", 45.0), ("30s", 30.0), ("2m", 120.0), ("1h30m", 5400.0),
    ("1.5h", 5400.0), (" 2M ", 120.0), ("1d", 86400.0), ("1w", 604800.0), ("0", 0.0),
])
def test_parse_seconds(text: str | float, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", [
    True, "", "m", "5x", "-5m", -1, "1h30", "1h 30m", "soon", float("nan"), float("inf"),
    "1e3",
])
def test_parse_seconds_rejects(text: str | float) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_seconds(text)


def test_run_time_and_max_age_share_the_parser() -> None:
    """``run_time = "1h30"`` was 1 h 30 s to the performance gate and an error to verify:
    one grammar now, the same error for both."""
    assert parse_timespan("1h30m") == parse_duration("1h30m").total_seconds() == 5400
    assert parse_timespan("1d") == 86400  # a unit verify knew and the load did not
    for bad in ("1h30", "0", 0):
        with pytest.raises(LoadError):
            parse_timespan(bad)
    assert parse_rate("600/min") == parse_rate(" 10 / s ") == 10
    with pytest.raises(ValueError):
        parse_rate("10/fortnight")


def test_schema_id_and_validator_have_one_home() -> None:
    """The id the writer puts in verdict.json is the id verify demands, and verify's one-line
    schema error is one of the errors the full validation lists."""
    verdict = placeholder("run in progress")
    assert verdict["schema"] == SCHEMA_ID
    assert validation_errors(verdict) == [] and most_relevant_error(verdict) is None
    check_schema(verdict)
    bad = {**verdict, "verdict": "MAYBE"}
    where, message = most_relevant_error(bad) or ("", "")
    assert where == "verdict" and f"verdict: {message}" in validation_errors(bad)
    with pytest.raises(VerifyError, match=r"schema: at verdict: 'MAYBE'"):
        check_schema(bad)
    with pytest.raises(VerifyError, match="expected schema 'pytest-staging/verdict@1'"):
        check_schema({**verdict, "schema": "pytest-staging/verdict@0"})


def test_gate_assignment_is_one_rule(pytester: pytest.Pytester) -> None:
    """Closest gate marker wins (function over class over module); else a load test
    (``staging_load``) is performance; else the default gate; ``advisory`` never blocks."""
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def staging_load():
            return None

        def pytest_configure(config):
            for name in ("smoke", "unrelated"):
                config.addinivalue_line("markers", name)
    """)
    items = pytester.getitems("""
        import pytest

        pytestmark = pytest.mark.security

        def test_module_mark():
            pass

        @pytest.mark.smoke
        def test_closest(staging_load):
            pass

        class TestClass:
            pytestmark = pytest.mark.integration

            @pytest.mark.advisory
            def test_class_mark(self):
                pass

        @pytest.mark.unrelated
        def test_load(staging_load):
            pass
    """)
    gates = ("integration", "security", "performance", "smoke")
    got = {item.name: assign(item, gates, "integration") for item in items}
    assert {name: (a.gate, a.blocking) for name, a in got.items()} == {
        "test_module_mark": ("security", True),
        "test_closest": ("smoke", True),
        "test_class_mark": ("integration", False),
        "test_load": ("security", True),  # the module's marker is still a marker
    }
    assert "unrelated" in got["test_load"].markers
    bare = pytester.getitems(pytester.makepyfile(test_bare="""
        def test_load(staging_load):
            pass

        def test_plain():
            pass
    """))
    assert [assign(i, gates, "smoke").gate for i in bare] == ["performance", "smoke"]
    assert [assign(i, ("smoke",), "smoke").gate for i in bare] == ["smoke", "smoke"]
    assert assigned(bare[1], "smoke") == ("smoke", True)  # never collected by the hooks


def test_browser_evidence_error_reaches_the_controller() -> None:
    """The browser hook wrote its plugin error to ``report.staging_plugin_error``, which
    nothing read: a broken evidence collection passed in silence. It travels on the payload,
    which the controller turns into NO-GO."""
    from pytest_staging.browser.fixtures import BrowserHooks
    from pytest_staging.wire import payload_of

    class BrokenItem:
        nodeid = "test_shop.py::test_page"

        @property
        def stash(self) -> None:
            raise RuntimeError("evidence store broke")

    hooks = BrowserHooks.__new__(BrowserHooks)  # the report hook needs no settings
    report = pytest.TestReport(nodeid=BrokenItem.nodeid, location=("test_shop.py", 0, "t"),
                               keywords={}, outcome="passed", longrepr=None, when="call")
    wrapper = hooks.pytest_runtest_makereport(BrokenItem(), None)  # type: ignore[arg-type]
    next(wrapper)
    with pytest.raises(StopIteration) as done:
        wrapper.send(report)
    payload = payload_of(done.value.value)
    assert payload is not None
    assert payload.plugin_error == ("browser evidence of test_shop.py::test_page: "
                                    "RuntimeError: evidence store broke")


def test_settings_parameters_say_what_they_hold() -> None:
    """A ``Settings`` travelled as ``staging: Any`` through the gates (a name that reads as
    the client fixture, a type that checks nothing): parameters holding the run's settings
    are named ``settings`` and typed ``Settings``."""
    import ast

    root = Path(pytest_staging.__file__).parent
    loose = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in [*node.args.args, *node.args.kwonlyargs]:
                    note = ast.unparse(arg.annotation) if arg.annotation else ""
                    if arg.arg == "settings" and note in ("", "Any"):
                        loose.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
                    if arg.arg == "staging" and note == "Any" and node.name != "finding":
                        loose.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    assert loose == []


def test_first_line_and_error_line_never_raise() -> None:
    """``str(exc).splitlines()[0]`` was written in a dozen handlers; on an exception with no
    message it raised IndexError inside the handler that was reporting the first error."""
    assert first_line("\n  \n  first\nsecond") == "first"
    assert first_line("") == "" and first_line(RuntimeError()) == ""
    assert error_line(RuntimeError()) == "RuntimeError"
    assert error_line(ValueError("bad\nTraceback ...")) == "ValueError: bad"
    assert error_line(ValueError("x" * 500), 40) == "ValueError: " + "x" * 25 + "..."
    assert len(error_line(ValueError("x" * 500))) > 500  # no cut unless asked (redact first)


def test_browser_evidence_survives_a_page_error_without_message(tmp_path: Path) -> None:
    from pytest_staging.browser.evidence import capture
    from pytest_staging.redact import Redactor

    class ClosedPage:
        url = "http://127.0.0.1:9/checkout"

        def title(self) -> str:
            raise RuntimeError()  # what a closed page may raise: no message

    item = capture(None, [ClosedPage()], tmp_path, "test_shop.py::test_page", Redactor())
    assert item["error"] == "screenshot of page 1: RuntimeError"
    assert item["url"] == ClosedPage.url


def test_parity_reads_bodies_through_the_one_capped_reader(server: LoopbackServer) -> None:
    """Parity's fetch had its own copy of deadline.read_capped's loop: now it calls it."""
    from pytest_staging.gates.parity.client import ReadOnlyClient
    from pytest_staging.gates.parity.compare import fetch

    server.routes["/big"] = lambda req: text_answer("x" * 200_000)
    with ReadOnlyClient(server.url, budget=2, name="staging") as client:
        page = fetch(client, "/big", limit=1000)
    assert page.status == 200 and page.body == b"x" * 1000
    assert page.content_type == "text/plain"


def test_one_canonical_json_for_signatures_and_digests() -> None:
    """signing.py and provenance.py each had a ``canonical_json``: one byte form now, strict
    for what an HMAC covers (a NaN cannot be signed), lenient for digests of settings."""
    from dataclasses import dataclass as plain

    from pytest_staging.canonical import canonical_json
    from pytest_staging.signing import signed_bytes

    @plain
    class Point:
        x: int

    value = {"b": [1, 2], "a": "é"}
    assert signed_bytes({**value, "signature": "ff"}) == canonical_json(value)
    assert canonical_json({"p": Point(1), "s": {"z", "y"}}) == b'{"p":{"x":1},"s":["y","z"]}'
    with pytest.raises(ValueError):
        signed_bytes({"ratio": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"p": Point(1)}, strict=True)


def test_seconds_options_share_the_parser() -> None:
    """--staging-wait, --staging-timeout and --staging-load-progress each had their own float
    parser (two copies of one rule): one option type on durations.parse_seconds."""
    import argparse

    wait = seconds_option(0.0)
    assert wait("5") == 5.0 and wait("2m") == 120.0 and wait("0") == 0.0
    timeout = seconds_option(0.001)
    for bad in ("0", "-5", "", "inf", "nan", "soon", "1h30"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"expected seconds >= 0\.001, got"):
            timeout(bad)


def test_init_counts_tests_by_the_run_s_gate_rule(tmp_path: Path) -> None:
    """``pytest-staging init`` guessed gates with its own order (staging_load before the
    module's marker): it now reads the source by the rule a run applies."""
    from pytest_staging.init_project import scan_suite

    (tmp_path / "test_shop.py").write_text(
        "import pytest\n\n"
        "pytestmark = pytest.mark.security\n\n"
        "def test_load_in_security_module(staging_load):\n    pass\n\n"
        "@pytest.mark.integration\n"
        "def test_marked(staging_load):\n    pass\n")
    (tmp_path / "test_load.py").write_text(
        "def test_load(staging_load):\n    pass\n\ndef test_plain(staging):\n    pass\n")
    assert scan_suite(tmp_path).tests == {"integration": 2, "security": 1, "performance": 1}


def test_every_client_that_talks_to_a_server_has_the_one_deadline() -> None:
    """One hardening, every client (issue 20.3): no module sends a request through requests'
    module functions or a bare ``requests.Session`` (no total deadline: a drip holds them for
    minutes), and every Session class of the package is a ``deadline.DeadlineSession``."""
    import ast

    root = Path(pytest_staging.__file__).parent
    bare: list[str] = []
    for path in sorted(root.rglob("*.py")):
        where = str(path.relative_to(root))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    isinstance(node.func.value, ast.Name) and node.func.value.id == "requests" \
                    and node.func.attr in {"get", "post", "put", "patch", "delete", "head",
                                           "options", "request", "Session", "session"}:
                bare.append(f"{where}:{node.lineno}: requests.{node.func.attr}(...)")
            if isinstance(node, ast.ClassDef) and where != "deadline.py":
                bases = {ast.unparse(b) for b in node.bases}
                if bases & {"requests.Session", "Session"}:
                    bare.append(f"{where}:{node.lineno}: class {node.name}({', '.join(bases)})")
    assert bare == []
    from pytest_staging.client import StagingSession
    from pytest_staging.deadline import DeadlineSession
    from pytest_staging.gates.contract.session import ContractSession
    from pytest_staging.gates.parity.client import ReadOnlyClient

    for cls in (StagingSession, ContractSession, ReadOnlyClient):
        assert issubclass(cls, DeadlineSession), cls


@pytest.mark.parametrize(("message", "line"), [
    # Playwright: the cause on a later line, after the assertion's first line.
    ("AssertionError: Locator expected to have text 'One'\nActual value: None\nError: strict "
     "mode violation: locator(\"h2\") resolved to 2 elements:\n    1) <h2>One</h2>\n\nCall "
     "log:\n  - waiting for locator(\"h2\")",
     "AssertionError: Locator expected to have text 'One': strict mode violation: "
     "locator(\"h2\") resolved to 2 elements"),
    ("AssertionError: Locator expected to be visible\nActual value: None\nError: element(s) "
     "not found \nCall log:\n  - waiting for locator(\"#nope\")\n\nAria snapshot:\n- button",
     "AssertionError: Locator expected to be visible: element(s) not found"),
    ("playwright._impl._errors.TimeoutError: Page.wait_for_selector: Timeout 500ms exceeded."
     "\nCall log:\n  - waiting for locator(\".cart\") to be visible",
     "TimeoutError: Page.wait_for_selector: Timeout 500ms exceeded (waiting for "
     "locator(\".cart\") to be visible)"),
    ("AssertionError: Page title expected to be 'Shop'\nActual value: Shop - 500",
     "AssertionError: Page title expected to be 'Shop' (actual value: Shop - 500)"),
    ("playwright._impl._errors.Error: Page.goto: net::ERR_CONNECTION_REFUSED at "
     "http://127.0.0.1:1/\nCall log:\n  - navigating to \"http://127.0.0.1:1/\"",
     "Error: Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:1/"),
    # Generally: a later "Caused by:" line; a first line that already names it stays alone.
    ("RuntimeError: checkout failed\ntraceback of the worker\nCaused by: stock service 503",
     "RuntimeError: checkout failed: stock service 503"),
    ("ValueError: Error: bad input\nError: bad input", "ValueError: Error: bad input"),
    ("AssertionError: orders are down\nassert 500 == 200", "AssertionError: orders are down"),
    # urllib3's "Max retries exceeded" text: the URL and the cause, in staging-down words.
    ("requests.exceptions.ConnectionError: DeadlineHTTPConnectionPool(host='127.0.0.1', "
     "port=9): Max retries exceeded with url: /api/orders?page=2 (Caused by NewConnectionError("
     "\"DeadlineHTTPConnection(host='127.0.0.1', port=9): Failed to establish a new connection: "
     "[Errno 111] Connection refused\"))",
     "ConnectionError: no answer from http://127.0.0.1:9/api/orders?page=2: connection refused"),
    ("requests.exceptions.SSLError: HTTPSConnectionPool(host='shop.test', port=8443): Max "
     "retries exceeded with url: / (Caused by SSLError(SSLError(1, '[SSL: WRONG_VERSION_NUMBER] "
     "wrong version number (_ssl.c:1006)')))",
     "SSLError: no answer from https://shop.test:8443/: TLS error: the server did not speak TLS "
     "(an https:// URL aimed at a plain-HTTP port? use http:// or the TLS port)"),
    ("requests.exceptions.ConnectTimeout: HTTPConnectionPool(host='127.0.0.1', port=80): Max "
     "retries exceeded with url: /health (Caused by ConnectTimeoutError(<conn>, 'Connection to "
     "127.0.0.1 timed out. (connect timeout=2)'))",
     "ConnectTimeout: no answer from http://127.0.0.1:80/health: no answer (timed out)"),
])
def test_the_reason_line_names_the_cause(message: str, line: str) -> None:
    from pytest_staging.failure_text import cause_line

    assert cause_line(message) == line
