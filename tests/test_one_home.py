"""One home per rule (issue 16.7): each of these rules lives in one module, and that module
behaves as the callers that used to carry their own copy expect."""

from __future__ import annotations

import pytest

from servers import LoopbackServer


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
