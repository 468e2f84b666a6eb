"""One home per rule (issue 16.7): each of these rules lives in one module, and that module
behaves as the callers that used to carry their own copy expect."""

from __future__ import annotations

import pytest
from servers import LoopbackServer

from pytest_staging.failure_text import failure_message
from pytest_staging.printable import one_line


def test_failed_request_report_shows_the_test_not_urllib3(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer) -> None:
    """items.py's short failure of a request the target did not answer (frames filtered by
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
