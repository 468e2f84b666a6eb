"""Loading the OpenAPI document and running Schemathesis on one operation: plain functions,
no pytest import. Schemathesis generates the requests (Hypothesis strategies from the schema)
and judges the responses (its own checks); the budget, rate limit, sensitive-URL guard, headers
and TLS options are ours, enforced by :class:`~.session.ContractSession` on every request.
"""

from __future__ import annotations

import json
import shlex
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from pytest_staging.client import join_url
from pytest_staging.gates.contract.session import (
    BudgetExhausted,
    ContractSession,
    SensitiveRequestRefused,
)
from pytest_staging.gates.contract.settings import CHECKS, ContractSettings
from pytest_staging.printable import error_line, first_line
from pytest_staging.redact import Redactor
from pytest_staging.rule_levels import apply_levels
from pytest_staging.trace_context import Trace, trace_id_of

INSTALL_HINT = 'pip install "pytest-staging[contract]"'
#: Bytes of a response body kept in a problem's evidence.
BODY_LIMIT = 1024
#: Problems kept per operation (one per check and title; more are counted, not kept).
MAX_PROBLEMS = 10
#: Request headers a reproduction does not need (curl sets its own).
_CURL_SKIP = frozenset({"content-length", "connection", "accept-encoding", "user-agent"})


class ContractSetupError(Exception):
    """The contract gate cannot run (schema unreadable, Schemathesis missing): one line why."""


def import_problem() -> str:
    """Why Schemathesis cannot be used here ("" when it can)."""
    try:
        import schemathesis  # noqa: F401
        from schemathesis import checks  # noqa: F401
    except Exception as exc:
        return (f"the contract gate needs Schemathesis: {INSTALL_HINT} "
                f"({error_line(exc)})")
    return ""


