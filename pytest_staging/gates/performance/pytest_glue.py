"""pytest glue of the performance gate: options, the ``staging_load`` fixture, isolation hooks.

Registered by ``pytest_staging.plugin``. Locust is never imported here: every load runs in a
subprocess (see ``runner``). The fixture records each load's metrics and its threshold and
baseline checks with ``pytest_staging.record.record``, so they reach the verdict under xdist.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_staging.compat import capture_suspended
from pytest_staging.durations import seconds_option
from pytest_staging.gate_assignment import assign, is_load_test
from pytest_staging.gates.performance.abort import abort_detail
from pytest_staging.gates.performance.baseline import BaselineError, compare, load_baseline
from pytest_staging.gates.performance.isolation import Measurement, MeasurementLock, shared_dir
from pytest_staging.gates.performance.report import metrics_line
from pytest_staging.gates.performance.runner import LoadError, LoadOptions, LoadRun, run_load
from pytest_staging.gates.performance.thresholds import (
    Threshold,
    ThresholdError,
    evaluate,
    parse_thresholds,
)
from pytest_staging.gates.performance.worker_roster import CHECK_KIND, lost_check
from pytest_staging.record import record
from pytest_staging.settings import active_settings, setting, settings_of

LOCK_KEY = pytest.StashKey[MeasurementLock]()
COUNT_KEY = pytest.StashKey[int]()
GATE = "performance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("staging")
    group.addoption("--staging-load-processes", dest="staging_load_processes", type=int,
                    metavar="N",
                    help="run each load test with locust --processes N on this machine "
                         "[policy performance.processes, 0: one process]")  # fmt: skip
    group.addoption("--staging-load-workers", dest="staging_load_workers", type=int,
                    metavar="N",
                    help="master mode: wait for N external 'locust --worker' processes; "
                         "the command to start them is printed [policy performance.workers, 0]")
    group.addoption("--staging-load-master-bind", dest="staging_load_master_bind",
                    metavar="HOST[:PORT]",
                    help="where the locust master listens for workers in master mode "
                         "[127.0.0.1:a free port]")  # fmt: skip
    group.addoption("--staging-perf-baseline", dest="staging_perf_baseline",
                    metavar="FILE|last-go",
                    help="earlier verdict.json (or report dir) to compare load metrics with, "
                         "or last-go: the last GO on this target in --staging-history; "
                         "judged by policy performance.max_regression [none]")  # fmt: skip
    group.addoption("--staging-load-progress", dest="staging_load_progress",
                    type=seconds_option(0.0), metavar="SECONDS",
                    help="seconds between live progress lines of a running load test, "
                         "0 for none [5]")  # fmt: skip


def _active(config: pytest.Config) -> bool:
    return settings_of(config) is not None


class PerformanceHooks:
    """The gate's per-run hooks, registered by the core only in an active run (an inactive
    run pays nothing per test for a gate it does not use)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        """A test that uses ``staging_load`` and names no gate belongs to the performance gate.

        Runs before the core assigns gates; the core then runs the performance gate after every
        other gate. The stable sort here keeps load tests of other gates last too.
        """
        settings = settings_of(config)
        if settings is None:
            return
        policy = settings.policy
        for item in items:
            if not is_load_test(item):
                continue
            assignment = assign(item, policy.gates, policy.default_gate)
            if assignment.gate == GATE and GATE not in assignment.markers:
                # The marker lets ``-m performance`` select it; the rule is gate_assignment's.
                item.add_marker(pytest.mark.performance)
        items.sort(key=is_load_test)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The no-load check only when a selected test may ask for a load: after every
        plugin's and conftest's ``pytest_collection_modifyitems`` (one may add the marker)."""
        if not _active(session.config):
            return
        for item in session.items:
            # keywords: the item's and its parents' markers, without a walk per question
            if GATE in item.keywords or is_load_test(item):
                want_load_check(session.config)
                return

    def __init__(self) -> None:
        #: xdist test run ids of this controller's workers (one per run).
        self.testrunuids: set[str] = set()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """On the xdist controller: note the run id its workers share the lock directory by."""
        uid = node.workerinput.get("testrunuid")
        if uid:
            self.testrunuids.add(str(uid))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """On the xdist controller: remove the run's lock directory once the workers are gone."""
        for uid in self.testrunuids:
            shutil.rmtree(shared_dir(uid, create=False), ignore_errors=True)


