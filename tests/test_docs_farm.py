"""docs/scaling-out.md, load farm and browser farm: the commands shown are the commands run.

Each section's commands are read from the page and run on loopback, changed only where a
laptop is not a farm (the staging URL, the hosts, the ports, four workers made two, the suite
path), and the Helm values file must agree with the commands (port, worker count, ``-f -``,
Locust version). So the page cannot rot.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_server import BrowserServer
from locust_workers import ExternalWorkers, worker_argv
from perf_server import base_url, loopback_server
from sample_runs import ROOT
from servers import LoopbackServer

from pytest_staging.browser.chromium import find_system_chromium

PAGE = ROOT / "docs" / "scaling-out.md"
VALUES = ROOT / "docs" / "examples" / "scaling-out" / "locust-workers.values.yaml"
SHELL = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
STAGING = "https://staging.example.com/"

pytestmark = pytest.mark.slow


def section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def commands(title: str, program: str) -> list[list[str]]:
    """The command lines of the section's ```sh blocks that start with ``program``."""
    found = []
    for block in SHELL.findall(section(title)):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv[: len(program.split())] == program.split():
                found.append(argv)
    return found


def option(argv: list[str], name: str) -> str:
    [value] = [a.split("=", 1)[1] for a in argv if a.startswith(f"{name}=")]
    return value


def replaced(argv: list[str], changes: dict[str, str]) -> list[str]:
    out = []
    for arg in argv:
        for old, new in changes.items():
            arg = arg.replace(old, new)
        out.append(arg)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- load farm ----------------------------------------------------------------------------------
def test_load_farm_commands_and_helm_values_agree() -> None:
    pytests = commands("Load farm", "pytest")
    assert pytests and all(p == pytests[0] for p in pytests), "one pytest command, shown twice"
    [worker] = commands("Load farm", "locust --worker")
    workers = int(option(pytests[0], "--staging-load-workers"))
    host, port = option(pytests[0], "--staging-load-master-bind").rsplit(":", 1)
    assert host == "0.0.0.0"
    assert worker[worker.index("--master-port") + 1] == port
    assert worker[worker.index("-f") + 1] == "-"
    values = yaml.safe_load(VALUES.read_text())
    assert values["master"]["replicas"] == 0
    assert values["worker"]["replicas"] == workers
    assert values["worker"]["envs_include_default"] is False
    assert values["worker"]["args"] == ["--locustfile", "-"]
    assert values["worker"]["environment"]["LOCUST_MASTER_NODE_PORT"] == port
    # Master and workers speak Locust's protocol: the image is the master's Locust (never
    # imported here: its gevent patching would break this pytest).
    tag, installed = values["image"]["tag"].split("."), version("locust").split(".")
    assert tag[:2] == installed[:2], (tag, installed)
    helm = commands("Load farm", "helm upgrade")
    [install] = helm
    assert "deliveryhero/locust" in install
    assert (ROOT / install[install.index("-f") + 1]) == VALUES
    assert any(a.startswith("worker.environment.LOCUST_MASTER_NODE_HOST=") for a in install)
    assert commands("Load farm", "helm uninstall")


def test_load_farm_commands_run_on_loopback(pytester: pytest.Pytester) -> None:
    [command] = commands("Load farm", "pytest")[:1]
    [worker] = commands("Load farm", "locust --worker")
    port = free_port()
    pytester.makepyfile(test_load="""
def test_load(staging_load):
    staging_load(users=2, spawn_rate=2, run_time=2, wait=0.05, profile=["/"])
""")
    pytester.makefile(".toml", policy="[gates.integration]\nmin_tests = 0\n")
    with loopback_server(fail_every=10**9) as target:
        argv = replaced(command[1:], {
            "acceptance/": "test_load.py", STAGING: base_url(target) + "/",
            "0.0.0.0:5557": f"127.0.0.1:{port}", "--staging-load-workers=4":
            "--staging-load-workers=2"})
        line = shlex.join(replaced(worker, {"ci-runner.internal": "127.0.0.1",
                                            "5557": str(port)}))
        with ExternalWorkers(port, 2, pytester.path, argv=worker_argv(port, line)):
            result = pytester.runpytest_subprocess(
                *argv, "-p", "no:cacheprovider", "-p", "no:xdist", "--staging-policy=policy.toml",
                f"--staging-report-dir={pytester.path / 'report'}", timeout=180)
    assert result.ret == 0, result.stdout.str()[-3000:]
    verdict = json.loads((pytester.path / "report" / "verdict.json").read_text())
    metrics = verdict["gates"]["performance"]["metrics"]["test_load.py::test_load"]
    assert len(metrics["worker_nodes"]) == 2


# -- browser farm -------------------------------------------------------------------------------
CHROMIUM = find_system_chromium()


@pytest.mark.child_plugins("playwright")
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH: apt-get install chromium")
def test_browser_farm_commands_run_on_loopback(pytester: pytest.Pytester, tmp_path: Path,
                                               server: LoopbackServer) -> None:
    pytest.importorskip("pytest_playwright")
    [serve] = commands("Browser farm", "python -m playwright run-server")
    [command] = commands("Browser farm", "pytest")
    assert "--unsafe" in serve
    served = [sys.executable, *replaced(serve[1:], {"0.0.0.0": "127.0.0.1", "3000": "0"})]
    browsers = BrowserServer(tmp_path / "server.log", argv=served)
    server.routes["/shop"] = lambda req: (200, {"Content-Type": "text/html"},
                                          b"<!doctype html><title>Shop</title>")
    pytester.makepyfile(test_journey="""
def test_shop(page):
    page.goto("/shop")
    assert page.title() == "Shop"
""")
    pytester.makefile(".toml", policy="[gates.security]\nmin_tests = 0\n"
                                      "[gates.performance]\nmin_tests = 0\n")
    try:
        argv = replaced(command[1:], {"acceptance/": "test_journey.py", STAGING: server.url,
                                      "ws://browsers.internal:3000/": browsers.ws,
                                      "/usr/bin/chromium": str(CHROMIUM)})
        result: Any = pytester.runpytest_subprocess(
            *argv, "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:staging-security",
            "--staging-policy=policy.toml",
            f"--staging-report-dir={pytester.path / 'report'}", timeout=180)
    finally:
        browsers.stop()
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert any(r.path == "/shop" for r in server.requests)
