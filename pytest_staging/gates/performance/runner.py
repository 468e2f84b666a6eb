"""Run Locust as a subprocess and read its stats back from ``--json-file`` / ``--csv``.

Locust is never imported here (its gevent monkey-patching breaks ssl, requests and xdist): it
runs headless in its own process group, with a hard timeout (run time + stop timeout + margin,
plus the worker wait in master mode), and its exit code is mapped so a run whose requests failed
is told apart from a locust that crashed, a bad locustfile or a missing locust.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_staging.durations import parse_seconds
from pytest_staging.gates.performance import metrics as metrics_mod
from pytest_staging.gates.performance.abort import breach, live_metrics
from pytest_staging.gates.performance.load_request import request_env, strip_userinfo
from pytest_staging.gates.performance.profile import render_locustfile
from pytest_staging.gates.performance.thresholds import Threshold
from pytest_staging.gates.performance.worker_roster import (
    ROSTER_JSON,
    ROSTER_JSON_ENV,
    never_connected,
    read_roster,
    worker_nodes,
)

LOCUST_ENV = "PYTEST_STAGING_LOCUST"
EXIT_REQUESTS_FAILED = 42  # passed as --exit-code-on-error: distinct from locust's own 1 and 2
STATS_PREFIX = "stats"
PROGRESS_HOOK = Path(__file__).with_name("locust_progress.py")
#: Locust-side modules loaded with every locustfile: the staging client's request options
#: (query parameters, headers, auth, TLS) and the stats of successful requests only.
REQUEST_HOOK = Path(__file__).with_name("locust_request_options.py")
SUCCESS_HOOK = Path(__file__).with_name("locust_success_stats.py")
#: On a master (external workers, --processes): who made the load, and who was lost.
ROSTER_HOOK = Path(__file__).with_name("locust_worker_roster.py")
SUCCESS_JSON_ENV = "PYTEST_STAGING_SUCCESS_JSON"
SUCCESS_JSON = f"{STATS_PREFIX}_success.json"
#: What Locust's master logs when its workers did not all connect within the wait.
GAVE_UP = "Gave up waiting for workers to connect"


class LoadError(RuntimeError):
    """The load run could not produce trustworthy metrics; ``kind`` says why.

    Kinds: ``locust-missing``, ``bad-locustfile``, ``bad-options``, ``locust-error``,
    ``locust-crashed``, ``timeout``, ``no-output``, ``workers-missing`` (master mode: the
    workers did not all connect within ``expect_workers_max_wait``).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_timespan(value: str | float | int) -> float:
    """Seconds of a load's ``run_time`` (``30``, ``"30s"``, ``"2m"``, ``"1h30m"``, see
    ``durations.parse_seconds``); raise LoadError if malformed or not positive."""
    try:
        seconds = parse_seconds(value)
    except ValueError:
        raise LoadError("bad-options", f"run_time {value!r}: expected seconds or '30s'/'2m'")\
            from None
    if seconds <= 0:
        raise LoadError("bad-options", f"run_time {value!r}: must be positive")
    return seconds


