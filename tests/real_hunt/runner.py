"""One seed, one real run: write the suite, start the target, run ``pytest`` in a subprocess
with the scenario's flags, send its signals on a seeded schedule while watching the process
timeline, then check every invariant against the oracle.

The process timeline is the harness's own: before each signal, ``waitid(WNOWAIT)`` on a pidfd
says whether the process had already exited (then the signal cannot have reached it, and a GO
may stand); nothing reaps the process until every signal is sent, so its pid cannot be reused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_staging.schema import validation_errors

from .oracle import Expectation, World, instances, judge
from .scenario import Scenario, Signals, generate
from .suite import POLICY_FILE, write_suite
from .target import HuntTarget

REPORT_DIR = "report"
#: The run id of the GO planted in the report dir before each run: it must never survive.
EARLIER_RUN_ID = "hunt-earlier-run"
#: Plugins of the test extras the runs under test do without (as tests/conftest.py's
#: CHILD_BLOCKED; the security gate's built-in HTTP checks are another gate's tests).
BLOCKED_PLUGINS = ("hypothesispytest", "schemathesis", "playwright", "html", "anyio",
                   "staging-security")
RUN_TIMEOUT = 120.0
#: Starts ``python -m pytest ARGS`` with SIGINT/SIGTERM/SIGHUP at their defaults and the
#: scenario's ignored ones ignored: a run's dispositions never depend on how the hunter itself
#: was started (a background job in a script ignores SIGINT, and its children inherit that).
LAUNCHER = (
    "import os, signal, sys\n"
    "for name in ('SIGINT', 'SIGTERM', 'SIGHUP'):\n"
    "    signal.signal(getattr(signal, name), signal.SIG_DFL)\n"
    "for name in filter(None, sys.argv[1].split(',')):\n"
    "    signal.signal(getattr(signal, name), signal.SIG_IGN)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'pytest', *sys.argv[2:]])\n")
TRACEBACK = "Traceback (most recent call last)"
PYTEST_STAGING = Path(sys.executable).with_name("pytest-staging")


@dataclass(frozen=True)
class Finding:
    """One broken invariant of one run."""

    seed: int
    #: false-go | false-no-go | invariant | known | info
    severity: str
    #: The class: what several seeds share (numbers and node ids normalised away).
    klass: str
    detail: str

    def line(self) -> str:
        return f"[{self.severity}] {self.klass} (seed {self.seed}): {self.detail}"


@dataclass
class Run:
    """What one seed's run left behind and what the harness saw."""

    scenario: Scenario
    argv: list[str]
    ret: int | None = None
    output: str = ""
    verdict: dict[str, Any] | None = None
    verdict_text: str = ""
    hang: bool = False
    duration: float = 0.0
    #: (signal, seconds after start, whether the process was alive when it was sent)
    sent: list[tuple[str, float, bool]] = field(default_factory=list)
    exited_at: float | None = None
    #: When the signal schedule started (seconds after the process started).
    anchored_at: float | None = None
    #: When verdict.json was last written (seconds after the process started, from its mtime).
    written_at: float | None = None
    started_wall: float = 0.0
    lingering: bool = False
    world: World = field(default_factory=World)
    expectation: Expectation = field(default_factory=Expectation)
    verify: dict[str, tuple[int, str]] = field(default_factory=dict)
    earlier_ids: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    key: str = ""

    @property
    def verdict_name(self) -> str:
        if self.verdict is None:
            return "none"
        return str(self.verdict.get("verdict"))


def _expr(expr: tuple[str, ...]) -> str:
    if expr[0] == "one":
        return expr[1]
    if expr[0] == "not":
        return f"not {expr[1]}"
    return f"{expr[1]} or {expr[2]}"