class LoadCheckHooks:
    """Registered only when a test may ask for a load (a ``staging_load`` user or a
    ``performance`` marker at collection; ``staging_load`` itself when reached through
    ``getfixturevalue``): the other tests pay no report hook for it."""

    @pytest.hookimpl(wrapper=True, trylast=True)  # inside the core's report hook: it takes
    def pytest_runtest_makereport(self, item: pytest.Item,  # what this records
                                  call: pytest.CallInfo[None]) -> Iterator[Any]:
        """A passing test that asked for a load (the fixture, or marker thresholds) but measured
        nothing is no evidence: a failed blocking check, not a pass."""
        report = yield
        if call.when == "call" and report.passed and _active(item.config):
            why = measured_nothing(item)
            if why:
                record(item, checks=[{"name": f"{item.nodeid}: load run", "passed": False,
                                      "blocking": True, "detail": why, "load": item.nodeid,
                                      "kind": "no-load", "inconclusive": True}])  # fmt: skip
        return report


LOAD_CHECK_NAME = "staging-performance-load-check"


def want_load_check(config: pytest.Config) -> None:
    """Register ``LoadCheckHooks`` once (before the report of the test that needs it)."""
    if config.pluginmanager.get_plugin(LOAD_CHECK_NAME) is None:
        config.pluginmanager.register(LoadCheckHooks(), LOAD_CHECK_NAME)


class WorkerLockHooks:
    """Registered on xdist workers of an active run only: a serial run or the controller pays
    no hook wrapper per test for a lock it never takes."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item,
                                nextitem: pytest.Item | None) -> Iterator[None]:
        """Under xdist, every other test holds the shared side of the measurement lock."""
        lock = _lock(item.config)
        if lock is None or is_load_test(item):
            return (yield)
        with lock.test_running(item.nodeid):
            return (yield)

def measured_nothing(item: pytest.Item) -> str | None:
    """Why ``item`` judged no load although it asked for one, else None."""
    if COUNT_KEY in item.stash:  # it used staging_load (by argument or getfixturevalue)
        if not item.stash[COUNT_KEY]:
            return "asked for staging_load but ran no load: nothing was measured"
        return None
    if any(mark.kwargs.get("thresholds") for mark in item.iter_markers(GATE)):
        return "declares thresholds but does not use staging_load: nothing was measured"
    return None


def _lock(config: pytest.Config) -> MeasurementLock | None:
    """The run-wide measurement lock on an xdist worker of an active run, else None."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or not _active(config):
        return None
    lock = config.stash.get(LOCK_KEY, None)
    if lock is None:
        lock = MeasurementLock(shared_dir(str(workerinput.get("testrunuid", "run"))))
        config.stash[LOCK_KEY] = lock
    return lock


@dataclass
class LoadResult:
    """Metrics of one load run, with its threshold results; ``check()`` asserts more."""

    name: str
    metrics: dict[str, Any]
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    regressions: list[dict[str, Any]] = field(default_factory=list)
    run: LoadRun | None = None
    node: Any = None

    def __getitem__(self, key: str) -> Any:
        return self.metrics[key]

    @property
    def passed(self) -> bool:
        """Whether every threshold and baseline check held."""
        return all(r["passed"] for r in self.thresholds + self.regressions)

    def evaluate(self, expr: str) -> dict[str, Any]:
        """Evaluate a threshold without recording or raising."""
        return evaluate(expr, self.metrics)

    def check(self, expr: str) -> dict[str, Any]:
        """Assert a threshold such as ``"p95 < 300ms"``; it is recorded in the verdict either way.

        Raises AssertionError with observed vs required when it does not hold.
        """
        result = evaluate(expr, self.metrics)
        self.thresholds.append(result)
        if self.node is not None:
            record(self.node, checks=[_check(self.name, result)])
        if not result["passed"]:
            raise AssertionError(f"load {self.name}: {result['detail']}")
        return result