@dataclass
class LoadOptions:
    """What to run: users, duration, locustfile or inline profile, and how to distribute it."""

    host: str
    users: int = 10
    spawn_rate: float = 10.0
    run_time: float | str = 10.0
    locustfile: str | os.PathLike[str] | None = None
    profile: Mapping[str, Any] | Sequence[Any] | None = None
    wait: float = 0.0
    user_classes: Sequence[str] = ()
    processes: int = 0
    workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int = 0
    expect_workers_max_wait: float = 60.0
    stop_timeout: float = 5.0
    margin: float = 15.0
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Query parameters sent with every request (the staging URL's own, e.g. ``?token=``).
    params: Sequence[tuple[str, str]] = ()
    #: TLS trust like requests' ``verify``: True, False (insecure) or a CA bundle path.
    verify: bool | str = True
    #: ``{"trace_id": ..., "state": ...}``: the load test's trace, stamped on every request to
    #: the staging origin (``[performance] traceparent``); None sends no trace context.
    trace: Mapping[str, str] | None = None
    extra_args: Sequence[str] = ()
    locust_command: Sequence[str] | None = None
    env: Mapping[str, str] | None = None

    def seconds(self) -> float:
        """Run time in whole seconds as Locust will run it."""
        return float(math.ceil(parse_timespan(self.run_time)))

    def hard_timeout(self) -> float:
        """Wall-clock limit after which the whole locust process group is killed."""
        limit = self.seconds() + self.stop_timeout + self.margin
        if self.workers:
            limit += self.expect_workers_max_wait
        return limit


@dataclass
class LoadRun:
    """A finished load run: metrics plus how it ran."""

    metrics: dict[str, Any]
    exit_code: int
    status: str  # "ok" | "requests-failed"
    command: list[str]
    wall_time: float
    workdir: str
    worker_command: str | None = None
    #: Set when an ``abort`` threshold stopped the run early: the breach (``evaluate``'s
    #: result plus ``requests``) and ``after`` (seconds into the run).
    aborted: dict[str, Any] | None = None
    #: Distributed runs (workers, processes): the master's worker roster, None when it wrote
    #: none (see ``worker_roster``).
    roster: dict[str, Any] | None = None


def resolve_locust_command(explicit: Sequence[str] | None = None) -> list[str]:
    """The command that starts locust: explicit, ``$PYTEST_STAGING_LOCUST``, or this Python's.

    Finding the locust package does not import it.
    """
    if explicit:
        return list(explicit)
    configured = os.environ.get(LOCUST_ENV)
    if configured:
        return shlex.split(configured)
    if importlib.util.find_spec("locust") is not None:
        return [sys.executable, "-m", "locust"]
    found = shutil.which("locust")
    if found:
        return [found]
    raise LoadError("locust-missing", "locust is not installed: pip install locust")


def check_locustfile(path: Path) -> None:
    """Fail early and clearly on a missing locustfile or one with a syntax error (no import).

    A directory of locustfiles (which Locust accepts) is left to Locust to check.
    """
    if path.is_dir():
        return
    if not path.is_file():
        raise LoadError("bad-locustfile", f"locustfile {path} not found")
    try:
        compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as exc:
        raise LoadError(
            "bad-locustfile", f"locustfile {path}:{exc.lineno}: SyntaxError: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise LoadError("bad-locustfile", f"locustfile {path}: {exc}") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for Locust's master bind port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def worker_command(master_host: str, master_port: int) -> str:
    """The command an operator runs on each load machine in master mode."""
    host = "<this-machine>" if master_host in ("*", "0.0.0.0", "") else master_host
    return f"locust --worker --master-host {host} --master-port {master_port} -f -"


def build_command(options: LoadOptions, locustfile: Path, workdir: Path) -> list[str]:
    """Full locust command line for ``options`` (headless, stats to files in ``workdir``)."""
    if options.users < 1:
        raise LoadError("bad-options", f"users={options.users!r}: must be at least 1")
    if options.spawn_rate <= 0:
        raise LoadError("bad-options", f"spawn_rate={options.spawn_rate!r}: must be positive")
    if options.processes and options.workers:
        raise LoadError("bad-options", "processes and workers (master mode) are exclusive")
    prefix = str(workdir / STATS_PREFIX)
    command = [
        *resolve_locust_command(options.locust_command),
        "-f", f"{locustfile},{PROGRESS_HOOK},{REQUEST_HOOK},{SUCCESS_HOOK},{ROSTER_HOOK}",
        "--headless",
        "--users", str(int(options.users)),
        "--spawn-rate", f"{float(options.spawn_rate):g}",
        "--run-time", f"{int(options.seconds())}s",
        "--host", strip_userinfo(options.host).rstrip("/"),  # credentials: in the environment
        "--json-file", prefix,
        "--csv", prefix,
        "--only-summary",
        "--stop-timeout", f"{float(options.stop_timeout):g}",
        "--exit-code-on-error", str(EXIT_REQUESTS_FAILED),
    ]  # fmt: skip
    if options.processes:
        # The forked workers reach their master on 5557 unless told otherwise: a fixed port
        # collides with any other locust on the machine (another xdist worker's, say).
        command += ["--processes", str(int(options.processes))]
        if options.master_port:
            command += ["--master-bind-port", str(options.master_port),
                        "--master-port", str(options.master_port)]
    if options.workers:
        command += [
            "--master",
            "--master-bind-host", options.master_bind_host,
            "--master-bind-port", str(options.master_port),
            "--expect-workers", str(int(options.workers)),
            "--expect-workers-max-wait", f"{float(options.expect_workers_max_wait):g}",
        ]  # fmt: skip
    command += list(options.extra_args)
    command += list(options.user_classes)
    return command


def _without_unraisable_reports(lines: list[str]) -> list[str]:
    """``lines`` without Python's "Exception ignored in: ..." reports: exceptions raised where
    nothing can catch them, such as gevent's "greenlet is being finalized" at interpreter exit
    (gevent 25.5 on Python 3.10). They come after the error that stopped locust and are not it."""
    kept: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("Exception ignored in"):
            inside = True
        elif inside and (line.startswith(("Traceback ", " ")) or not line.strip()):
            pass
        elif inside:
            inside = False  # the report's own exception line, its last
        else:
            kept.append(line)
    return kept


def _log_reason(log: Path) -> str:
    """The line of locust's output that best says why it failed."""
    try:
        raw = log.read_text(errors="replace").splitlines()
    except OSError:
        return "no output"
    lines = ([ln.strip() for ln in _without_unraisable_reports(raw) if ln.strip()]
             or [ln.strip() for ln in raw if ln.strip()])  # nothing else: that is the reason
    for line in reversed(lines):
        if re.search(r"(Error|Exception|Gave up|Could not|Invalid|unrecognized|error:)", line):
            return re.sub(r"^\[[^\]]*\] \S+: ", "", line)[:300]
    return lines[-1][:300] if lines else "no output"


def _redact_file(path: Path, redact: Callable[[str], str]) -> None:
    with contextlib.suppress(OSError):
        text = path.read_text(encoding="utf-8", errors="replace")
        masked = redact(text)
        if masked != text:
            path.write_text(masked, encoding="utf-8")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop locust and everything it started (``--processes`` children)."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_load(
    options: LoadOptions,
    workdir: str | os.PathLike[str],
    *,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_master_ready: Callable[[str], None] | None = None,
    progress_interval: float = 1.0,
    redact: Callable[[str], str] | None = None,
    abort_on: Sequence[Threshold] = (),
) -> LoadRun:
    """Run one load test and return its metrics; raise LoadError when it cannot be trusted.

    A run where requests failed is *not* an error: it returns ``status="requests-failed"`` and
    the thresholds judge it. ``on_progress`` gets ``{users, rps, p95, requests, failures}``
    about every ``progress_interval`` seconds; ``on_master_ready`` gets the worker command.
    ``redact`` masks secrets in Locust's log once it exits (Locust logs failing URLs, which
    carry the staging query parameters): the log left on disk and the reasons quoted from it.
    Thresholds of ``abort_on`` marked ``abort`` are judged on the live stats at the same pace;
    the first breached stops locust (it still writes its stats) and ``LoadRun.aborted`` says so.
    """
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    if (options.locustfile is None) == (options.profile is None):
        raise LoadError("bad-options", "give exactly one of locustfile or profile")
    if options.profile is not None:
        try:
            source = render_locustfile(options.profile, wait=options.wait)
        except ValueError as exc:
            raise LoadError("bad-options", str(exc)) from None
        locustfile = work / "staging_profile_locustfile.py"
        locustfile.write_text(source, encoding="utf-8")
    else:
        locustfile = Path(options.locustfile).resolve()  # type: ignore[arg-type]
    check_locustfile(locustfile)
    if (options.workers or options.processes) and not options.master_port:
        options.master_port = free_port(options.master_bind_host.replace("*", "127.0.0.1"))
    command = build_command(options, locustfile, work)
    env = dict(os.environ if options.env is None else options.env)
    env.update(request_env(options.host, options.headers, options.params, options.verify,
                           trace=options.trace))
    env[SUCCESS_JSON_ENV] = str(work / SUCCESS_JSON)
    env[ROSTER_JSON_ENV] = str(work / ROSTER_JSON)
    env.setdefault("PYTHONUNBUFFERED", "1")
    log = work / "locust.log"
    for stale in work.glob(f"{STATS_PREFIX}*"):
        stale.unlink()
    started = time.monotonic()
    deadline = started + options.hard_timeout()
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=work, env=env, start_new_session=True,
            )  # fmt: skip
    except FileNotFoundError:
        raise LoadError("locust-missing", f"locust executable not found: {command[0]}") from None
    except PermissionError:
        raise LoadError("locust-missing", f"locust executable not runnable: {command[0]}") from None
    hint = None
    aborted: dict[str, Any] | None = None
    abort_thresholds = [t for t in abort_on if t.abort]
    if options.workers:
        hint = worker_command(options.master_bind_host, options.master_port)
        if on_master_ready is not None:
            on_master_ready(hint)
    try:
        while True:
            try:
                code = proc.wait(timeout=progress_interval)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                _kill_group(proc)
                if aborted is not None:
                    raise LoadError("timeout", f"locust did not stop within "
                                    f"{options.stop_timeout + 10:.0f}s of an abort "
                                    f"({aborted['expr']} breached); killed")
                raise LoadError(
                    "timeout",
                    f"locust did not finish within {options.hard_timeout():.0f}s "
                    "(run time + stop timeout + margin); killed",
                )
            if on_progress is not None:
                progress = metrics_mod.read_progress(work / STATS_PREFIX)
                if progress is not None:
                    on_progress(progress)
            if abort_thresholds and aborted is None:
                live = live_metrics(work / STATS_PREFIX)
                hit = breach(abort_thresholds, live) if live is not None else None
                if hit is not None:
                    aborted = {**hit, "after": round(time.monotonic() - started, 3)}
                    # SIGTERM: locust stops its users and still writes its stats files.
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGTERM)
                    deadline = min(deadline, time.monotonic() + options.stop_timeout + 10)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
        if redact is not None:
            _redact_file(log, redact)
    wall = time.monotonic() - started
    distributed = bool(options.workers or options.processes)
    roster = read_roster(work / ROSTER_JSON) if distributed else None
    if code not in (0, EXIT_REQUESTS_FAILED):
        reason = _log_reason(log)
        output = log.read_text(errors="replace") if log.is_file() else ""
        if options.workers and GAVE_UP in output:
            raise LoadError("workers-missing", never_connected(
                roster, int(options.workers),
                f"{options.master_bind_host}:{options.master_port}",
                options.expect_workers_max_wait, hint or ""))
        if code == 2 or code < 0:
            raise LoadError("locust-crashed", f"locust crashed (exit {code}): {reason}")
        if "Could not find" in reason or f'File "{locustfile}"' in output:
            raise LoadError("bad-locustfile", f"locustfile {locustfile.name}: {reason}")
        raise LoadError("locust-error", f"locust failed to run (exit {code}): {reason}")
    json_path = work / f"{STATS_PREFIX}.json"
    try:
        entries = metrics_mod.load_locust_json(json_path)
    except (OSError, ValueError) as exc:
        raise LoadError("no-output", f"locust wrote no readable stats ({exc})") from None
    prefix = work / STATS_PREFIX
    try:
        successes: list[dict[str, Any]] | None = metrics_mod.load_locust_json(work / SUCCESS_JSON)
    except (OSError, ValueError):
        successes = None  # judged as "not measured" unless no request failed
    metrics = metrics_mod.summarize(
        entries,
        errors=metrics_mod.read_errors(prefix),
        exceptions=metrics_mod.read_exceptions(prefix),
        successes=successes,
        min_span=metrics_mod.MIN_RPS_SPAN,
    )
    metrics["users"] = int(options.users)
    metrics["run_time"] = options.seconds()
    timeline = metrics_mod.read_timeline(prefix)
    if timeline is not None:
        metrics["timeline"] = timeline
    if options.processes:
        metrics["processes"] = int(options.processes)
    if options.workers:
        metrics["workers"] = int(options.workers)
    if distributed:
        metrics["worker_nodes"] = worker_nodes(roster)
    return LoadRun(
        metrics=metrics,
        exit_code=code,
        status="ok" if code == 0 else "requests-failed",
        command=command,
        wall_time=round(wall, 3),
        workdir=str(work),
        worker_command=hint,
        aborted=aborted,
        roster=roster,
    )