def pytest_args(s: Scenario, url: str, *, previous: bool = False) -> list[str]:
    """The command line of the scenario's run (``previous``: the plain run before ``--lf``)."""
    args = ["--staging-url", url, "--staging-policy", POLICY_FILE,
            "--staging-report-dir", REPORT_DIR, "--tb=short", "."]
    if previous:
        return [*args, "-p", "no:xdist"]
    f = s.flags
    args += {"serial": ["-p", "no:xdist"], "n2": ["-n", "2"], "plain": []}[f.xdist]
    if f.duplicate:
        args.append(f.duplicate)
    if f.keep_duplicates:
        args.append("--keep-duplicates")
    if f.exitfirst:
        args.append("-x")
    if f.maxfail is not None:
        args.append(f"--maxfail={f.maxfail}")
    if f.keyword is not None:
        args += ["-k", _expr(f.keyword)]
    if f.markexpr is not None:
        args += ["-m", _expr(f.markexpr)]
    for nodeid in f.deselect:
        args += ["--deselect", nodeid]
    if f.lf:
        args.append("--lf")
    if f.setup_only:
        args.append("--setup-only")
    if f.collect_only:
        args.append("--collect-only")
    for gate in f.gates:
        args += ["--staging-gate", gate]
    if f.fail_on_warn:
        args.append("--staging-fail-on=warn")
    if f.expect_version is not None:
        args += ["--staging-expect-version", f.expect_version]
    if f.retries_cli is not None:
        args += ["--staging-retries", str(f.retries_cli)]
    return args


def launcher(ignored: tuple[str, ...]) -> list[str]:
    """The start of a run's command line (see LAUNCHER)."""
    return [sys.executable, "-S", "-c", LAUNCHER, ",".join(ignored)]


