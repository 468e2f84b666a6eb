"""``[performance] traceparent``: the Locust load's requests to staging as spans of the load
test's trace (off by default), for both of Locust's HTTP clients, never to another origin."""

from __future__ import annotations

import pytest
from servers import LoopbackServer, json_answer
from test_trace_context import POLICY, header, spans

pytestmark = pytest.mark.slow

LOCUSTFILE = """
from locust import HttpUser, constant, task
from locust.contrib.fasthttp import FastHttpUser


class Plain(HttpUser):
    wait_time = constant(0.05)

    @task
    def load(self):
        self.client.get("/load/plain")
        self.client.get("/load/away")


class Fast(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def load(self):
        self.client.get("/load/fast")
        self.client.get("/load/away")
"""
TEST = """
def test_load(staging_load):
    result = staging_load(locustfile="locustfile.py", users=2, spawn_rate=2, run_time=2)
    assert result["requests"] > 0
"""


@pytest.mark.parametrize("enabled", [True, False], ids=["traceparent", "default"])
def test_load_requests_carry_the_load_test_s_trace_when_asked(
        pytester: pytest.Pytester, run_staging, server: LoopbackServer, enabled: bool) -> None:
    other = LoopbackServer().start()
    try:
        other.routes["/landing"] = lambda req: json_answer({"elsewhere": True})
        for path in ("/load/plain", "/load/fast"):
            server.routes[path] = lambda req: json_answer({"ok": True})
        server.routes["/load/away"] = lambda req: (302, {"Location": other.url + "landing"},
                                                   b"")
        policy = POLICY.replace("[gates.performance]\nmin_tests = 0\n", "")
        if enabled:
            policy += "[performance]\ntraceparent = true\n"
        pytester.makefile(".toml", policy=policy)
        pytester.makepyfile(test_load=TEST)
        (pytester.path / "locustfile.py").write_text(LOCUSTFILE)
        run = run_staging("--staging-policy=policy.toml", "-p", "no:xdist",
                          "--staging-gate=performance", url=server.url, timeout=180)
        assert run.ret == 0, run.output
        load = [r for r in server.requests if r.path.startswith("/load/")]
        assert {r.path for r in load} == {"/load/plain", "/load/fast", "/load/away"}
        assert other.requests  # both clients followed the redirect away
        for request in other.requests:
            assert header(request, "traceparent") is None
            assert header(request, "tracestate") is None
        if not enabled:
            assert all(header(r, "traceparent") is None for r in load)
            return
        [test] = run.verdict["tests"]
        ids = spans(load)
        assert {trace for trace, _ in ids} == {test["trace_id"]}
        assert len({span for _, span in ids}) == len(ids)  # a new span per request
    finally:
        other.stop()
