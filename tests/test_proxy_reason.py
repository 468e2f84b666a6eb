"""A dead proxy is named as the proxy, not reported as the target refusing connections."""

from __future__ import annotations

import pytest
from servers import LoopbackServer, free_port

from pytest_staging.target import wait_ready


def test_dead_proxy_is_named_in_the_readiness_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    server = LoopbackServer().start()
    try:
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
        through_proxy = wait_ready(server.url, "/health", wait=0.3, interval=0.1)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct = wait_ready(server.url, "/health", wait=2, interval=0.1)
    finally:
        server.stop()
    assert not through_proxy.ready
    assert "proxy failed" in through_proxy.reason and "NO_PROXY" in through_proxy.reason
    assert direct.ready, direct.reason
