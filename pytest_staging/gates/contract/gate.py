"""pytest glue of the contract gate: one test item per documented operation, the seed shared
with xdist workers, and the controller-side coverage summary.

Items are ``staging-contract::GET /api/products`` in the ``contract`` gate, added at collection
on whichever process collects (like the security gate's built-in items), so ``-k``, JUnit and
xdist see them. The gate exists only when a schema is configured (``[contract] schema`` or
``--staging-openapi``): ``Policy.with_gate("contract")`` in ``settings.resolve()``.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_staging import shard_hooks
from pytest_staging.gates.contract.settings import SAFE_METHODS, ContractSettings, from_section
from pytest_staging.precedence import policy_dir
from pytest_staging.record import record
from pytest_staging.trace_glue import run_trace, trace_of

if TYPE_CHECKING:  # for annotations only: no new import edge between the gates and settings
    from pytest_staging.settings import Settings
    from pytest_staging.trace_context import Trace

GATE = "contract"
NODE_PREFIX = "staging-contract"
#: Metric key prefix of one operation's result (``contract:GET /api/products``).
METRIC_PREFIX = "contract:"
SEED_KEY = pytest.StashKey[int]()
#: workerinput key carrying the controller's seed to xdist workers.
WORKER_SEED = "staging_contract_seed"


def contract_settings(settings: Settings) -> ContractSettings:
    return from_section(settings.policy.section("contract"))


def is_configured(settings: Settings) -> bool:
    return GATE in settings.policy.gates and bool(settings.policy.get("contract.schema"))


def usage_problem(config: pytest.Config, settings: Settings) -> str:
    """A usage error when the contract gate is selected but cannot run ("" when it can):
    Schemathesis missing, or a schema that names a local file that is not there."""
    if not is_configured(settings) or GATE not in settings.gates_selected:
        return ""
    from pytest_staging.gates.contract.runner import import_problem, missing_file

    base_dir = policy_dir(settings.policy.source, Path(config.rootpath))
    return (missing_file(str(settings.policy["contract.schema"]), base_dir)
            or import_problem())


def seed_of(config: pytest.Config, settings: Settings) -> int:
    """The run's seed: ``--staging-contract-seed`` / policy, else random; on an xdist worker,
    the controller's (so the one seed recorded in the verdict reproduces every worker)."""
    if SEED_KEY in config.stash:
        return config.stash[SEED_KEY]
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and WORKER_SEED in workerinput:
        seed = int(workerinput[WORKER_SEED])
    else:
        given = contract_settings(settings).seed
        # The shards of one run generate alike: the seed that reproduces the merge is one.
        shared = shard_hooks.shared_seed(config)
        seed = given if given is not None else shared if shared is not None \
            else random.SystemRandom().randrange(2**31)
    config.stash[SEED_KEY] = seed
    return seed


class ContractFailure(Exception):
    """Fail-level contract problems (or a setup error): the message lists them."""


class ContractRun:
    """This process's share of the contract run: the schema, the session, the budget."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        from pytest_staging.gates.contract.runner import (
            ContractSetupError,
            api_base_url,
            load_document,
            load_operations,
        )
        from pytest_staging.gates.contract.session import Budget, ContractSession

        self.plugin_settings = settings
        self.settings = contract_settings(settings)
        self.redactor = settings.redactor()
        self.seed = seed_of(config, settings)
        workers, index = _worker_share(config)
        # Each worker gets its share, so the run as a whole stays within budget and rate.
        total = self.settings.max_requests
        self.budget = Budget(max_requests=total // workers + (index < total % workers),
                             max_seconds=self.settings.max_seconds,
                             rate=self.settings.rate / workers)
        policy = settings.policy
        self.timeout = float(policy["target.timeout"])
        self.error = ""
        self.operations: dict[str, Any] = {}
        self.broken: dict[str, str] = {}
        self.base_url = settings.url
        base_dir = policy_dir(policy.source, Path(config.rootpath))
        try:
            document = load_document(
                self.settings.schema, base_url=settings.url, headers=settings.headers,
                params=dict(settings.params), verify=settings.verify, timeout=self.timeout,
                base_dir=base_dir, redactor=self.redactor, trace=run_trace(config))
            loaded = load_operations(document)
            self.operations, self.broken = loaded.by_label, loaded.errors
            self.base_url = api_base_url(document, settings.url)
        except ContractSetupError as exc:
            self.error = self.redactor.text(str(exc))
        except Exception as exc:  # an odd document or a broken install: NO-GO, one line
            text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
            self.error = self.redactor.text(f"schema could not be loaded: {text}")
        self.session = ContractSession(
            settings.url, budget=self.budget, sensitive_url=policy["target.sensitive_url"],
            own_headers=tuple(settings.headers),
            timeout=self.timeout, headers=settings.headers, params=dict(settings.params),
            verify=settings.verify, keep=0)

    @property
    def documented(self) -> int:
        return len(self.operations) + len(self.broken)

    def run(self, label: str, trace: Trace | None = None) -> dict[str, Any]:
        from pytest_staging.gates.contract.runner import run_operation

        # Each operation is a test: its generated requests are spans of its own trace.
        self.session.trace = trace
        result = run_operation(
            self.operations[label], session=self.session, base_url=self.base_url,
            settings=self.settings, seed=self.seed, headers=self.plugin_settings.headers,
            timeout=self.timeout, verify=self.plugin_settings.verify, redactor=self.redactor)
        return result.to_metrics()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.session.close()


def _worker_share(config: pytest.Config) -> tuple[int, int]:
    """(processes sharing the run's budget, this one's index): the xdist workers of each of
    the run's shards; (1, 0) for a serial run of the whole suite."""
    workerinput = getattr(config, "workerinput", None) or {}
    workers = max(int(workerinput.get("workercount", 1) or 1), 1)
    digits = "".join(c for c in str(workerinput.get("workerid", "")) if c.isdigit())
    shards, shard = shard_hooks.share(config)
    return workers * shards, shard * workers + (int(digits) % workers if digits else 0)


