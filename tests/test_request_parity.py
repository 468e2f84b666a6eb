"""The load and the security gate's built-in checks send what the ``staging`` client sends.

Whole pytest runs against a loopback target that answers 401 unless a request carries the
staging credential: the ``?token=`` of the staging URL, a ``--staging-header``, or the URL's
user:password. With it, every request the run makes (readiness, tests, security probes, every
load request) is counted at the server as authorised; without it, the load is a NO-GO. The
credential appears in no file the run leaves behind (generated locustfile, locust log,
verdict files) and in none of its output.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from token_server import API_KEY, PASSWORD, SECRETS, TOKEN, USER, TokenServer

from pytest_staging.gates.performance.load_request import REQUEST_ENV, request_env
from pytest_staging.gates.performance.runner import (
    SUCCESS_JSON_ENV,
    LoadOptions,
    build_command,
    run_load,
)

SUITE = """
import pytest

def test_items(staging):
    assert staging.get("api/items").status_code == 200

@pytest.mark.performance(thresholds=["p95 < 5s", "GET /api/items: p95 < 5s"])
def test_load(staging_load):
    result = staging_load(users=2, spawn_rate=2, run_time=2,
                          wait=0.02, profile={"GET /api/items": 3, "GET /": 1})
    assert result["successes"] > 0
"""

USER_LOCUSTFILE = """
from locust import HttpUser, constant, task

class Shopper(HttpUser):
    wait_time = constant(0.01)

    @task
    def items(self):
        self.client.get("/api/items")
"""

USER_LOCUSTFILE_SUITE = """
def test_user_locustfile(staging_load):
    staging_load(users=2, spawn_rate=2, run_time=2, locustfile="shopper_locustfile.py")
