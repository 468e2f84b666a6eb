"""``pytest --staging-show-settings``: every effective setting and where it came from.

The values are the ones ``settings.resolve()`` and the policy would use; this module only
recomputes *where* each came from (command line, environment, ini, policy file, conftest hook,
default), without changing how anything resolves. Secrets are redacted: header values are
shown as typed (``$VAR`` not expanded) and masked when the header is secret by name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_staging import option_paths
from pytest_staging.policy import PolicyError, load_policy
from pytest_staging.redact import MASK, SECRET_HEADER, Redactor
from pytest_staging.settings import (
    DEFAULT_REPORT_DIR,
    ENV_EXPECT_VERSION,
    ENV_POLICY,
    ENV_REPORT_DIR,
    ENV_URL,
    _ini,
    path_setting,
)

CLI = "command line"
DEFAULT = "default"


@dataclass(frozen=True)
class Row:
    name: str
    value: str
    source: str


def _ini_source(config: Any, name: str) -> str:
    inipath = getattr(config, "inipath", None)
    return f"ini {name} ({inipath})" if inipath else f"ini {name}"


def _layered(config: Any, option: str, env: str | None, ini: str | None,
             environ: Mapping[str, str]) -> tuple[Any, str]:
    """Value and source with the one precedence rule: command line > env > ini."""
    given = config.getoption(option, None)
    if given is not None and given != "":
        return given, CLI
    if env and environ.get(env):
        return environ[env], f"env {env}"
    if ini:
        value = _ini(config, ini)
        if value:
            return value, _ini_source(config, ini)
    return None, ""


def _url_rows(config: Any, environ: Mapping[str, str], redactor: Redactor) -> list[Row]:
    url, source = _layered(config, "staging_url", ENV_URL, "staging_url", environ)
    if url is not None:
        return [Row("url", redactor.url(str(url)), source)]
    hook = config.pluginmanager.hook.pytest_staging_default_url
    if hook.get_hookimpls():
        return [Row("url", "(started by conftest when the run starts)",
                    "conftest pytest_staging_default_url")]
    return [Row("url", "(none: the plugin is inactive)", DEFAULT)]


def _header_rows(config: Any) -> list[Row]:
    rows = []
    for raw in config.getoption("staging_header", None) or []:
        name, _, value = str(raw).partition(":")
        value = value.strip()
        if SECRET_HEADER.search(name) and "$" not in value:
            value = MASK
        rows.append(Row(f"header {name.strip()}", value, CLI))
    return rows


def _flag(config: Any, option: str) -> Row:
    value = bool(config.getoption(option, False))
    return Row(option.removeprefix("staging_"), str(value).lower(), CLI if value else DEFAULT)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, dict)):
        return repr(value) if value else "[]" if not isinstance(value, dict) else "{}"
    return str(value)


def collect(config: Any, environ: Mapping[str, str] | None = None) -> tuple[list[Row], str]:
    """Every setting with its source, and a problem line ("" when the settings resolve)."""
    environ = os.environ if environ is None else environ
    redactor = Redactor()
    rows = _url_rows(config, environ, redactor)

    policy_path = path_setting(config, "staging_policy", ENV_POLICY, environ)
    _, policy_source = _layered(config, "staging_policy", ENV_POLICY, "staging_policy", environ)
    report_dir = path_setting(config, "staging_report_dir", ENV_REPORT_DIR, environ)
    _, report_source = _layered(config, "staging_report_dir", ENV_REPORT_DIR,
                                "staging_report_dir", environ)
    rows.append(Row("report_dir", str(report_dir or DEFAULT_REPORT_DIR),
                    report_source or DEFAULT))
    expect, expect_source = _layered(config, "staging_expect_version", ENV_EXPECT_VERSION,
                                     None, environ)
    rows.append(Row("expect_version", str(expect) if expect is not None else "(none)",
                    expect_source or DEFAULT))
    problem = option_paths.problem(config, environ)
    try:
        policy = load_policy(policy_path, config.rootpath)
    except (PolicyError, OSError) as exc:
        rows.append(Row("policy", str(policy_path or "(none)"), policy_source or DEFAULT))
        return rows, problem or str(exc)
    rows.append(Row("policy", policy.source, policy_source or (
        "pyproject.toml [tool.pytest-staging]" if policy.source != "(defaults)" else DEFAULT)))

    gates = config.getoption("staging_gate", None)
    rows.append(Row("gates", ", ".join(gates) if gates else ", ".join(policy.gates),
                    CLI if gates else f"policy ({policy.source})"
                    if policy.source != "(defaults)" else DEFAULT))
    rows.extend(_header_rows(config))
    ca = config.getoption("staging_ca_bundle", None)
    rows.append(Row("ca_bundle", ca or "(system CAs)", CLI if ca else DEFAULT))
    for option in ("staging_insecure", "staging_allow_destructive"):
        rows.append(_flag(config, option))
    fail_on = config.getoption("staging_fail_on", None)
    rows.append(Row("fail_on", fail_on or "error", CLI if fail_on else DEFAULT))
    key_env = config.getoption("staging_key_env", None)
    key_name = key_env or "STAGING_VERDICT_KEY"
    rows.append(Row("signing key", f"${key_name} " + ("set" if environ.get(key_name)
                                                       else "not set"),
                    CLI if key_env else DEFAULT))
    source = config.getoption("staging_source", None)
    if source is not None:
        rows.append(Row("security.bandit.source", str(source), CLI))

    overrides = {"target.wait": "staging_wait", "target.timeout": "staging_timeout",
                 "flaky.retries": "staging_retries",
                 "performance.processes": "staging_load_processes",
                 "performance.workers": "staging_load_workers"}
    for key, value in policy.values.items():
        option = overrides.get(key)
        given = config.getoption(option, None) if option else None
        if given is not None:
            rows.append(Row(key, _format(given), f"{CLI} (--{option.replace('_', '-')})"))
        elif policy.is_set(key):
            rows.append(Row(key, _format(value), f"policy ({policy.source})"))
        else:
            rows.append(Row(key, _format(value), DEFAULT))
    for name, gate in policy.gates.items():
        explicit = any(policy.is_set(f"gates.{name}.{k}") for k in ("blocking", "min_tests"))
        rows.append(Row(f"gates.{name}",
                        f"{'blocking' if gate.blocking else 'advisory'}, "
                        f"min_tests {gate.min_tests}",
                        f"policy ({policy.source})" if explicit else DEFAULT))
    return [Row(r.name, redactor.text(r.value), r.source) for r in rows], problem


def render(rows: list[Row]) -> str:
    width = max((len(r.name) for r in rows), default=10)
    value_width = min(max((len(r.value) for r in rows), default=10), 48)
    lines = [f"{'setting':<{width}}  {'value':<{value_width}}  source"]
    for row in rows:
        lines.append(f"{row.name:<{width}}  {row.value:<{value_width}}  {row.source}")
    return "\n".join(lines) + "\n"


def main(config: pytest.Config) -> int:
    """Print the settings; exit 0, or 4 (usage error) with the problem when they do not resolve."""
    rows, problem = collect(config)
    sys.stdout.write("pytest-staging effective settings (highest precedence: command line > "
                     "env > ini / policy > default)\n")
    sys.stdout.write(render(rows))
    if problem:
        sys.stdout.write(f"ERROR: pytest-staging: {problem}\n")
        return int(pytest.ExitCode.USAGE_ERROR)
    return 0