# -- the document -------------------------------------------------------------------------
def _parse_document(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml

            data = yaml.safe_load(text)
        except Exception as exc:
            raise ContractSetupError(f"schema {where}: neither JSON nor YAML ({exc})") from None
    if not isinstance(data, dict) or not ("openapi" in data or "swagger" in data):
        raise ContractSetupError(f"schema {where}: not an OpenAPI document (no 'openapi' key)")
    return data


def load_document(source: str, *, base_url: str, headers: Mapping[str, str],
                  params: Mapping[str, str], verify: bool | str, timeout: float,
                  base_dir: Path, redactor: Redactor, trace: Trace | None = None
                  ) -> dict[str, Any]:
    """The OpenAPI document from a path on the target (``/openapi.json``), a URL or a file.

    The staging headers and query parameters go only to the target's own host: a schema URL
    elsewhere gets a plain request, so a token never leaves for another host.
    """
    if source.startswith("/") or ("://" in source and not source.startswith("file://")):
        url = join_url(base_url, source) if source.startswith("/") else source
        shown = redactor.url(url)
        same_host = urlsplit(url)[:2] == urlsplit(base_url)[:2]
        sent = dict(headers) if same_host else {}
        if trace is not None:  # the run's trace, on the staging origin only (no redirects)
            trace.stamp(sent, url)
        try:
            response = requests.get(url, headers=sent,
                                    params=dict(params) if same_host else {}, verify=verify,
                                    timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise ContractSetupError(f"schema {shown}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ContractSetupError(f"schema {shown} answered {response.status_code}")
        return _parse_document(response.text, shown)
    path = Path(source.removeprefix("file://"))
    path = path if path.is_absolute() else base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractSetupError(f"schema file {path}: {exc.strerror or exc}") from None
    return _parse_document(text, str(path))


def api_base_url(document: Mapping[str, Any], target_url: str) -> str:
    """Where the operations live: the target URL plus the path of the document's first server.

    Only the server's *path* is used: generated requests never leave the staging target.
    """
    servers = document.get("servers") or []
    path = ""
    if isinstance(servers, list) and servers and isinstance(servers[0], Mapping):
        url = str(servers[0].get("url", ""))
        variables = servers[0].get("variables") or {}
        if isinstance(variables, Mapping):
            # Server variables ("/{version}") take their documented defaults.
            for name, spec in variables.items():
                if isinstance(spec, Mapping) and "default" in spec:
                    url = url.replace("{" + str(name) + "}", str(spec["default"]))
        path = urlsplit(url).path
    elif "swagger" in document:
        path = str(document.get("basePath") or "")
    if path and path not in ("/", ""):
        return urljoin(target_url, path.lstrip("/")).rstrip("/")
    return target_url.rstrip("/")


@dataclass(frozen=True)
class Operations:
    """The documented operations, by label (``GET /api/products``), and the ones Schemathesis
    could not load (label or pointer -> error line)."""

    schema: Any
    by_label: dict[str, Any]
    errors: dict[str, str]


def label_of(operation: Any) -> str:
    return f"{str(operation.method).upper()} {operation.path}"


def load_operations(document: dict[str, Any]) -> Operations:
    import schemathesis

    try:
        schema = schemathesis.openapi.from_dict(document)
        results = list(schema.get_all_operations())
    except Exception as exc:
        raise ContractSetupError(f"schema is not usable by Schemathesis: "
                                 f"{error_line(exc)}") from None
    by_label: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for result in results:
        if hasattr(result, "ok"):
            operation = result.ok()
            by_label[label_of(operation)] = operation
        else:
            error = result.err()
            where = getattr(error, "path", None) or getattr(error, "full_path", None) or "schema"
            method = getattr(error, "method", None)
            label = f"{str(method).upper()} {where}" if method else str(where)
            errors[label] = first_line(error) or type(error).__name__
    return Operations(schema=schema, by_label=by_label, errors=errors)


# -- one operation ------------------------------------------------------------------------
@dataclass
class OperationResult:
    """What running one operation produced; ``to_metrics()`` is what the verdict records."""

    label: str
    requests: int = 0
    responses: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""
    error: str = ""

    def to_metrics(self) -> dict[str, Any]:
        return {"requests": self.requests, "responses": self.responses,
                "statuses": dict(self.statuses), "problems": list(self.problems),
                "stopped": self.stopped, "error": self.error}


def curl_command(request: requests.PreparedRequest, redactor: Redactor,
                 verify: bool | str) -> str:
    """A ready-to-run ``curl`` for the request that was sent, secrets masked."""
    parts = ["curl", "-X", str(request.method)]
    headers = redactor.headers({k: str(v) for k, v in request.headers.items()
                                if k.lower() not in _CURL_SKIP})
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    body = request.body
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        parts += ["--data-binary", redactor.text(text[:4096])]
    if verify is False:
        parts.append("--insecure")
    elif isinstance(verify, str):
        parts += ["--cacert", verify]
    parts.append(redactor.url(str(request.url)))
    return " ".join(shlex.quote(p) for p in parts)


def _response_evidence(response: Any, redactor: Redactor) -> dict[str, Any]:
    headers = {k: ", ".join(v) if isinstance(v, list) else str(v)
               for k, v in dict(response.headers).items()}
    body = bytes(response.content or b"")[:BODY_LIMIT].decode("utf-8", "replace")
    if len(response.content or b"") > BODY_LIMIT:
        body += " [truncated]"
    trace_id = trace_id_of(getattr(getattr(response, "request", None), "headers", None))
    return {"status": int(response.status_code),
            "content_type": headers.get("content-type", headers.get("Content-Type", "")),
            "headers": redactor.headers(headers), "body": redactor.text(body),
            **({"trace_id": trace_id} if trace_id else {})}


def _problem(label: str, check: str, title: str, message: str, level: str,
             response: Any, curl: str, redactor: Redactor) -> dict[str, Any]:
    return {"operation": label, "check": check, "rule": check, "level": level,
            "title": redactor.text(title), "message": redactor.text(message[:1000]),
            "response": _response_evidence(response, redactor) if response is not None else None,
            "curl": curl, "count": 1}


def check_functions(settings: ContractSettings) -> dict[str, Callable[..., Any]]:
    """The Schemathesis check of every rule not set to ``ignore``."""
    from schemathesis import checks

    return {name: getattr(checks, name) for name in CHECKS if settings.level_of(name) != "ignore"}


def run_operation(operation: Any, *, session: ContractSession, base_url: str,
                  settings: ContractSettings, seed: int, headers: Mapping[str, str],
                  timeout: float, verify: bool | str, redactor: Redactor) -> OperationResult:
    """Generate up to ``max_examples`` requests for ``operation``, send each through
    ``session``, run the checks on each response. Never raises for a check failure: the
    problems are collected (Hypothesis would otherwise shrink, sending more requests)."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import seed as hypothesis_seed
    from hypothesis import settings as hypothesis_settings
    from schemathesis.core.failures import FailureGroup

    label = label_of(operation)
    result = OperationResult(label=label)
    checks = check_functions(settings)
    kept: dict[tuple[str, str], dict[str, Any]] = {}
    refused: list[SensitiveRequestRefused] = []

    def note(check: str, title: str, message: str, response: Any, curl: str) -> None:
        key = (check, title)
        if key in kept:
            kept[key]["count"] += 1
            return
        if len(kept) < MAX_PROBLEMS:
            kept[key] = _problem(label, check, title, message, settings.level_of(check),
                                 response, curl, redactor)

    def one(case: Any) -> None:
        if result.stopped or refused:
            return
        why = session.budget.exhausted()
        if why:
            result.stopped = why
            return
        before = session.budget.sent
        try:
            response = case.call(base_url=base_url, session=session, headers=dict(headers),
                                 timeout=timeout, verify=verify)
        except BudgetExhausted as exc:
            result.stopped = str(exc)
            return
        except SensitiveRequestRefused as exc:
            refused.append(exc)
            return
        except requests.RequestException as exc:
            result.requests += session.budget.sent - before
            note("request_error", type(exc).__name__, redactor.text(str(exc)), None, "")
            return
        result.requests += session.budget.sent - before
        result.responses += 1
        status = str(response.status_code)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        curl = ""
        for name, check in checks.items():
            try:
                case.validate_response(response, checks=[check], headers=dict(headers))
            except FailureGroup as group:
                for failure in group.exceptions:
                    curl = curl or curl_command(_first_request(response), redactor, verify)
                    note(name, str(getattr(failure, "title", "") or type(failure).__name__),
                         str(getattr(failure, "message", "") or failure), response, curl)
            except AssertionError as failure:
                curl = curl or curl_command(_first_request(response), redactor, verify)
                note(name, str(getattr(failure, "title", "") or type(failure).__name__),
                     str(getattr(failure, "message", "") or failure), response, curl)

    strategy = operation.as_strategy()
    run = hypothesis_settings(
        max_examples=settings.max_examples, deadline=None, database=None,
        suppress_health_check=list(HealthCheck), phases=[Phase.generate], print_blob=False,
        derandomize=False,
    )(hypothesis_seed(seed)(given(case=strategy)(one)))
    try:
        with warnings.catch_warnings():
            # --staging-insecure is a verdict warning already, not one per generated request.
            warnings.simplefilter("ignore", InsecureRequestWarning)
            run()
    except Exception as exc:
        result.error = first_line(redactor.text(f"{type(exc).__name__}: {exc}"))
    # Levels and accepted risks (owner, expiry) exactly as the security gate applies them.
    result.problems = apply_levels(kept.values(), settings.rules)
    if refused:
        result.error = redactor.text(str(refused[0]))
    return result


def _first_request(response: Any) -> requests.PreparedRequest:
    """The request as generated (before any redirect), for the reproduction."""
    request: requests.PreparedRequest = response.request
    return request