"""


@pytest.fixture
def target() -> Iterator[TokenServer]:
    srv = TokenServer().start()
    yield srv
    srv.stop()


def run(pytester: pytest.Pytester, url: str, *args: str,
        gates: str = "integration,performance,security") -> tuple[Any, dict[str, Any]]:
    """A whole pytest run in a subprocess (entry point loaded); returns (result, verdict)."""
    report = pytester.path / "report"
    result = pytester.runpytest_subprocess(
        f"--staging-url={url}", f"--staging-report-dir={report}", f"--staging-gate={gates}",
        "-p", "no:cacheprovider", "--staging-load-progress=0", *args, timeout=120)
    verdict = json.loads((report / "verdict.json").read_text())
    return result, verdict


def assert_no_secret_left(pytester: pytest.Pytester, result: Any) -> None:
    """No credential in the run's output nor in any file under the run's directories."""
    output = result.stdout.str() + result.stderr.str()
    roots = [pytester.path, Path(str(pytester.path) + "-basetemp")]
    roots += [p for p in pytester.path.parent.iterdir() if p.name.startswith("basetemp")]
    files = [f for root in roots if root.exists() for f in root.rglob("*") if f.is_file()]
    assert any(f.name == "locust.log" for f in files) or "locust" not in output
    for secret in SECRETS:
        assert secret not in output
        for file in files:
            assert secret.encode() not in file.read_bytes(), f"{secret} in {file}"


def test_token_in_url_reaches_load_and_security_checks(
        pytester: pytest.Pytester, target: TokenServer, mode: list[str]) -> None:
    pytester.makepyfile(test_shop=SUITE)
    url = f"{target.url}?token={TOKEN}"
    result, verdict = run(pytester, url, *mode, "--basetemp", str(pytester.path / "bt"))
    assert verdict["verdict"] == "GO", verdict["reasons"]
    assert result.ret == 0
    ok, refused = target.carried()
    assert refused == [], [r.path.split("?")[0] for r in refused][:10]
    metrics = verdict["gates"]["performance"]["metrics"]["test_shop.py::test_load"]
    assert metrics["failures"] == 0 and metrics["successes"] == metrics["requests"] > 0
    # the load's requests (not only the test's one) were counted at the server as authorised
    load_requests = [r for r in ok if r.path.startswith("/api/items") or r.path.startswith("/?")]
    assert len(load_requests) >= metrics["requests"] + 1
    # the security gate's built-in checks ran, and with the token (no 401 seen by the server)
    assert verdict["gates"]["security"]["counts"]["passed"] >= 3
    assert any(r.path.startswith("/.git") or "/.env" in r.path for r in ok), "no exposure probe"
    # the stats name is the path as written: the token is in no endpoint name
    assert set(metrics["endpoints"]) == {"GET /api/items", "GET /"}
    assert_no_secret_left(pytester, result)


def test_without_the_token_the_load_is_no_go(pytester: pytest.Pytester,
                                              target: TokenServer) -> None:
    pytester.makepyfile(test_shop=SUITE.replace("    assert result", "    # result"))
    result, verdict = run(pytester, target.url, "-p", "no:xdist", gates="performance")
    assert verdict["verdict"] == "NO-GO" and result.ret == 1
    reasons = "\n".join(verdict["reasons"])
    assert "successes: " in reasons or "successes = 0" in reasons, reasons
    assert "p95: no successful request to measure" in reasons
    assert "fail_ratio = 100.00%, required <= 1.00%" in reasons
    metrics = verdict["gates"]["performance"]["metrics"]["test_shop.py::test_load"]
    assert metrics["requests"] > 0 and metrics["successes"] == 0 and metrics["p95"] is None


@pytest.mark.parametrize("how", ["header", "userinfo"])
def test_header_and_url_credentials_reach_a_user_locustfile(
        pytester: pytest.Pytester, target: TokenServer, how: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(shopper_locustfile=USER_LOCUSTFILE, test_user=USER_LOCUSTFILE_SUITE)
    args: list[str] = ["-p", "no:xdist", "--basetemp", str(pytester.path / "bt")]
    url = target.url
    if how == "header":
        monkeypatch.setenv("SHOP_API_KEY", API_KEY)
        args.append("--staging-header=X-Api-Key: $SHOP_API_KEY")
    else:
        url = url.replace("://", f"://{USER}:{PASSWORD}@")
    result, verdict = run(pytester, url, *args, gates="performance")
    assert verdict["verdict"] == "GO", verdict["reasons"]
    ok, refused = target.carried()
    assert refused == [] and len(ok) > 2
    assert_no_secret_left(pytester, result)


def test_ca_bundle_reaches_the_load(pytester: pytest.Pytester, tls_ca: Any,
                                    tmp_path: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    srv = TokenServer(ssl_context=context).start()
    bundle = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(bundle))
    try:
        pytester.makepyfile(test_tls="""
            def test_tls_load(staging_load):
                staging_load(users=2, spawn_rate=2, run_time=2, wait=0.02,
                             profile=["GET /api/items"])
        """)
        url = f"{srv.url}?token={TOKEN}"
        _, trusted = run(pytester, url, f"--staging-ca-bundle={bundle}", "-p", "no:xdist",
                         gates="performance")
        assert trusted["verdict"] == "GO", trusted["reasons"]
        m = trusted["gates"]["performance"]["metrics"]["test_tls.py::test_tls_load"]
        assert m["successes"] > 0 and m["failures"] == 0
        # Without the bundle the load verifies against the system CAs, like the staging
        # client (Locust's FastHttpUser alone would not verify at all): no success.
        untrusted = run_load(LoadOptions(host=srv.url, users=1, spawn_rate=1, run_time=1,
                                         wait=0.02,
profile=["GET /api/items"], params=(("token", TOKEN),)),
                             tmp_path / "untrusted")
        assert untrusted.metrics["requests"] > 0 and untrusted.metrics["successes"] == 0
        # --staging-insecure reaches the load too (and stays a verdict warning)
        _, insecure = run(pytester, url, "--staging-insecure", "-p", "no:xdist",
                          gates="performance")
        assert insecure["verdict"] == "GO", insecure["reasons"]
    finally:
        srv.stop()


def test_secrets_travel_in_the_environment_not_the_command_line(tmp_path: Path) -> None:
    options = LoadOptions(host=f"https://{USER}:{PASSWORD}@127.0.0.1:9/base",
                          headers={"X-Api-Key": API_KEY}, params=(("token", TOKEN),),
                          verify="/ca.pem", wait=0.02, profile=["/"])
    command = " ".join(build_command(options, tmp_path / "lf.py", tmp_path))
    assert "--host https://127.0.0.1:9/base " in command
    for secret in SECRETS:
        assert secret not in command
    env = json.loads(request_env(options.host, options.headers, options.params,
                                 options.verify)[REQUEST_ENV])
    assert env == {"origin": "https://127.0.0.1:9/base", "headers": {"X-Api-Key": API_KEY},
                   "params": [["token", TOKEN]], "verify": "/ca.pem",
                   "username": USER, "password": PASSWORD}


def test_locust_side_modules_read_the_same_variables() -> None:
    # They run inside Locust and import nothing of pytest-staging: the names are duplicated.
    folder = Path(__file__).parents[1] / "pytest_staging" / "gates" / "performance"
    source = (folder / "locust_request_options.py").read_text()
    assert f'REQUEST_ENV = "{REQUEST_ENV}"' in source
    source = (folder / "locust_success_stats.py").read_text()
    assert f'SUCCESS_JSON_ENV = "{SUCCESS_JSON_ENV}"' in source
    assert "from pytest_staging" not in source and "import pytest_staging" not in source
    assert os.environ.get(REQUEST_ENV) is None


FAST_INIT_SHAPES = """
import json
from pytest_staging.gates.performance import locust_request_options as lro

