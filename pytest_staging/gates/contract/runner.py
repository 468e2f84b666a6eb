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
from urllib.request import url2pathname

import requests
from urllib3.exceptions import InsecureRequestWarning

from pytest_staging.client import join_url
from pytest_staging.deadline import DeadlineSession, read_capped, response_text
from pytest_staging.gates.contract.schema_errors import describe_rejection
from pytest_staging.gates.contract.session import (
    BudgetExhausted,
    ContractSession,
    SensitiveRequestRefused,
)
from pytest_staging.gates.contract.settings import CHECKS, ContractSettings
from pytest_staging.printable import error_line, first_line
from pytest_staging.redact import Redactor
from pytest_staging.request_problems import request_failed
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
#: Bytes of an OpenAPI document read at most (a larger one is refused, never read whole).
SCHEMA_LIMIT = 16 * 1024 * 1024


def _parse_document(text: str, where: str) -> dict[str, Any]:
    """The document as data; a document that does not parse says so, with the parser's
    message and the line and column (JSON when it looks like JSON, else YAML)."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise ContractSetupError(f"schema {where}: the document is empty")
    if stripped[0] in "{[":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            # The cause first, where last: a long path must not push the cause past a cut.
            raise ContractSetupError(
                f"schema could not be parsed as JSON: {exc.msg} (line {exc.lineno}, column "
                f"{exc.colno} of {where})") from None
    else:
        data = _parse_yaml(stripped, where)
    if not isinstance(data, dict) or not ("openapi" in data or "swagger" in data):
        if isinstance(data, dict):
            got = "no 'openapi' or 'swagger' key"
        elif isinstance(data, str):
            got = f"plain text starting {first_line(data, 60)!r}"
        else:
            got = f"a {type(data).__name__}, not a mapping"
        raise ContractSetupError(f"schema {where}: not an OpenAPI document ({got})")
    return data


def _parse_yaml(text: str, where: str) -> Any:
    import yaml  # PyYAML, a dependency of Schemathesis

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # PyYAML's str() ends with the offending line and a caret under it ("^)" once cut to
        # one line): the problem, where, and what the parser was doing say it in words.
        mark = exc.problem_mark or exc.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1} of {where}" if mark is not None \
            else where
        context = f"; {exc.context}" if exc.context else ""
        raise ContractSetupError(
            f"schema could not be parsed as YAML: {first_line(exc.problem or exc)} "
            f"({at}{context})") from None
    except yaml.YAMLError as exc:
        raise ContractSetupError(
            f"schema could not be parsed as YAML: {first_line(exc)} ({where})") from None


def local_path(source: str, base_dir: Path) -> Path | None:
    """The file on this machine a schema source names, or None when it is fetched: a URL, or
    a path on the target (``/openapi.json``).

    ``file://...``, a relative path (``openapi.json``, ``./specs/api.yaml``, relative to
    ``base_dir``) and an absolute path that exists here are files. An absolute path that does
    not exist is a file too when its parent directory exists here (``/tmp/api.json``), except
    the root's (``/openapi.json`` is the target's): it cannot be told from a typo, and sending
    a local path to the target would turn "no such file" into a puzzling 404."""
    if source.startswith("file://"):
        # A file:// URI is percent-encoded (a relative --staging-openapi becomes one).
        path = Path(url2pathname(urlsplit(source).path))
    elif "://" in source:
        return None
    elif source.startswith("/"):
        path = Path(source)
        if not path.is_file() and (path.parent == Path(path.anchor)
                                   or not path.parent.is_dir()):
            return None
    else:
        path = Path(source)
    return path if path.is_absolute() else base_dir / path


def missing_file(source: str, base_dir: Path) -> str:
    """The one line for a schema source that names a local file that is not there, else ""."""
    path = local_path(source, base_dir)
    if path is None or path.exists():
        return ""
    return f"schema file not found: {path} (use a URL, or file://)"


def load_document(source: str, *, base_url: str, headers: Mapping[str, str],
                  params: Mapping[str, str], verify: bool | str, timeout: float,
                  base_dir: Path, redactor: Redactor, trace: Trace | None = None
                  ) -> dict[str, Any]:
    """The OpenAPI document from a path on the target (``/openapi.json``), a URL or a file
    (which is which: :func:`local_path`; ``file://`` says so explicitly).

    The staging headers and query parameters go only to the target's own host: a schema URL
    elsewhere gets a plain request, so a token never leaves for another host. The request has
    ``timeout`` seconds in total and its body is read up to :data:`SCHEMA_LIMIT`, like every
    request of the plugin (``deadline.py``).
    """
    path = local_path(source, base_dir)
    if path is None:
        url = join_url(base_url, source) if source.startswith("/") else source
        shown = redactor.url(url)
        same_host = urlsplit(url)[:2] == urlsplit(base_url)[:2]
        sent = dict(headers) if same_host else {}
        if trace is not None:  # the run's trace, on the staging origin only (no redirects)
            trace.stamp(sent, url)
        try:
            with DeadlineSession() as session, warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                response = session.get(url, headers=sent,
                                       params=dict(params) if same_host else {},
                                       verify=verify, timeout=timeout, allow_redirects=False,
                                       stream=True)
                body = read_capped(response, SCHEMA_LIMIT + 1)
        except requests.RequestException as exc:
            raise ContractSetupError(
                f"schema {request_failed('GET', shown, exc)}") from None
        if response.status_code != 200:
            if source.startswith("/"):
                # The cause first: a long URL must not push the hint past a cut reason.
                raise ContractSetupError(
                    f"schema is no file here, and as a path on the target it answered "
                    f"{response.status_code} (check the path; file:///... names a local "
                    f"file): {source}")
            raise ContractSetupError(f"schema {shown} answered {response.status_code}")
        if len(body) > SCHEMA_LIMIT:
            raise ContractSetupError(f"schema {shown}: larger than "
                                     f"{SCHEMA_LIMIT // (1024 * 1024)} MiB, not read")
        return _parse_document(response_text(response, body), shown)
    try:
        with path.open("rb") as handle:
            raw = handle.read(SCHEMA_LIMIT + 1)
    except FileNotFoundError:  # gone since the run's start (checked there: missing_file)
        raise ContractSetupError(missing_file(source, base_dir)
                                 or f"schema file not found: {path}") from None
    except OSError as exc:
        raise ContractSetupError(f"schema file {path}: {exc.strerror or exc}") from None
    if len(raw) > SCHEMA_LIMIT:
        raise ContractSetupError(f"schema file {path}: larger than "
                                 f"{SCHEMA_LIMIT // (1024 * 1024)} MiB, not read")
    return _parse_document(raw.decode("utf-8", "replace"), str(path))


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
            if method and "Location:" in str(error):
                errors[label] = describe_rejection(str(error), document, str(where),
                                                   str(method))
            else:
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
                 verify: bool | str, *, follow: bool = False) -> str:
    """A ready-to-run ``curl`` for the request that was sent (the first of a redirect chain;
    ``follow``: the call followed redirects, so curl does too), secrets masked."""
    parts = ["curl", "-X", str(request.method)]
    if follow:
        parts.append("-L")
    sent = {k: str(v) for k, v in request.headers.items() if k.lower() not in _CURL_SKIP}
    headers = redactor.headers(sent)
    for name, value in headers.items():
        if name.lower() == "cookie" and name.lower() not in redactor.secret_headers:
            # Each call starts with a clean jar: these are the operation's generated cookie
            # parameters, shown so the reproduction replays them (known secrets still masked).
            value = redactor.text(sent[name])
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

    def reproduction(response: Any) -> str:
        sent = session.first_request or getattr(response, "request", None)
        return curl_command(sent, redactor, verify, follow=session.redirects > 0) \
            if sent is not None else ""

    def one(case: Any) -> None:
        if result.stopped or refused:
            return
        why = session.budget.exhausted()
        if why:
            result.stopped = why
            return
        before = session.budget.sent
        session.start_call()
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
            curl = reproduction(None)
            note("request_error", type(exc).__name__, redactor.text(str(exc)), None, curl)
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
                    curl = curl or reproduction(response)
                    note(name, str(getattr(failure, "title", "") or type(failure).__name__),
                         str(getattr(failure, "message", "") or failure), response, curl)
            except AssertionError as failure:
                curl = curl or reproduction(response)
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
        from schemathesis.core.errors import InvalidSchema

        if isinstance(exc, InvalidSchema):
            # Which parameter, which definition, where in the document (not "Invalid `type`
            # definition" alone).
            text = describe_rejection(str(exc), operation.schema.raw_schema, operation.path,
                                      str(operation.method))
        else:
            text = first_line(f"{type(exc).__name__}: {exc}")
        result.error = redactor.text(text)
    # Levels and accepted risks (owner, expiry) exactly as the security gate applies them.
    result.problems = apply_levels(kept.values(), settings.rules)
    if refused:
        result.error = redactor.text(str(refused[0]))
    return result