def implicit_minimums(perf: Mapping[str, Any]) -> list[Any]:
    """What every load must hold with no threshold written: requests sent, some of them
    successful, and at most the policy's ``max_fail_ratio`` failed (a load that measured
    nothing is no evidence)."""
    ceiling = perf.get("max_fail_ratio")
    return parse_thresholds(["requests > 0", "successes > 0",
                             f"fail_ratio <= {ceiling if ceiling is not None else '1%'}"])


def _check(load: str, result: Mapping[str, Any], kind: str = "threshold") -> dict[str, Any]:
    # A threshold that could not be evaluated (no request to the endpoint, a metric not
    # measured: observed None) blocks, but measured nothing: it could not judge.
    unmeasured = not result["passed"] and result.get("observed") is None
    return {
        "name": f"{load}: {result['expr']}",
        "passed": bool(result["passed"]),
        "blocking": True,
        "detail": result["detail"],
        "load": load,
        "kind": kind,
        **({"inconclusive": True} if unmeasured else {}),
        **{k: result.get(k) for k in ("expr", "metric", "endpoint", "observed", "limit", "unit")},
    }


class StagingLoad:
    """The callable behind the ``staging_load`` fixture."""

    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self.request = request
        self.config = request.config
        self.settings = active_settings(request.config)
        self.workdir = workdir
        self.perf = self.settings.policy.section(GATE)

    # -- output ------------------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        """A line on the terminal, past pytest's capture, safe on xdist workers."""
        text = self.settings.redactor().text(text)
        with capture_suspended(self.config):
            workerinput = getattr(self.config, "workerinput", None)
            if workerinput is not None:
                stream = sys.__stderr__ or sys.stderr
                stream.write(f"[{workerinput.get('workerid', 'worker')}] {text}\n")
                stream.flush()
                return
            reporter = self.config.pluginmanager.getplugin("terminalreporter")
            if reporter is not None:
                reporter.ensure_newline()
                reporter.write_line(text)
            else:
                sys.stderr.write(text + "\n")

    # -- the call ----------------------------------------------------------------------------
    def __call__(
        self,
        *,
        users: int | None = None,
        spawn_rate: float | None = None,
        run_time: str | float | None = None,
        locustfile: str | Path | None = None,
        profile: Mapping[str, Any] | Sequence[Any] | None = None,
        thresholds: Sequence[str | Mapping[str, Any]] = (),
        name: str | None = None,
        wait: float = 0.0,
        user_classes: Sequence[str] = (),
        processes: int | None = None,
        workers: int | None = None,
        extra_args: Sequence[str] = (),
        fail_on_threshold: bool = True,
    ) -> LoadResult:
        """Run one load test against the staging target and judge it (see the fixture)."""
        node = self.request.node
        count = node.stash.get(COUNT_KEY, 0) + 1
        node.stash[COUNT_KEY] = count
        name = name or (node.nodeid if count == 1 else f"{node.nodeid}#{count}")
        try:
            exprs = self._thresholds(thresholds)
            options = self._options(
                users=users, spawn_rate=spawn_rate, run_time=run_time, locustfile=locustfile,
                profile=profile, wait=wait, user_classes=user_classes, processes=processes,
                workers=workers, extra_args=extra_args,
            )  # fmt: skip
        except (ThresholdError, LoadError, ValueError) as exc:
            self._fail(name, f"usage error: {exc}")
        run, measurement = self._run(name, options, exprs)
        metrics = dict(run.metrics)
        minimums = [evaluate(t, metrics) for t in implicit_minimums(self.perf)]
        results = [evaluate(t, metrics) for t in exprs]
        checks = [_check(name, r, "minimum") for r in minimums]
        if not metrics.get("requests"):
            # A load that sent no request measured nothing: "requests > 0" could not judge
            # either (the others, without a request, are unmeasured already).
            for check in checks:
                if not check["passed"]:
                    check["inconclusive"] = True
        checks += [_check(name, r) for r in results]
        results = minimums + results
        if run.aborted is not None:
            # An aborted load is a failed load whatever its final numbers say.
            hit = run.aborted
            metrics["aborted"] = {"expr": hit["expr"], "after": hit["after"],
                                  "observed": hit["observed"], "requests": hit["requests"]}
            checks.append({"name": f"{name}: aborted", "passed": False, "blocking": True,
                           "detail": abort_detail(hit, hit["after"], options.seconds()),
                           "load": name, "kind": "abort"})
        if options.workers or options.processes:
            # A worker lost mid-load: the load measured is not the one asked for.
            lost = lost_check(name, run.roster, options.workers or options.processes,
                              options.users)
            if lost is not None:
                checks.append(lost)
        warnings: list[str] = []
        if metrics.get("exceptions"):
            first = (metrics.get("exception_messages") or [""])[0]
            checks.append({"name": f"{name}: locustfile", "passed": False, "blocking": True,
                           "detail": f"the locustfile raised {metrics['exceptions']} "
                                     f"exception(s) in its tasks: {first}",
                           # The load's own code broke: what it measured proves nothing.
                           "load": name, "kind": "locustfile", "inconclusive": True})  # fmt: skip
        regressions, baseline_warnings = self._baseline(name, metrics)
        checks += [_check(name, r, "baseline") for r in regressions]
        warnings += baseline_warnings
        warning = measurement.warning(name) if measurement else None
        if warning:
            warnings.append(warning)
        metrics["isolated"] = warning is None
        metrics["wall_time"] = run.wall_time
        metrics["thresholds"] = results
        record(node, metrics={name: metrics}, checks=checks, warnings=warnings)
        self._emit(f"load {name}: {metrics_line(metrics)} ({run.wall_time:.1f}s)")
        result = LoadResult(name, metrics, results, regressions, run, node)
        failed = [c["detail"] for c in checks if not c["passed"]]
        if failed and fail_on_threshold:
            pytest.fail(f"load {name}: " + "; ".join(failed), pytrace=False)
        return result

    def _fail(self, name: str, detail: str, kind: str = "run") -> Any:
        detail = self.settings.redactor().text(detail)  # locust's output may echo a request
        # A load that could not run measured nothing: the gate could not judge.
        check = {"name": f"{name}: load run", "passed": False, "blocking": True,
                 "detail": detail, "load": name, "kind": kind, "inconclusive": True}
        if kind == CHECK_KIND:
            check["name"] = f"{name}: load workers"  # workers that never connected
        record(self.request.node, checks=[check])
        pytest.fail(f"load {name}: {detail}", pytrace=False)

    def _thresholds(self, given: Any) -> list[Threshold]:
        exprs: list[Any] = list(self.perf.get("thresholds") or [])
        for mark in self.request.node.iter_markers(GATE):
            marked = mark.kwargs.get("thresholds") or []
            exprs += [marked] if isinstance(marked, (str, Mapping)) else list(marked)
        exprs += [given] if isinstance(given, (str, Mapping)) else list(given)
        # Tables (abort = true) are not hashable: dedupe the parsed thresholds.
        return list(dict.fromkeys(parse_thresholds(exprs)))

    def _options(self, **kw: Any) -> LoadOptions:
        policy = self.settings.policy
        # The argument > --staging-load-processes > policy > default, each "was it given"
        # (is not None): --staging-load-processes 0 beats a policy's processes = 4.
        processes = kw["processes"]
        if processes is None:
            processes = setting(self.config, "load_processes", policy=policy).value
        workers = kw["workers"]
        if workers is None:
            workers = setting(self.config, "load_workers", policy=policy).value
        bind, port = "127.0.0.1", 0
        raw_bind = setting(self.config, "load_master_bind").value
        if raw_bind:
            host, _, raw_port = str(raw_bind).rpartition(":")
            if host and raw_port.isdigit():
                bind, port = host, int(raw_port)
            else:
                bind = str(raw_bind)
        if kw["locustfile"] is None and kw["profile"] is None:
            raise LoadError("bad-options", "staging_load needs a locustfile or a profile")
        locustfile = kw["locustfile"]
        if locustfile is not None and not Path(locustfile).is_absolute():
            locustfile = Path(self.request.node.path).parent / locustfile
        def given(key: str, default: Any) -> Any:
            # "was it given", not "is it truthy": users=0 is the user's 0 (an error), not 10
            if kw[key] is not None:
                return kw[key]
            return self.perf[key] if self.perf.get(key) is not None else default

        return LoadOptions(
            host=self.settings.url.rstrip("/"),
            users=int(given("users", 10)),
            spawn_rate=float(given("spawn_rate", 10)),
            run_time=given("run_time", "10s"),
            locustfile=locustfile,
            profile=kw["profile"],
            wait=float(kw["wait"]),
            user_classes=tuple(kw["user_classes"]),
            processes=int(processes),
            workers=int(workers),
            master_bind_host=bind,
            master_port=port,
            stop_timeout=float(self.perf.get("stop_timeout") or 5),
            expect_workers_max_wait=float(self.perf["expect_workers_max_wait"]),
            # The same request options as the ``staging`` client (see load_request.py).
            headers=dict(self.settings.headers),
            params=tuple(self.settings.params),
            verify=self.settings.verify,
            trace=self._trace(),
            extra_args=tuple(kw["extra_args"]),
        )

    def _trace(self) -> dict[str, str] | None:
        """The load test's trace for the Locust process, when ``[performance] traceparent``."""
        if not self.perf.get("traceparent"):
            return None
        from pytest_staging.trace_glue import seed_of, trace_of

        trace = trace_of(self.request.node)
        return None if trace is None else {"trace_id": trace.trace_id,
                                           "state": seed_of(self.config)}

    def _run(self, name: str, options: LoadOptions,
             thresholds: Sequence[Threshold] = ()) -> tuple[LoadRun, Measurement | None]:
        every = float(setting(self.config, "load_progress").value)
        started = time.monotonic()
        last = [started, 0.0]  # when the last line was shown, requests then
        total = options.seconds()

        def progress(p: dict[str, Any]) -> None:
            now = time.monotonic()
            if every <= 0 or now - last[0] < every:
                return
            # Locust's own "current rps" lags on short windows: use the delta since last line.
            rps = (p["requests"] - last[1]) / (now - last[0])
            last[0], last[1] = now, p["requests"]
            p95 = f"{p['p95']:.0f} ms" if p.get("p95") is not None else "n/a"
            self._emit(f"load {name}: {now - started:.0f}s/{total:.0f}s "
                       f"users {p['users']}, {rps:.1f} req/s, p95 {p95}, "
                       f"failures {p['failures']}/{p['requests']}")  # fmt: skip

        def master_ready(command: str) -> None:
            self._emit(f"load {name}: locust master waiting for {options.workers} worker(s); "
                       f"start each with: {command}")  # fmt: skip

        lock = _lock(self.config)
        timeout = float(self.perf.get("lock_timeout") or 300)
        workdir = self.workdir / f"load-{node_slug(name)}"
        measurement: Measurement | None = None
        redact = self.settings.redactor().text
        failure: LoadError | None = None
        try:
            if lock is None:
                run = run_load(options, workdir, on_progress=progress,
                               on_master_ready=master_ready, redact=redact,
                               abort_on=thresholds)  # fmt: skip
            else:
                with lock.measurement(timeout) as measurement:
                    run = run_load(options, workdir, on_progress=progress,
                                   on_master_ready=master_ready, redact=redact,
                                   abort_on=thresholds)  # fmt: skip
        except LoadError as exc:
            failure = exc
        if failure is not None:  # outside the except: one line, no "during handling of..."
            self._fail(name, str(failure),
                       CHECK_KIND if failure.kind == "workers-missing" else "run")
        return run, measurement

    def _baseline(
        self, name: str, metrics: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        path = setting(self.config, "perf_baseline").value
        if not path:
            return [], []
        rules = list(self.perf.get("max_regression") or [])
        if not rules:
            return [], [f"performance: baseline {path} given but policy performance."
                        "max_regression is empty: nothing compared"]  # fmt: skip
        try:
            loads, where = self._baseline_loads(str(path))
        except BaselineError as exc:
            broken = {"expr": "baseline", "metric": "baseline", "endpoint": None,
                      "observed": None, "limit": None, "unit": "", "passed": False,
                      "detail": str(exc)}
            return [broken], []
        if loads is None or name not in loads:
            known = ", ".join(sorted(loads or {})[:3]) or "none"
            detail = (f"load {name} has no baseline in {path} (loads there: {known}): a new "
                      "load, or a baseline made under another rootdir or test name? Refresh "
                      "the baseline, or set [performance] baseline_missing = \"warn\"")
            if loads is None:
                detail = (f"load {name} has no baseline: {where} (set [performance] "
                          "baseline_missing = \"warn\" until a first GO is recorded)")
            if self.perf.get("baseline_missing", "fail") == "warn":
                return [], [f"performance: {detail}: not compared"]
            missing = {"expr": "baseline", "metric": "baseline", "endpoint": None,
                       "observed": None, "limit": None, "unit": "", "passed": False,
                       "detail": detail}
            return [missing], []
        return compare(rules, metrics, loads[name]), []

    def _baseline_loads(self, path: str) -> tuple[dict[str, Any] | None, str]:
        """The baseline's loads and where they come from: a verdict file, or the last GO
        in the history store (``last-go``; None when it has none). BaselineError when it
        cannot be read: the comparison then fails closed."""
        from pytest_staging.history.glue import LAST_GO, store_path

        if path != LAST_GO:
            return load_baseline(path), path
        from pytest_staging.history.baseline import StoreError, last_go_loads

        store = store_path(self.config, self.settings)
        if store is None:  # a usage error at configure time; fail closed all the same
            raise BaselineError("--staging-perf-baseline=last-go without a history store")
        try:
            return last_go_loads(store, self.settings.public_url())
        except StoreError as exc:
            raise BaselineError(f"performance baseline last-go: {exc}") from None


def node_slug(name: str) -> str:
    """A file-name-safe form of a load name."""
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return slug[-80:] or "load"


@pytest.fixture
def staging_load(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[StagingLoad]:  # fmt: skip
    """Run a Locust load test against the staging target and judge it with thresholds.

    ``result = staging_load(users=50, spawn_rate=10, run_time="30s", locustfile="lf.py")`` or
    an inline profile ``staging_load(profile={"GET /api/items": 3, "POST /api/orders": 1})``.
    Locust runs as a subprocess, never in the pytest process. Thresholds come from the policy
    (``[performance] thresholds``), the ``@pytest.mark.performance(thresholds=[...])`` marker
    and the ``thresholds=`` argument; any that fails fails the test (``fail_on_threshold``) and
    is a NO-GO reason with observed vs required. A threshold given as a table
    ``{"expr": "fail_ratio < 5%", "abort": True, "min_requests": 100}`` stops the load as
    soon as Locust's live stats breach it (see docs/performance-gate.md).
    ``result.check("p95 < 300ms")`` asserts more;
    ``result.metrics`` holds requests, failures, fail_ratio, rps, avg/min/max, p50-p99 and
    ``endpoints``. Under xdist the measurement waits until no other test runs.
    """
    load = StagingLoad(request, tmp_path_factory.mktemp("staging-load"))
    request.node.stash[COUNT_KEY] = 0  # a rerun attempt starts counting its loads afresh
    want_load_check(request.config)  # reached through getfixturevalue: not seen at collection
    yield load  # a passing test that ran no load: see LoadCheckHooks.pytest_runtest_makereport