def _describe(problem: dict[str, Any]) -> list[str]:
    response = problem.get("response") or {}
    times = f" (x{problem['count']})" if problem.get("count", 1) > 1 else ""
    lines = [f"{problem['operation']}: {problem['check']}: {problem.get('title', '')}{times}"]
    message = str(problem.get("message", "")).strip()
    if message:
        lines += [f"    {line}" for line in message.splitlines()[:8]]
    if response:
        lines.append(f"    response: {response.get('status')} "
                     f"{response.get('content_type') or '(no content type)'} "
                     f"{str(response.get('body', ''))[:200]}")
    if problem.get("curl"):
        lines.append(f"    reproduce: {problem['curl']}")
    return lines


class ContractItem(pytest.Item):
    """One documented operation (or the schema itself, when it could not be loaded)."""

    def __init__(self, *, label: str, run: ContractRun, unsafe: str = "",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.contract = run
        self.unsafe = unsafe
        self.add_marker(pytest.mark.contract)

    def runtest(self) -> None:
        run = self.contract
        if run.error:
            self.could_not_judge(f"contract gate cannot run: {run.error}")
        if self.label in run.broken:
            self.could_not_judge(f"{self.label}: Schemathesis cannot generate requests: "
                                 f"{run.broken[self.label]}")
        base = {"documented": run.documented, "seed": run.seed}
        if self.unsafe:
            record(self, metrics={f"{METRIC_PREFIX}{self.label}": {
                **base, "requests": 0, "responses": 0, "skipped": self.unsafe}})
            pytest.skip(self.unsafe)
        outcome = run.run(self.label, trace_of(self))
        record(self, metrics={f"{METRIC_PREFIX}{self.label}": {**base, **outcome}})
        problems = outcome["problems"]
        warned = [p for p in problems if p["level"] == "warn"]
        if warned:
            record(self, warnings=[f"{GATE}: {p['operation']}: {p['check']}: {p['title']}"
                                   for p in warned])
        failed = [p for p in problems if p["level"] == "fail"]
        # One blocking check per failed Schemathesis check: the NO-GO reason then reads
        # "contract: GET /api/products: response_schema_conformance: Response violates schema".
        checks = [{"name": f"{p['operation']}: {p['check']}", "passed": False, "blocking": True,
                   "detail": f"{p['title']} (status {(p.get('response') or {}).get('status')})"}
                  for p in failed]
        if outcome["error"]:
            # The operation could not be exercised (generation broke, a refused request):
            # no evidence about the release either way.
            checks.append({"name": self.label, "passed": False, "blocking": True,
                           "detail": outcome["error"], "inconclusive": True})
        if checks:
            record(self, checks=checks)
        if failed or outcome["error"]:
            lines: list[str] = []
            if outcome["error"]:
                lines.append(f"{self.label}: {outcome['error']}")
            for problem in failed:
                lines += _describe(problem)
            if failed:
                # The last line is the one the verdict shows for the failed item.
                names = ", ".join(dict.fromkeys(p["check"] for p in failed))
                lines.append(f"{self.label}: {len(failed)} contract check failure(s): {names}")
            raise ContractFailure("\n".join(lines))
        if not outcome["responses"]:
            pytest.skip(f"not covered: {outcome['stopped'] or 'no request generated'}")

    def could_not_judge(self, detail: str) -> NoReturn:
        """Fail this operation's test as "could not judge": a blocking check recorded with
        ``inconclusive`` (the schema or the operation could not be tested at all)."""
        record(self, checks=[{"name": self.label, "passed": False, "blocking": True,
                              "detail": detail, "inconclusive": True}])
        raise ContractFailure(detail)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, ContractFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{NODE_PREFIX}::{self.label}"


class ContractCollection:
    """Adds the contract items at collection (registered when the contract gate runs)."""

    def __init__(self, settings: Settings, is_sensitive: Callable[[], bool],
                 blocked: Callable[[], str]) -> None:
        self.settings = settings
        self.is_sensitive = is_sensitive
        self.blocked = blocked
        self.run: ContractRun | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if self.blocked():
            return  # the item hooks deselect everything: no schema fetch from a dead target
        run = self.run = ContractRun(config, self.settings)
        labels = ["schema"] if run.error else [*run.operations, *run.broken]
        from pytest_staging.items import add_builtin_items

        add_builtin_items(session, items, [ContractItem.from_parent(
            session, name=label, nodeid=f"{NODE_PREFIX}::{label}", label=label, run=run,
            unsafe=self.unsafe_reason(label, run.settings)) for label in labels])

    def unsafe_reason(self, label: str, settings: ContractSettings) -> str:
        method = label.split(" ", 1)[0]
        if method in SAFE_METHODS or label == "schema":
            return ""
        if not settings.allow_unsafe:
            return (f"unsafe method {method} not sent (set [contract] allow_unsafe = true on a "
                    "target that does not match sensitive_url)")
        if self.is_sensitive():
            return f"unsafe method {method} not sent: the target matches sensitive_url"
        return ""

    def pytest_unconfigure(self) -> None:
        if self.run is not None:
            self.run.close()


class ContractXdist:
    """On the xdist controller: hand the run's seed to every worker."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_SEED] = self.seed


def register(config: pytest.Config, settings: Settings, *,
             is_sensitive: Callable[[], bool] = lambda: False,
             blocked: Callable[[], str] = lambda: "") -> None:
    """Register the collection hooks on the collecting process when the gate is selected."""
    if not is_configured(settings) or GATE not in settings.gates_selected:
        return
    seed_of(config, settings)
    config.pluginmanager.register(ContractCollection(settings, is_sensitive, blocked),
                                  "staging-contract")


def register_xdist(config: pytest.Config, settings: Settings) -> None:
    """On the xdist controller: the seed is chosen here once and sent to the workers."""
    if not is_configured(settings) or GATE not in settings.gates_selected:
        return
    config.pluginmanager.register(ContractXdist(seed_of(config, settings)),
                                  "staging-contract-xdist")


def finalize(config: pytest.Config, settings: Settings,
             gate_data: dict[str, dict[str, Any]]) -> None:
    """On the controller, before the verdict: ``summarize`` with the run's settings."""
    if not is_configured(settings) or GATE not in settings.gates_selected:
        return
    summarize(gate_data, contract_settings(settings), seed_of(config, settings))


def summarize(gate_data: dict[str, dict[str, Any]], contract: ContractSettings,
              seed: int | None) -> None:
    """Coverage (operations answered vs documented), the seed, the problems in one list, and
    the ``min_coverage`` check, over every operation's metrics (a run's, or a merge's)."""
    data = gate_data.setdefault(GATE, {})
    if "coverage" in data:
        return
    metrics = data.get("metrics", {})
    operations = {key[len(METRIC_PREFIX):]: value for key, value in metrics.items()
                  if key.startswith(METRIC_PREFIX) and isinstance(value, dict)}
    documented = max((int(v.get("documented", 0)) for v in operations.values()), default=0)
    covered = sorted(label for label, v in operations.items() if v.get("responses", 0) > 0)
    percent = round(100.0 * len(covered) / documented, 1) if documented else 0.0
    if seed is not None:
        data["seed"] = seed
    data["coverage"] = {
        "documented": documented, "covered": len(covered), "percent": percent,
        "not_covered": sorted(label for label, v in operations.items()
                              if not v.get("responses", 0)),
    }
    data["operations"] = {label: {
        "requests": v.get("requests", 0), "responses": v.get("responses", 0),
        "statuses": v.get("statuses", {}),
        "note": v.get("skipped") or v.get("error") or v.get("stopped") or "",
    } for label, v in sorted(operations.items())}
    data["problems"] = [p for v in operations.values() for p in v.get("problems", [])]
    data["metrics"] = {key: value for key, value in metrics.items()
                       if not key.startswith(METRIC_PREFIX)}
    data["metrics"].update({
        "requests": sum(int(v.get("requests", 0)) for v in operations.values()),
        "operations_documented": documented, "operations_covered": len(covered),
        "coverage_percent": percent})
    if contract.min_coverage:
        data.setdefault("checks", []).append({
            "name": "coverage", "passed": percent >= contract.min_coverage, "blocking": True,
            "detail": f"{len(covered)} of {documented} operations covered ({percent}%), "
                      f"required {contract.min_coverage:g}%",
            # Too little was tested to judge the contract: not evidence that it broke.
            "inconclusive": True})
