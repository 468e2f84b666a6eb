"""Checks of the target itself, once per run on the controller: readiness, version, sensitivity."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from pytest_staging.client import join_url
from pytest_staging.deadline import SMALL_BODY_LIMIT, DeadlineSession, read_capped, response_text
from pytest_staging.insecure_tls import quiet
from pytest_staging.redact import Redactor
from pytest_staging.request_problems import describe
from pytest_staging.sensitive import sensitive_match
from pytest_staging.trace_context import Trace


@dataclass
class Readiness:
    ready: bool
    reachable: bool
    elapsed: float
    attempts: int
    status: int | None = None
    reason: str = ""
    redirects: list[str] = field(default_factory=list)
    final_url: str = ""


def wait_ready(
    base_url: str,
    health: str,
    *,
    wait: float,
    interval: float,
    verify: bool | str = True,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    redactor: Redactor | None = None,
    trace: Trace | None = None,
) -> Readiness:
    """Poll ``health`` until it answers below 500, for at most ``wait`` seconds."""
    redactor = redactor or Redactor()
    url = join_url(base_url, health)
    started = time.monotonic()
    deadline = started + wait
    attempts = 0
    last = ""
    telling = False
    reachable = False
    status = None
    with DeadlineSession(trace=trace) as session, quiet(verify):
        session.verify = verify
        session.headers.update(headers or {})
        session.params.update(params or {})  # type: ignore[union-attr]
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            try:
                # verify= per request: a session-level value loses to REQUESTS_CA_BUNDLE.
                # A total deadline per attempt (a drip cannot hold it), the body read capped.
                response = session.get(url, timeout=max(min(remaining, 5.0), 0.5),
                                       allow_redirects=True, verify=verify, stream=True)
                read_capped(response, SMALL_BODY_LIMIT)
                reachable = True
                status = response.status_code
                redirects = [redactor.url(r.url) for r in response.history]
                if response.status_code < 500:
                    return Readiness(True, True, time.monotonic() - started, attempts,
                                     status=status, redirects=redirects,
                                     final_url=response.url)
                last = f"health check {redactor.url(url)} answered {response.status_code}"
                telling = True
            except requests.RequestException as exc:
                # A last attempt cut short by the end of the wait says less than an earlier
                # TLS error or refusal: keep the more telling problem.
                if not (isinstance(exc, requests.exceptions.Timeout) and telling):
                    last = f"{redactor.url(url)}: {describe(exc)}"
                    telling = not isinstance(exc, requests.exceptions.Timeout)
            if time.monotonic() + interval > deadline:
                break
            time.sleep(interval)
    elapsed = time.monotonic() - started
    return Readiness(False, reachable, elapsed, attempts, status=status,
                     reason=f"target not ready after {elapsed:.1f}s ({attempts} attempts): {last}")


def off_target(base_url: str, final_url: str) -> str:
    """A reason when the health check ended on another host than the target's."""
    if not final_url:
        return ""
    want, got = urlsplit(base_url), urlsplit(final_url)
    if (want.hostname, want.port) != (got.hostname, got.port):
        return (f"target redirects to another host ({got.hostname}"
                f"{':' + str(got.port) if got.port else ''}): check --staging-url")
    return ""


def _field(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def fetch_version(
    base_url: str,
    path: str,
    *,
    field_name: str = "version",
    header: str = "",
    verify: bool | str = True,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    timeout: float = 10.0,
    trace: Trace | None = None,
) -> tuple[str | None, str]:
    """The deployed version (from a header or a JSON field), or ``(None, why not)``."""
    url = join_url(base_url, path)
    try:
        with DeadlineSession(trace=trace) as session, quiet(verify):
            response = session.get(url, timeout=timeout, verify=verify, headers=headers or {},
                                   params=params or {}, stream=True)
            body = read_capped(response, SMALL_BODY_LIMIT)
    except requests.RequestException as exc:
        return None, f"version endpoint {path}: {describe(exc)}"
    if response.status_code >= 400:
        return None, (f"version endpoint {Redactor().url(url)} answered "
                      f"{response.status_code}{VERSION_KEYS_HINT}")
    if header:
        value = response.headers.get(header)
        return (value, "") if value else (None, f"version endpoint {path}: no {header} header")
    text = response_text(response, body).strip()
    try:
        data = json.loads(text)
    except ValueError:
        if text and len(text) < 100 and "\n" not in text:
            return text, ""
        return None, f"version endpoint {path}: body is neither JSON nor a plain version"
    value = _field(data, field_name)
    if value is None or isinstance(value, (dict, list)):
        return None, f"version endpoint {path}: no '{field_name}' field"
    return str(value), ""


#: Where a wrong version endpoint is fixed: said with the error, so nobody has to look it up.
VERSION_KEYS_HINT = (" (set the policy's [target] version to the right path, or version_header "
                     "/ version_field to where the version is)")


def is_sensitive(pattern: str, urls: Iterable[str]) -> bool:
    """Whether any of ``urls`` (the target and its redirect chain) matches ``sensitive_url``
    (:func:`sensitive_match` says what matched)."""
    return sensitive_match(pattern, urls) is not None
