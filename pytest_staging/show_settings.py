"""``pytest --staging-show-settings``: every effective setting and where it came from.

Each value and its source (command line, environment, ini, policy file, conftest hook,
default) come from ``settings.setting``, the same precedence function ``settings.resolve()``
and the gates use: nothing is recomputed here. Secrets are redacted: a header value is
shown as typed only when its header is public or it holds nothing but ``$VAR`` references
(and a scheme word), never expanded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_staging import option_paths
from pytest_staging.browser.ws_endpoint import secrets as ws_secrets
from pytest_staging.policy import PolicyError, load_policy
from pytest_staging.precedence import CLI, DEFAULT, POLICY, SETTINGS, Resolved, empty_values
from pytest_staging.redact import MASK, Redactor
from pytest_staging.settings import explicit_base_url, setting, verdict_key
from pytest_staging.url_headers import VARIABLE

#: Settings shown by a row of their own below, or as the policy key they override.
_SPECIAL = frozenset({"url", "policy", "gates", "headers", "compare_headers", "key_env",
                      "signing_key", "show_settings", "ca_bundle", "expect_version"})


@dataclass(frozen=True)
class Row:
    name: str
    value: str
    source: str


def _url_rows(config: Any, environ: Mapping[str, str], redactor: Redactor) -> list[Row]:
    url = setting(config, "url", environ=environ)
    if url.given:
        return [Row("url", redactor.url(str(url.value)), url.source)]
    base = explicit_base_url(config)
    if base:
        return [Row("url", redactor.url(base), "--base-url")]
    hook = config.pluginmanager.hook.pytest_staging_default_url
    if hook.get_hookimpls():
        return [Row("url", "(started by conftest when the run starts)",
                    "conftest pytest_staging_default_url")]
    return [Row("url", "(none: the plugin is inactive)", DEFAULT)]


def _header_rows(config: Any, environ: Mapping[str, str], policy: Any) -> list[Row]:
    """Every header value is a secret unless its header is public: shown as typed only then,
    or when what was typed holds no literal beyond a scheme word (``Bearer $TOKEN``)."""
    public = {name.lower() for name in
              setting(config, "public_headers", policy=policy, environ=environ).value or []}
    rows = []
    for option, label in (("headers", "header"), ("compare_headers", "compare header")):
        for raw in setting(config, option, environ=environ).value or []:
            name, _, value = str(raw).partition(":")
            value = value.strip()
            if name.strip().lower() not in public and not _only_variables(value):
                value = MASK
            rows.append(Row(f"{label} {name.strip()}", value, CLI))
    return rows


def _only_variables(value: str) -> bool:
    literal = VARIABLE.sub("", value).split()
    return "$" in value and (not literal or (len(literal) == 1 and literal[0].isalpha()))


def _signing_rows(config: Any, environ: Mapping[str, str]) -> list[Row]:
    key, name = verdict_key(config, environ)
    key_env = setting(config, "key_env", environ=environ)
    rows = [Row("signing key", f"${name} " + ("set" if key else "not set"), key_env.source)]
    attest = setting(config, "signing_key", environ=environ)
    if attest.origin == CLI:
        rows.append(Row("attestation key", f"file {attest.value}", attest.source))
    elif attest.given:
        rows.append(Row("attestation key", f"${attest.setting.env} set", attest.source))
    else:
        rows.append(Row("attestation key", "(none: no attestation)", DEFAULT))
    return rows


def _format(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, dict)):
        return repr(value) if value else "[]" if not isinstance(value, dict) else "{}"
    return str(value)


def _row(resolved: Resolved, name: str | None = None) -> Row:
    source = resolved.source
    if resolved.origin == CLI and name is not None:
        source = f"{CLI} ({resolved.setting.flag})"
    return Row(name or resolved.setting.name, _format(resolved.value), source)


def collect(config: Any, environ: Mapping[str, str] | None = None) -> tuple[list[Row], str]:
    """Every setting with its source, and a problem line ("" when the settings resolve).
    Values and sources both come from ``settings.setting`` (the one precedence rule)."""
    environ = os.environ if environ is None else environ
    redactor = Redactor()
    rows = _url_rows(config, environ, redactor)
    rows.append(_row(setting(config, "report_dir", environ=environ)))
    expect = setting(config, "expect_version", environ=environ)
    rows.append(Row("expect_version", str(expect.value) if expect.given else "(none)",
                    expect.source))
    empty = empty_values(config, environ)
    problem = option_paths.problem(config, environ) or (
        f"{', '.join(empty)} given an empty value (an unset variable?): give a value, or "
        "leave the option out" if empty else "")
    policy_setting = setting(config, "policy", environ=environ, skip_empty=True)
    try:
        policy = load_policy(policy_setting.value, config.rootpath)
    except (PolicyError, OSError) as exc:
        rows.append(Row("policy", str(policy_setting.value or "(none)"), policy_setting.source))
        return rows, problem or str(exc)
    rows.append(Row("policy", policy.source, policy_setting.source if policy_setting.given
                    else "pyproject.toml [tool.pytest-staging]"
                    if policy.source != "(defaults)" else DEFAULT))

    # The compare URL's credentials and secret query values are secrets of every row.
    compare = setting(config, "compare_url", policy=policy, environ=environ).value
    if compare:
        redactor.url(str(compare))
    # So are a remote browser server's userinfo and query values.
    for secret in ws_secrets(str(setting(config, "browser_ws", policy=policy,
                                         environ=environ).value or "")):
        redactor.add(secret)
    gates = setting(config, "gates", environ=environ)
    rows.append(Row("gates", ", ".join(gates.value) if gates.given else ", ".join(policy.gates),
                    CLI if gates.given else f"policy ({policy.source})"
                    if policy.source != "(defaults)" else DEFAULT))
    rows.extend(_header_rows(config, environ, policy))
    ca = setting(config, "ca_bundle", environ=environ)
    rows.append(Row("ca_bundle", str(ca.value or "(system CAs)"), ca.source))
    rows.extend(_signing_rows(config, environ))
    overriding = {}
    for item in SETTINGS:
        if item.policy:
            overriding[item.policy] = item
        elif item.name not in _SPECIAL and not item.secret:
            rows.append(_row(setting(config, item.name, environ=environ)))

    for key, value in policy.values.items():
        over = overriding.get(key)
        found = setting(config, over.name, policy=policy, environ=environ) if over else None
        if found is not None and found.given and found.origin != POLICY:
            # the command line, the environment or the ini file beat the policy
            rows.append(_row(found, key))
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