seen = {}

def record(name):
    def init(self, *args, **kwargs):
        seen[name] = {"args": [a if isinstance(a, (str, bool)) or a is None else repr(a)
                               for a in args],
                      "insecure": kwargs.get("insecure"),
                      "factory": getattr(kwargs.get("ssl_context_factory"), "__name__", None)}
    return init

class Newer:  # locust >= 2.40
    def __init__(self, base_url, request_event, user, insecure=True, client_pool=None,
                 ssl_context_factory=None, **kwargs):
        record("newer")(self, base_url, request_event, user, insecure=insecure,
                        ssl_context_factory=ssl_context_factory)

class Older:  # locust 2.39: environment first, base_url by keyword from FastHttpUser
    def __init__(self, environment, base_url, user, insecure=True, client_pool=None,
                 ssl_context_factory=None, **kwargs):
        record("older")(self, environment, base_url, user, insecure=insecure,
                        ssl_context_factory=ssl_context_factory)

class Unknown:  # a shape we do not know: locust's own call, untouched
    def __init__(self, *args, **kwargs):
        record("unknown")(self, *args, **kwargs)

def own_factory(**kwargs):
    return None

for cls in (Newer, Older, Unknown):
    cls.__init__ = lro._fast_init(cls.__init__)
Newer("ORIGIN", "event", None, network_timeout=5)
Older("env", base_url="ORIGIN", user=None, insecure=True)
Unknown("env", base_url="ORIGIN", insecure=True)
Older("env", base_url="https://elsewhere.example/", user=None)
seen["elsewhere"] = seen.pop("older")
Older("env", base_url="ORIGIN", user=None, ssl_context_factory=own_factory)
seen["own"] = seen.pop("older")
Older("env", base_url="ORIGIN", user=None)
try:
    Newer()
except TypeError as wrong_call:  # locust's own error for a wrong call, not ours
    seen["wrong"] = str(wrong_call)
print(json.dumps(seen))
"""


def test_fast_session_trust_whatever_locusts_signature(tmp_path: Path) -> None:
    """``FastHttpSession.__init__`` changed between locust releases (2.39 takes the
    environment first): the staging trust is applied to either shape, by binding the call to
    the real signature, and an unknown shape gets locust's own call untouched."""
    import subprocess
    import sys

    origin = "https://127.0.0.1:9/"
    script = tmp_path / "shapes.py"
    script.write_text(FAST_INIT_SHAPES.replace("ORIGIN", origin))
    env = {**os.environ, REQUEST_ENV: json.dumps({"origin": origin, "verify": "/ca.pem"})}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    verifying = {"insecure": False, "factory": "_verifying_context"}
    assert seen["newer"] == {"args": [origin, "event", None], **verifying}
    assert seen["older"] == {"args": ["env", origin, None], **verifying}
    assert seen["unknown"] == {"args": ["env"], "insecure": True, "factory": None}
    assert seen["elsewhere"] == {"args": ["env", "https://elsewhere.example/", None],
                                 "insecure": True, "factory": None}
    assert seen["own"] == {"args": ["env", origin, None], "insecure": True,
                           "factory": "own_factory"}
    assert "base_url" in seen["wrong"]
