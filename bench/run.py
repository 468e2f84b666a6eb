"""pytest-staging benchmarks: each number is a ratio of two things measured side by side in
one run, so a busy shared machine slows both sides alike.

    python bench/run.py            # full sizes, numbers for bench/README.md
    python bench/run.py --quick    # small sizes, for CI: exit 1 if a ratio is far off target

Benchmarks (targets from issues 2 and 7):
  overhead   2,000 trivial tests, plugin active vs ``-p no:staging``       overhead < 5 %
  client     2,000 GETs on loopback, ``staging`` client vs requests.Session overhead < 10 %
             (and the same client without trace context: the traceparent's own cost)
  xdist      400 tests that each wait 20 ms on the server, -n 4 vs serial   speed-up >= 3x
  reports    verdict + Markdown (+ HTML if present) for 20,000 tests        < 2 s, < 10 MB

The two whole-run benchmarks use hyperfine when it is installed (``apt-get install -y
hyperfine``), else interleaved runs timed here. Results go to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers import LoopbackServer, json_answer  # noqa: E402

#: (target, CI failure limit): the limits are generous because the 2 cores are shared.
TARGETS = {
    # The active run's fixed cost (imports of requests/jinja2, the readiness check, writing
    # verdict.json/.md/.html) is ~0.3 s: on 2,000 *trivial* tests (1.4 s) that is +25-35 %, so
    # the 5 % target is not met (bench/README.md). The CI guard catches regressions beyond that.
    "overhead": {"target": 0.05, "fail_above": 0.60},
    "inactive_overhead": {"target": 0.0, "fail_above": 0.30},
    "client": {"target": 0.10, "fail_above": 0.30},
    "xdist": {"target": 3.0, "fail_below": 1.5},
    "reports_seconds": {"target": 2.0, "fail_above": 6.0},
    # Issue 16: 300 HTTPS tests through `staging` vs one reused requests.Session (wall).
    "connections": {"target": 1.15, "fail_above": 1.6},
    # Issue 16: the active plugin's fixed CPU and per-test CPU (slope from 200 to 3,000 tests).
    "fixed_cpu_s": {"target": 0.15, "fail_above": 0.6},
    "per_test_us": {"target": 15.0, "fail_above": 300.0},
    "reports_mb": {"target": 10.0, "fail_above": 10.0},
}


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            *args]


def _write_trivial_suite(where: Path, count: int, body: str = "pass", files: int = 20) -> None:
    where.mkdir(parents=True, exist_ok=True)
    per_file = max(count // files, 1)
    for f in range(0, count, per_file):
        tests = "\n".join(f"def test_{i}({'staging' if 'staging' in body else ''}):\n    {body}\n"
                          for i in range(f, min(f + per_file, count)))
        (where / f"test_{f:05d}.py").write_text(tests)


Times = dict[str, list[float]]


def _hyperfine(commands: dict[str, list[str]], runs: int, cwd: Path) -> tuple[Times, Times]:
    """Wall seconds of every run and CPU seconds (user + system) of each round of each
    command, measured by hyperfine.

    hyperfine runs all of one command, then all of the next: on a shared machine a burst of
    load then lands on one side only. So: rounds of 2 runs per command, the order rotating
    each round, all runs pooled.
    """
    export = cwd / "hyperfine.json"
    names = list(commands)
    times: Times = {name: [] for name in names}
    cpu: Times = {name: [] for name in names}
    for round_ in range(max(runs // 2, 1)):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        argv = ["hyperfine", "--style", "none", "--warmup", "1" if round_ == 0 else "0",
                "--runs", "2", "--export-json", str(export)]
        for name in order:
            argv += ["--command-name", name, " ".join(_quote(c) for c in commands[name])]
        subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        for result in json.loads(export.read_text())["results"]:
            times[result["command"]].extend(result["times"])
            cpu[result["command"]].append(result["user"] + result["system"])
    return times, cpu


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _interleaved(commands: dict[str, list[str]], runs: int, cwd: Path) -> tuple[Times, Times]:
    """Wall and CPU seconds of every run of each command, alternating A B A B."""
    times: Times = {name: [] for name in commands}
    cpu: Times = {name: [] for name in commands}
    for _ in range(runs + 1):
        for name, cmd in commands.items():
            before = os.times()
            started = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=False, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - started)
            after = os.times()
            cpu[name].append(after.children_user - before.children_user
                             + after.children_system - before.children_system)
    return ({name: t[1:] for name, t in times.items()},
            {name: t[1:] for name, t in cpu.items()})


def _time_commands(commands: dict[str, list[str]], runs: int, cwd: Path
                   ) -> dict[str, dict[str, float]]:
    """Median and minimum seconds of each command. On a shared machine the minimum is the
    steadier estimate (load only ever adds time); both are reported."""
    if shutil.which("hyperfine"):
        times, cpu = _hyperfine(commands, runs, cwd)
    else:
        times, cpu = _interleaved(commands, runs, cwd)
    # CPU: the minimum, since contention from other processes only ever adds to it.
    return {name: {"median": round(statistics.median(t), 4), "min": round(min(t), 4),
                   "cpu": round(min(cpu[name]), 4)}
            for name, t in times.items()}


def _ratio(seconds: dict[str, dict[str, float]], a: str, b: str) -> dict[str, float]:
    return {k: round(seconds[a][k] / seconds[b][k], 4) for k in ("median", "min", "cpu")}


def bench_overhead(server: LoopbackServer, tests: int, runs: int, work: Path) -> dict[str, Any]:
    suite = work / "trivial"
    _write_trivial_suite(suite, tests)
    commands = {
        "plugin-off": _pytest("-p", "no:staging", "trivial"),
        # Installed but no URL: the contract promises no measurable overhead.
        "plugin-inactive": _pytest("trivial"),
        "plugin-active": _pytest("--staging-url", server.url, "--staging-gate", "integration",
                                 "--staging-report-dir", "report", "trivial"),
    }
    # Both sides must pass: a failing run would time something else.
    for cmd in commands.values():
        subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL)
    seconds = _time_commands(commands, runs, work)
    verdict = json.loads((work / "report" / "verdict.json").read_text())
    assert verdict["verdict"] == "GO", verdict["reasons"]
    ratio = _ratio(seconds, "plugin-active", "plugin-off")
    inactive = _ratio(seconds, "plugin-inactive", "plugin-off")
    # CPU time is the steadiest measure on a shared machine (other processes' load adds wall
    # time, not our CPU time); the wall-clock ratios are kept next to it.
    return {"tests": tests, "runs": runs, "seconds": seconds,
            "overhead": round(ratio["cpu"] - 1.0, 4),
            "overhead_wall_min": round(ratio["min"] - 1.0, 4),
            "overhead_wall_median": round(ratio["median"] - 1.0, 4),
            "inactive_overhead": round(inactive["cpu"] - 1.0, 4),
            "inactive_overhead_wall_min": round(inactive["min"] - 1.0, 4)}


def bench_fixed_cost(server: LoopbackServer, runs: int, work: Path,
                     sizes: tuple[int, int] = (200, 3000)) -> dict[str, Any]:
    """The active plugin's CPU cost split into a fixed part and a per-test part: the extra CPU
    of an active run over ``-p no:staging`` at two suite sizes; the slope between them is the
    per-test cost, the rest is fixed (imports, readiness checks, the verdict files).

    The slope is the noisy half: a 0.05 s wobble of one run's CPU moves it by tens of us. So
    the CPU of every single run is taken (all four commands alternating run by run, so each
    sees the same load) and the minimum of each kept, not the mean of hyperfine's pairs; and
    the sizes are 2,800 tests apart."""
    commands: dict[str, list[str]] = {}
    for size in sizes:
        _write_trivial_suite(work / f"trivial-{size}", size)
        commands[f"off-{size}"] = _pytest("-p", "no:staging", f"trivial-{size}")
        commands[f"active-{size}"] = _pytest(
            "--staging-url", server.url, "--staging-gate", "integration",
            "--staging-report-dir", f"report-{size}", f"trivial-{size}")
    for cmd in commands.values():
        subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL)
    times, cpu = _interleaved(commands, runs, work)
    seconds = {name: {"median": round(statistics.median(t), 4), "min": round(min(t), 4),
                      "cpu": round(min(cpu[name]), 4)} for name, t in times.items()}
    small, large = sizes
    extra = {n: seconds[f"active-{n}"]["cpu"] - seconds[f"off-{n}"]["cpu"] for n in sizes}
    per_test = (extra[large] - extra[small]) / (large - small)
    fixed = extra[small] - small * per_test
    return {"sizes": list(sizes), "runs": runs, "seconds": seconds,
            "extra_cpu": {str(n): round(v, 4) for n, v in extra.items()},
            "fixed_cpu_s": round(fixed, 4), "per_test_us": round(per_test * 1e6, 2)}


def _per_request(fn: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - started) / count


def bench_client(server: LoopbackServer, requests_total: int, rounds: int = 40) -> dict[str, Any]:
    """GETs through a bare requests.Session, the staging client without trace context and the
    staging client as the fixture makes it (a test's trace: a traceparent per request), side
    by side in rounds. ``overhead`` is the fixture's client vs bare; ``trace_overhead`` the
    traced vs the untraced client (the header's cost)."""
    import requests

    from pytest_staging.client import StagingSession
    from pytest_staging.trace_context import Trace, derive_trace_id

    bare = requests.Session()
    untraced = StagingSession(server.url)
    traced = StagingSession(server.url)
    traced.trace = Trace(derive_trace_id("bench", "test_client"), server.url, "bench")
    url = server.url + "health"
    bare_get = lambda: bare.get(url, timeout=10).raise_for_status()  # noqa: E731
    untraced_get = lambda: untraced.get("/health").raise_for_status()  # noqa: E731
    traced_get = lambda: traced.get("/health").raise_for_status()  # noqa: E731
    sides = [bare_get, untraced_get, traced_get]
    for fn in sides:  # warm the connection pools
        _per_request(fn, 20)
    per_round = max(requests_total // rounds, 1)
    times: list[list[float]] = [[], [], []]
    for i in range(rounds):
        # Rotate which side goes first so none always gets the warmer cache.
        order = [(i + k) % 3 for k in range(3)]
        for index in order:
            times[index].append(_per_request(sides[index], per_round))
    bare_t, untraced_t, traced_t = times
    # Each round's sides ran back to back: the median of the paired ratios cancels the load
    # swings that a ratio of two overall medians keeps.
    def paired(a: list[float], b: list[float]) -> float:
        return statistics.median(x / y for x, y in zip(a, b, strict=True)) - 1.0

    ms = {name: statistics.median(t) * 1e3 for name, t in
          (("bare", bare_t), ("untraced", untraced_t), ("traced", traced_t))}
    return {"requests_per_side": per_round * rounds, "rounds": rounds,
            "bare_ms": round(ms["bare"], 4), "staging_ms": round(ms["traced"], 4),
            "untraced_ms": round(ms["untraced"], 4),
            "bare_min_ms": round(min(bare_t) * 1e3, 4),
            "staging_min_ms": round(min(traced_t) * 1e3, 4),
            "untraced_min_ms": round(min(untraced_t) * 1e3, 4),
            "overhead": round(paired(traced_t, bare_t), 4),
            "untraced_overhead": round(paired(untraced_t, bare_t), 4),
            "trace_overhead": round(paired(traced_t, untraced_t), 4),
            "trace_us_per_request": round(statistics.median(
                (t - u) * 1e6 for t, u in zip(traced_t, untraced_t, strict=True)), 2),
            "stamp_us": round(_stamp_us(traced.trace, url), 2)}


def _stamp_us(trace: Any, url: str, count: int = 20000) -> float:
    """CPU of one Trace.stamp on a request's headers (what the traced side adds in-process),
    in microseconds: headers made and stamped, minus headers made alone, best of 5."""
    from requests.structures import CaseInsensitiveDict

    base = {"User-Agent": "python-requests", "Accept-Encoding": "gzip, deflate",
            "Accept": "*/*", "Connection": "keep-alive"}

    def made() -> None:
        for _ in range(count):
            CaseInsensitiveDict(base)

    def stamped() -> None:
        for _ in range(count):
            trace.stamp(CaseInsensitiveDict(base), url)

    def best(fn: Callable[[], None]) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - started)
        return min(runs)

    return max(best(stamped) - best(made), 0.0) / count * 1e6


CONNECTIONS_CONFTEST = """
import os

import pytest
import requests

_SESSION = requests.Session()
# Per request, as the staging client does: REQUESTS_CA_BUNDLE beats a session's verify.
_BUNDLE = os.environ["BENCH_CA_BUNDLE"]


@pytest.fixture
def reused(staging_url):
    return lambda path: _SESSION.get(staging_url + path, timeout=10, verify=_BUNDLE)
"""


FRESH_POOL_CONFTEST = CONNECTIONS_CONFTEST + """

from requests.adapters import HTTPAdapter

from pytest_staging import connection_pool
from pytest_staging.client import make_retry


@pytest.fixture(autouse=True)
def _pool_per_test(monkeypatch):
    # How the staging fixture worked before issue 16: a new pool (TCP + TLS) for every test.
    monkeypatch.setattr(connection_pool, "shared_adapter",
                        lambda config, retries: HTTPAdapter(max_retries=make_retry(retries)))
"""


def bench_connections(tests: int, runs: int, work: Path) -> dict[str, Any]:
    """``tests`` tests each doing one HTTPS GET through the ``staging`` fixture vs the same
    through one ``requests.Session`` reused by every test; all runs are active (same plugin
    cost), so the ratio is the client's: a reused connection or a new TLS handshake per test.
    ``fresh`` is the ``staging`` fixture as it was before issue 16 (a pool per test).
    """
    import ssl

    trustme = __import__("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    tls = LoopbackServer(ssl_context=context).start()
    try:
        bundle = work / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        suites = {"staging": 'assert staging.get("/health").ok',
                  "fresh": 'assert staging.get("/health").ok',
                  "reused": 'assert reused("health").ok'}
        commands = {}
        for name, body in suites.items():
            suite = work / f"https-{name}"
            _write_trivial_suite(suite, tests, body="pass", files=10)
            for path in suite.glob("test_*.py"):
                fixture = "staging" if name == "fresh" else name
                text = path.read_text().replace("():\n    pass", f"({fixture}):\n    {body}")
                path.write_text(text)
            (suite / "conftest.py").write_text(
                FRESH_POOL_CONFTEST if name == "fresh" else CONNECTIONS_CONFTEST)
            commands[name] = _pytest("-p", "no:xdist", "--staging-url", tls.url,
                                     "--staging-ca-bundle", str(bundle),
                                     "--staging-gate", "integration",
                                     "--staging-report-dir", f"report-{name}", suite.name)
        env = {**os.environ, "BENCH_CA_BUNDLE": str(bundle)}
        for name, cmd in commands.items():  # both sides must pass and be GO
            subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL, env=env)
            verdict = json.loads((work / f"report-{name}" / "verdict.json").read_text())
            assert verdict["verdict"] == "GO", verdict["reasons"]
            assert verdict["gates"]["integration"]["counts"]["passed"] == tests
        os.environ["BENCH_CA_BUNDLE"] = str(bundle)
        try:
            seconds = _time_commands(commands, runs, work)
        finally:
            del os.environ["BENCH_CA_BUNDLE"]
    finally:
        tls.stop()
    ratio = _ratio(seconds, "staging", "reused")
    before = _ratio(seconds, "fresh", "reused")
    return {"tests": tests, "runs": runs, "seconds": seconds,
            "ratio": ratio["min"], "ratio_median": ratio["median"], "ratio_cpu": ratio["cpu"],
            "fresh_ratio": before["min"], "fresh_ratio_median": before["median"],
            "fresh_ratio_cpu": before["cpu"]}


def bench_xdist(server: LoopbackServer, tests: int, runs: int, work: Path) -> dict[str, Any]:
    def slow(req: Any) -> Any:
        time.sleep(0.020)
        return json_answer({"ok": True})

    server.routes["/slow"] = slow
    suite = work / "waiting"
    _write_trivial_suite(suite, tests, body='assert staging.get("/slow").ok', files=8)
    base = ["--staging-url", server.url, "--staging-gate", "integration",
            "--staging-report-dir", "report-x", "waiting"]
    commands = {"serial": _pytest("-p", "no:xdist", *base), "n4": _pytest("-n", "4", *base)}
    seconds = _time_commands(commands, runs, work)
    ratio = _ratio(seconds, "serial", "n4")
    # Wall time is the point here (the waits overlap); CPU is shown to explain the result.
    return {"tests": tests, "wait_ms": 20, "runs": runs, "seconds": seconds,
            "speedup_median": ratio["median"], "speedup": ratio["min"]}


def bench_reports(tests: int, work: Path) -> dict[str, Any]:
    from pytest_staging.reports.atomic import atomic_write_text
    from pytest_staging.reports.json_report import render_json
    from pytest_staging.reports.markdown import render_markdown
    from pytest_staging.verdict import GateSpec, RunFacts, TargetFacts, TestRecord, decide

    try:
        from pytest_staging.reports.html import render_html  # the promotion branch
    except ImportError:
        render_html = None
    gates = ("integration", "security", "performance")
    evidence = [{"method": "GET", "url": f"http://127.0.0.1:8000/api/items/{i}", "status": 500,
                 "latency_ms": 12.5, "request_headers": {"Accept": "*/*"},
                 "response_headers": {"Content-Type": "application/json"},
                 "body": "x" * 2048, "error": ""} for i in range(5)]
    records = [TestRecord(nodeid=f"tests/test_{i // 100:03d}.py::test_case_{i}",
                          gate=gates[i % 3], duration=0.01,
                          outcome="failed" if i % 100 == 0 else "passed",
                          message="assert 500 == 200" if i % 100 == 0 else "",
                          evidence=evidence if i % 100 == 0 else [])
               for i in range(tests)]
    facts = RunFacts(run_id="bench", started="2026-01-01T00:00:00Z", complete=True,
                     target=TargetFacts(url="http://127.0.0.1:8000/", reachable=True,
                                        ready=True),
                     gates=[GateSpec(g) for g in gates], tests=records)
    out = work / "reports"
    started = time.perf_counter()
    verdict = decide(facts)
    atomic_write_text(out / "verdict.json", render_json(verdict))
    atomic_write_text(out / "verdict.md", render_markdown(verdict))
    if render_html is not None:
        atomic_write_text(out / "verdict.html", render_html(verdict))
    seconds = time.perf_counter() - started
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    return {"tests": tests, "failures_with_evidence": tests // 100, "seconds": round(seconds, 3),
            "html": render_html is not None, "bytes": sizes,
            "largest_mb": round(max(sizes.values()) / 1e6, 3)}


def check(results: dict[str, Any]) -> list[str]:
    """Ratios far from target (the CI limits, not the targets themselves)."""
    problems = []
    if results["overhead"]["overhead"] > TARGETS["overhead"]["fail_above"]:
        problems.append(f"plugin overhead {results['overhead']['overhead']:.1%} > "
                        f"{TARGETS['overhead']['fail_above']:.0%}")
    if results["client"]["overhead"] > TARGETS["client"]["fail_above"]:
        problems.append(f"client overhead {results['client']['overhead']:.1%} > "
                        f"{TARGETS['client']['fail_above']:.0%}")
    if results["overhead"]["inactive_overhead"] > TARGETS["inactive_overhead"]["fail_above"]:
        problems.append(f"inactive plugin overhead {results['overhead']['inactive_overhead']:.1%}"
                        f" > {TARGETS['inactive_overhead']['fail_above']:.0%}")
    # Four workers on fewer than four cores cannot overlap much more than the waits: there
    # the check only guards against -n 4 being clearly slower than serial.
    floor = TARGETS["xdist"]["fail_below"] if (results["cpus"] or 1) >= 4 else 0.8
    if results["xdist"]["speedup"] < floor:
        problems.append(f"-n 4 speed-up {results['xdist']['speedup']:.2f}x < {floor}x")
    if results["connections"]["ratio"] > TARGETS["connections"]["fail_above"]:
        problems.append(f"300 HTTPS tests through staging take {results['connections']['ratio']}"
                        f"x a reused requests.Session")
    for key in ("fixed_cpu_s", "per_test_us"):
        if results["fixed"][key] > TARGETS[key]["fail_above"]:
            problems.append(f"active plugin {key} = {results['fixed'][key]}")
    if results["reports"]["seconds"] > TARGETS["reports_seconds"]["fail_above"]:
        problems.append(f"reports took {results['reports']['seconds']} s")
    if results["reports"]["largest_mb"] > TARGETS["reports_mb"]["fail_above"]:
        problems.append(f"a report file is {results['reports']['largest_mb']} MB")
    return problems


ALL = ["overhead", "fixed", "client", "connections", "xdist", "reports"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI")
    parser.add_argument("--only", action="append", metavar="NAME",
                        choices=ALL,
                        help="run only this benchmark; repeatable [all]")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json",
                        help="where the numbers go [bench/results/latest.json]")
    args = parser.parse_args(argv)
    quick = args.quick
    # With PYTHONDONTWRITEBYTECODE set (this machine's default) every pytest process compiles
    # and assertion-rewrites each imported module from source, every time: seconds of CPU per
    # xdist worker that a normal CI runner, writing __pycache__, does not pay. The benchmarks
    # measure the normal case; the JSON records that the variable was dropped.
    dropped_dont_write = os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None
    only = set(args.only or ALL)
    env_cpus = os.cpu_count()
    results: dict[str, Any] = {"quick": quick, "cpus": env_cpus,
                               "dropped_PYTHONDONTWRITEBYTECODE": dropped_dont_write,
                               "load_before": os.getloadavg()[0], "hyperfine": bool(
                                   shutil.which("hyperfine"))}
    server = LoopbackServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="staging-bench-") as tmp:
            work = Path(tmp)
            if "overhead" in only:
                # 2,000 tests in both modes: with fewer, pytest's fixed start-up cost and the
                # plugin's (imports, readiness GET, report writes) dominate the ratio.
                results["overhead"] = bench_overhead(server, 2000, 8 if quick else 12, work)
                print(f"overhead: {results['overhead']['overhead']:+.1%} (inactive "
                      f"{results['overhead']['inactive_overhead']:+.1%})  "
                      f"{results['overhead']['seconds']}", flush=True)
            if "client" in only:
                results["client"] = bench_client(server, 1000 if quick else 2000)
                print(f"client:   {results['client']['overhead']:+.1%}  "
                      f"bare {results['client']['bare_ms']} ms, "
                      f"staging {results['client']['staging_ms']} ms (traced); trace context "
                      f"{results['client']['trace_overhead']:+.1%}, "
                      f"{results['client']['trace_us_per_request']} us per request "
                      f"(untraced {results['client']['untraced_ms']} ms; stamp CPU "
                      f"{results['client']['stamp_us']} us)", flush=True)
            if "fixed" in only:
                results["fixed"] = bench_fixed_cost(server, 6 if quick else 10, work)
                print(f"fixed:    {results['fixed']['fixed_cpu_s']} s CPU fixed, "
                      f"{results['fixed']['per_test_us']} us per test  "
                      f"(extra CPU {results['fixed']['extra_cpu']})", flush=True)
            if "connections" in only:
                results["connections"] = bench_connections(300, 4 if quick else 8, work)
                print(f"https:    {results['connections']['ratio']:.2f}x staging vs reused "
                      f"Session (median {results['connections']['ratio_median']:.2f}x; a pool "
                      f"per test as before: {results['connections']['fresh_ratio']:.2f}x)  "
                      f"{results['connections']['seconds']}", flush=True)
            if "xdist" in only:
                results["xdist"] = bench_xdist(server, 400, 1 if quick else 3, work)
                print(f"xdist:    {results['xdist']['speedup']:.2f}x  "
                      f"{results['xdist']['seconds']}", flush=True)
            if "reports" in only:
                results["reports"] = bench_reports(20_000, work)
                print(f"reports:  {results['reports']['seconds']} s, "
                      f"largest {results['reports']['largest_mb']} MB "
                      f"(html: {results['reports']['html']})", flush=True)
    finally:
        server.stop()
    results["load_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    problems = check(results) if only == set(ALL) else []
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