def child_env(key: str, state: Path) -> dict[str, str]:
    """The environment of a run under test: nothing of ours or of a CI leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STAGING_", "PYTEST_", "GITHUB_", "HUNT_"))
           and k not in ("CI", "PYTHONDONTWRITEBYTECODE")}
    env["PYTEST_ADDOPTS"] = " ".join(f"-p no:{name}" for name in BLOCKED_PLUGINS)
    env["STAGING_VERDICT_KEY"] = key
    env["HUNT_STATE"] = str(state)
    return env


def planted_go(run_id: str = EARLIER_RUN_ID) -> dict[str, Any]:
    """A GO of an earlier run in the same report dir (what the run must replace)."""
    return {
        "schema": "pytest-staging/verdict@1", "verdict": "GO", "reasons": [], "warnings": [],
        "run": {"id": run_id, "started": "2020-01-01T00:00:00Z",
                "finished": "2020-01-01T00:00:01Z", "duration": 1.0, "complete": True,
                "exit_status": 0, "workers": 0, "versions": {}, "gates_selected": [],
                "allow_destructive": False, "insecure": False},
        "target": {"url": "http://127.0.0.1:1/", "expected_version": None,
                   "observed_version": {"start": None, "end": None}, "reachable": True,
                   "ready_after": 0.0, "redirects": [], "sensitive": False},
        "gates": {}, "tests": [], "destructive_skipped": [],
    }


def _read_verdict(report: Path) -> tuple[dict[str, Any] | None, str]:
    path = report / "verdict.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None, ""
    try:
        data = json.loads(text)
    except ValueError:
        return None, text
    return (data if isinstance(data, dict) else None), text


def _lastfailed(root: Path) -> frozenset[str]:
    path = root / ".pytest_cache" / "v" / "cache" / "lastfailed"
    try:
        return frozenset(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return frozenset()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drain_group(pgid: int, grace: float = 5.0) -> bool:
    """After the run: its other processes (xdist workers) should be gone; kill what is left.
    Returns whether any lingered past ``grace``."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return False
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def execute(run: Run, cwd: Path, env: dict[str, str], timeout: float = RUN_TIMEOUT) -> None:
    """Run the process, send the scenario's signals on schedule, record the timeline."""
    s = run.scenario
    out_path = cwd / "output.txt"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(run.argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    pidfd = os.pidfd_open(proc.pid)
    t0 = time.monotonic()
    run.started_wall = time.time()
    pending = sorted(zip(s.signals.delays, s.signals.names, strict=True))
    anchor: float | None = t0 if s.signals.anchor == "start" else None
    marker = Path(env["HUNT_STATE"]) / ("called" if s.signals.anchor == "test" else "configured")
    try:
        while True:
            now = time.monotonic()
            state = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if state is not None:
                run.exited_at = round(now - t0, 3)
                break
            if anchor is None and pending and marker.exists():
                anchor = now
                run.anchored_at = round(now - t0, 3)
            if pending and anchor is not None and now - anchor >= pending[0][0]:
                _, name = pending.pop(0)
                # Alive a moment ago (checked just above) and not reaped by anyone: the
                # signal reaches this very process.
                signum = getattr(signal, name)
                if s.signals.group:
                    os.killpg(proc.pid, signum)
                else:
                    signal.pidfd_send_signal(pidfd, signum)
                run.sent.append((name, round(now - t0, 3), True))
                continue
            if now - t0 > timeout:
                run.hang = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        run.sent += [(name, delay, False) for delay, name in pending]
        run.ret = proc.wait()
    finally:
        os.close(pidfd)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    run.lingering = _drain_group(proc.pid)
    run.duration = round(time.monotonic() - t0, 3)
    run.output = out_path.read_text(encoding="utf-8", errors="replace")


def _verify(report: Path, env: dict[str, str], *extra: str) -> tuple[int, str]:
    argv = [str(PYTEST_STAGING), "verify", str(report), "--max-age", "none", *extra]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return -1, "verify did not finish within 60 s"
    return done.returncode, (done.stdout + done.stderr).strip()


def run_seed(seed: int, root: Path, *, keep: bool = False,
             timeout: float = RUN_TIMEOUT) -> Run:
    """Generate, run and judge one seed in ``root/seed-N`` (removed afterwards unless
    ``keep`` or something was found)."""
    return run_scenario(generate(seed), root, keep=keep, timeout=timeout)


def run_scenario(s: Scenario, root: Path, *, keep: bool = False,
                 timeout: float = RUN_TIMEOUT) -> Run:
    """Run and judge one scenario (a generated one, or one written by hand)."""
    seed = s.seed
    cwd = root / f"seed-{seed}"
    shutil.rmtree(cwd, ignore_errors=True)
    write_suite(s, cwd)
    report = cwd / REPORT_DIR
    report.mkdir()
    state = cwd / "state"
    key = f"hunt-secret-{seed:x}-{os.getpid():x}"
    env = child_env(key, state)
    target = HuntTarget(s.target).start()
    run = Run(s, [], key=key)
    try:
        lastfailed = None
        if s.flags.lf:
            # The earlier run: plain, serial, never signalled.
            before = Run(dataclasses.replace(s, signals=Signals()),
                         [*launcher(()), *pytest_args(s, target.url, previous=True)])
            execute(before, cwd, env, timeout)
            earlier, _ = _read_verdict(report)
            if earlier is not None:
                run.earlier_ids.add(str((earlier.get("run") or {}).get("id")))
            lastfailed = _lastfailed(cwd)
            target.reset()
            shutil.rmtree(state, ignore_errors=True)
        else:
            (report / "verdict.json").write_text(json.dumps(planted_go()), encoding="utf-8")
            run.earlier_ids.add(EARLIER_RUN_ID)
        run.argv = [*launcher(s.signals.ignored), *pytest_args(s, target.url)]
        execute(run, cwd, env, timeout)
        log = target.log()
    finally:
        target.stop()
    run.world = World(signals_alive=tuple(n for n, _, alive in run.sent
                                          if alive and n not in s.signals.ignored),
                      health_ok=bool(log["health_ok"]), deployed=bool(log["deployed"]),
                      lastfailed=lastfailed)
    run.expectation = judge(s, run.world)
    run.verdict, run.verdict_text = _read_verdict(report)
    with contextlib.suppress(OSError):
        run.written_at = round((report / "verdict.json").stat().st_mtime - run.started_wall, 3)
    if run.verdict is not None and not run.hang:
        run.verify["default"] = _verify(report, env)
        if run.verdict.get("verdict") != "GO" or (run.verdict.get("run") or {}).get("partial"):
            run.verify["allow-partial"] = _verify(report, env, "--allow-partial")
    run.findings = check(run, report)
    if not keep and not run.findings:
        shutil.rmtree(cwd, ignore_errors=True)
    return run


def normalise(text: str) -> str:
    """A reason or message with what varies between seeds taken out (node ids, numbers, URLs),
    so one class gathers its seeds."""
    text = re.sub(r"https?://127\.0\.0\.1:\d+/?\S*", "<url>", text)
    text = re.sub(r"test_m\d+\.py(::[\w\[\]-]+)*", "<test>", text)
    text = re.sub(r"\bq\d+x\b", "<tok>", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text[:160]


def _stale(run: Run) -> bool:
    if run.verdict is None:
        return False
    return str((run.verdict.get("run") or {}).get("id")) in run.earlier_ids


def _traceback_finding(run: Run, early_signal: bool) -> tuple[str, str, str]:
    """(severity, class, detail) of a Python traceback in the run's output, by where it came
    from (the detail is its last exception line)."""
    s = run.scenario
    out = run.output
    block = out[out.index(TRACEBACK):].splitlines()
    errors = [line.removeprefix("INTERNALERROR> ").strip() for line in block
              if re.match(r"^(INTERNALERROR> )?[\w.]+(Error|Exception|Interrupt|Exit)\b", line)]
    last = errors[-1] if errors else (block[-1].strip() if block else "")
    if early_signal and "KeyboardInterrupt" in last and _stale(run):
        return "known", "traceback: SIGINT before pytest-staging was loaded", last
    if f"INTERNALERROR> {TRACEBACK}" in out:
        return "invariant", f"traceback: pytest prints an INTERNALERROR: {normalise(last)}", last
    if "Exception ignored in" in out and early_signal:
        return ("invariant", "traceback: the signal handler's KeyboardInterrupt was raised in a "
                             "finalizer (printed as an unraisable exception)", last)
    if early_signal and s.signals.group and "execnet" in "\n".join(block):
        return ("invariant", "traceback: a group signal reaches an xdist worker (execnet) "
                             f"starting or stopping: {normalise(last)}", last)
    if early_signal:
        return ("invariant", "traceback: an exception escapes pytest's main after a signal: "
                             f"{normalise(last.split(':')[0])}", last)
    return "invariant", f"traceback in the output: {normalise(last)}", last


def check(run: Run, report: Path) -> list[Finding]:
    """Every invariant of one run; each broken one is a Finding."""
    s, exp, v = run.scenario, run.expectation, run.verdict
    seed = s.seed
    found: list[Finding] = []

    def add(severity: str, klass: str, detail: str) -> None:
        found.append(Finding(seed, severity, klass, detail.replace("\n", " ")[:400]))

    early_signal = any(alive and name not in s.signals.ignored for name, _, alive in run.sent)
    if TRACEBACK in run.output:
        add(*_traceback_finding(run, early_signal))
    if run.hang:
        add("invariant", "the run did not end within its bound", f"killed after {run.duration}s")
        return found
    if run.lingering:
        add("invariant", "processes of the run outlived it", "xdist workers still alive 5 s "
                         "after the controller exited")
    if run.key in run.output or (report.exists() and any(
            run.key in p.read_text(encoding="utf-8", errors="replace")
            for p in report.iterdir() if p.is_file())):
        add("invariant", "the HMAC key appears in an output", "STAGING_VERDICT_KEY's value")
    if v is None:
        add("invariant", "no readable verdict.json after the run",
            f"exit {run.ret}; {run.verdict_text[:100]!r}")
        return found
    go = v.get("verdict") == "GO"
    # Signals that reached the live process only after its last write of verdict.json.
    alive = [(name, at) for name, at, reached in run.sent
             if reached and name not in s.signals.ignored]
    late = ", ".join(f"{name} at {at}s" for name, at in alive) if alive and all(
        run.written_at is not None and at > run.written_at for _, at in alive) else ""
    if _stale(run):
        if early_signal and (run.ret or 0) != 0:
            add("known", "signal before pytest-staging was loaded: the earlier verdict stays",
                f"exit {run.ret}, signals {run.sent}, verdict {v.get('verdict')}")
        else:
            add("false-go" if go else "invariant", "stale verdict.json from an earlier run",
                f"exit {run.ret}, verdict {v.get('verdict')} of run {v['run'].get('id')}")
        return found
    errors = validation_errors(v)
    if errors:
        add("invariant", "verdict.json does not validate against the shipped schema",
            "; ".join(errors[:3]))
    for what in ("reasons", "warnings"):
        for line in v.get(what) or []:
            if "\n" in str(line) or "\r" in str(line):
                add("invariant", f"a {what[:-1]} spans several lines", repr(line)[:200])
    if go and v.get("reasons"):
        add("invariant", "GO with reasons", repr(v["reasons"][:2]))
    if not go and not v.get("reasons"):
        add("invariant", "NO-GO without a reason", "")
    # Exit status 0 iff verdict GO.
    if run.ret == 0 and not go:
        stoppers = [i.case for i in instances(s) if i.case.kind == "os_exit"]
        if s.flags.collect_only:
            add("invariant", "exit 0 with a NO-GO verdict: --collect-only", v["reasons"][0])
        elif any(c.arg == 0 for c in stoppers) and s.flags.xdist != "n2":
            add("known", "exit 0 with a NO-GO verdict: os._exit(0) in a test",
                "the process ended itself with status 0 before any hook ran")
        else:
            add("invariant", "exit 0 with a NO-GO verdict", normalise(v["reasons"][0]))
    elif run.ret != 0 and go:
        if (run.ret or 0) < 0 and late:
            name = signal.Signals(-run.ret).name
            add("false-go", f"GO on disk, process killed by {name} after writing it",
                f"{late}, verdict written at {run.written_at}s, the process ended at "
                f"{run.exited_at}s")
        elif (run.ret or 0) < 0:
            name = signal.Signals(-run.ret).name if -run.ret in signal.Signals._value2member_map_ \
                else str(run.ret)
            add("false-go", f"GO on disk, process killed by {name} after writing it",
                f"signals {run.sent}, exited at {run.exited_at}s")
        else:
            add("invariant", "GO verdict with a non-zero exit status", f"exit {run.ret}")
    # The oracle.
    if go and not exp.go_allowed:
        rules = "+".join(sorted({rule for rule, _ in exp.no_go}))
        if rules == "signal" and late and run.ret == 0:
            # pytest-staging's last exit hook ignores SIGINT/SIGTERM/SIGHUP: a signal in the
            # interpreter's final moments (no Python code runs there to rewrite the file)
            # leaves the GO it could not withdraw, and its 0 (file and status agree). A late
            # signal in pytest's teardown withdraws the GO (tests/faults/test_run_faults.py).
            add("known", "a signal in the interpreter's last moments is ignored: the GO on "
                         "disk and exit 0 stand together",
                f"{late}; exit 0 at {run.exited_at}s, verdict written at {run.written_at}s")
        elif rules == "signal" and late:
            add("false-go", "GO although a signal reached the process after verdict.json was "
                            "written (before it exited)",
                f"{late}; exit {run.ret} at {run.exited_at}s, verdict written at "
                f"{run.written_at}s")
        else:
            add("false-go", f"GO although: {rules}", "; ".join(d for _, d in exp.no_go)[:300])
    elif not go and exp.go_allowed and not any(f.severity == "known" for f in found):
        add("false-no-go", f"NO-GO where GO was expected: {normalise(v['reasons'][0])}",
            " | ".join(v["reasons"][:3]))
    if go:
        recorded = {t["nodeid"]: t for t in v.get("tests") or []}
        for nodeid, accept in exp.outcomes.items():
            entry = recorded.get(nodeid)
            if entry is None:
                add("false-go", "GO without a selected test in the verdict", nodeid)
            elif entry.get("outcome") not in accept:
                add("invariant", f"outcome recorded differs: {sorted(accept)} -> "
                                 f"{entry.get('outcome')}", nodeid)
        # A module skipped at collection is listed as one skipped entry (issue 20 item 10).
        for nodeid in set(recorded) - set(exp.outcomes) - set(exp.collection_skipped):
            add("invariant", "the verdict lists a test the run did not select", nodeid)
        for module in set(exp.collection_skipped) & set(recorded):
            if recorded[module].get("outcome") != "skipped":
                add("invariant", "a module skipped at collection is recorded as "
                                 f"{recorded[module].get('outcome')}", module)
        if exp.left_out and not (v.get("run") or {}).get("partial"):
            add("false-go", "partial run not marked partial", "")
        for module in exp.collection_skipped:
            if not any(module in str(w) for w in v.get("warnings") or []):
                add("false-go", "module skipped at collection vanished from a GO "
                                "(issue 20 item 10)", module)
    # Verify agrees with the run (apart from partial consent, the deploy side's call).
    partial = bool((v.get("run") or {}).get("partial"))
    for name, (code, line) in run.verify.items():
        if TRACEBACK in line or len(line.splitlines()) > 1:
            add("invariant", "verify printed more than one line", line[:200])
        if not go and code == 0:
            add("false-go", f"verify ({name}) accepts a NO-GO", line)
    code, line = run.verify.get("default", (None, ""))
    if go and not partial and code != 0:
        add("invariant", f"run GO, verify refuses: {normalise(line)}", line)
    if go and partial and code == 0:
        add("false-go", "verify accepts a partial GO without --allow-partial", line)
    if go and partial and run.verify.get("allow-partial", (0, ""))[0] != 0:
        add("info", f"partial GO, verify --allow-partial refuses: "
                    f"{normalise(run.verify['allow-partial'][1])}", run.verify["allow-partial"][1])
    return found
