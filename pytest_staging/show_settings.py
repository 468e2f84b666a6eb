"""``pytest --staging-show-settings``: every setting the run would use and where it came from.

Nothing is recomputed here. The run's own sequence (``run_setup``: the path-option and empty
URL checks, ``settings.resolve()``, the promotion, history, browser, contract and attestation
checks) gives the values, or the usage error the run would stop on, word for word; the gates'
own resolvers give their effective values (the built-in sensitive paths, a derived plain-HTTP
URL, paths resolved as the gate resolves them, accepted risks and quarantine entries with their
expiry judged today, as the run judges them). Sources come from ``settings.setting`` (the one
precedence rule). :func:`rows_of` is what a run with those settings uses, so a test can put the
two side by side. Secrets are redacted with the run's own redactor: a header value is shown as
typed only when its header is public or it holds nothing but ``$VAR`` references (and a scheme
word), never expanded.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_staging import run_setup
from pytest_staging.precedence import CLI, DEFAULT, POLICY, SETTINGS, Resolved
from pytest_staging.redact import MASK, Redactor
from pytest_staging.settings import Settings, explicit_base_url, setting, verdict_key
from pytest_staging.url_headers import VARIABLE

#: The staging URL a run without one would be judged with, to show what applies once one is
#: given (the run itself stays inactive without a URL).
NO_URL_PLACEHOLDER = "https://staging.example.invalid/"

#: Settings shown by a row of their own, or as the policy key they override.
_SPECIAL = frozenset({"url", "policy", "report_dir", "gates", "headers", "compare_headers",
                      "key_env", "signing_key", "show_settings", "ca_bundle", "expect_version",
                      "insecure", "allow_destructive", "fail_on", "subject", "run_id",
                      "browser_path"})


@dataclass(frozen=True)
class Row:
    name: str
    value: str
    source: str


def _format(value: Any) -> str:
    """A value as the policy would spell it: dates as ISO dates, lists and tables as JSON."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=_plain, ensure_ascii=False)
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _row(resolved: Resolved, name: str | None = None, value: Any = None) -> Row:
    source = resolved.source
    if resolved.origin == CLI and name is not None:
        source = f"{CLI} ({resolved.setting.flag})"
    shown = resolved.value if value is None else value
    return Row(name or resolved.setting.name, _format(shown), source)


def _url_row(config: Any, url: str | None) -> Row:
    """``url``: the target as the run names it (None: no URL given)."""
    found = setting(config, "url")
    if found.given:
        return Row("url", url or str(found.value), found.source)
    base = explicit_base_url(config)
    if base:
        return Row("url", url or base, "--base-url")
    hook = config.pluginmanager.hook.pytest_staging_default_url
    if hook.get_hookimpls():
        return Row("url", "(started by conftest when the run starts)",
                   "conftest pytest_staging_default_url")
    return Row("url", "(none: the plugin is inactive; the values below apply once a URL "
                      "is given)", DEFAULT)


def _policy_source(settings: Settings) -> str:
    return f"policy ({settings.policy.source})" if settings.policy.source != "(defaults)" \
        else DEFAULT


def _policy_row(config: Any, settings: Settings) -> Row:
    found = setting(config, "policy", skip_empty=True)
    if found.given:
        source = found.source
    elif settings.policy.source != "(defaults)":
        source = "pyproject.toml [tool.pytest-staging]"
    else:
        source = DEFAULT
    return Row("policy", settings.policy.source, source)


def _gates_row(config: Any, settings: Settings) -> Row:
    chosen = setting(config, "gates")
    source = f"{CLI} (--staging-gate)" if chosen.given else _policy_source(settings)
    added = []
    for gate, name in (("contract", "openapi"), ("parity", "compare_url")):
        if gate in settings.policy.gates:
            added.append(f"{gate} from {setting(config, name, policy=settings.policy).label}")
    if added:
        source += "; " + ", ".join(added)
    # in the policy's order, as the verdict lists them
    selected = [g for g in settings.policy.gates if g in settings.gates_selected]
    return Row("gates", ", ".join(selected), source)


def _header_rows(config: Any, settings: Settings) -> list[Row]:
    """Every header value is a secret unless its header is public (``settings.secret_headers``:
    the run's own rule): shown as typed only then, or when what was typed holds no literal
    beyond a scheme word (``Bearer $TOKEN``: nothing expanded, nothing to hide)."""
    rows = []
    for option, label in (("headers", "header"), ("compare_headers", "compare header")):
        for raw in setting(config, option).value or []:
            name, _, value = str(raw).partition(":")
            value = value.strip()
            if name.strip().lower() in settings.secret_headers and not _only_variables(value):
                value = MASK
            rows.append(Row(f"{label} {name.strip()}", value, CLI))
    return rows


def _only_variables(value: str) -> bool:
    literal = VARIABLE.sub("", value).split()
    return "$" in value and (not literal or (len(literal) == 1 and literal[0].isalpha()))


def _tls_row(config: Any, settings: Settings) -> Row:
    if settings.insecure:
        return Row("ca_bundle", "(none: certificates not verified)",
                   f"{CLI} (--staging-insecure)")
    found = setting(config, "ca_bundle")
    value = settings.verify if isinstance(settings.verify, str) else "(system CAs)"
    return Row("ca_bundle", value, found.source)


def _signing_rows(config: Any, attest: Any) -> list[Row]:
    key, name = verdict_key(config)
    key_env = setting(config, "key_env")
    rows = [Row("signing key", f"${name} " + ("set" if key else "not set"), key_env.source)]
    found = setting(config, "signing_key")
    if attest is not None and getattr(attest, "signing_key", None) is not None:
        rows.append(Row("attestation key", str(attest.key_source), found.source))
    else:
        rows.append(Row("attestation key", "(none: no attestation)", DEFAULT))
    return rows


def _run_rows(config: Any, settings: Settings, attest: Any) -> list[Row]:
    """Settings a run reads outside the policy, as the run holds them."""
    rows = [_row(setting(config, "insecure"), value=settings.insecure),
            _row(setting(config, "allow_destructive"), value=settings.allow_destructive),
            _row(setting(config, "fail_on"), value=settings.fail_on)]
    unset = {"subject": "(none: the observed version)",
             "run_id": "(none: the CI system's own run id, if any)"}
    for name, otherwise in unset.items():
        found = setting(config, name)
        value = getattr(attest, name, None) if attest is not None else found.value
        rows.append(_row(found, value=value if value is not None else otherwise))
    from pytest_staging.browser.names import BROWSER_PATH_KEY

    browser = setting(config, "browser_path")
    path = config.stash.get(BROWSER_PATH_KEY, None)  # resolved by the run's browser check
    rows.append(_row(browser, value=path or "(none: Playwright's default browser)"))
    for item in SETTINGS:
        if not item.policy and item.name not in _SPECIAL and not item.secret:
            rows.append(_row(setting(config, item.name)))
    return rows


def _effective(config: Any, settings: Settings, url_given: bool
               ) -> dict[str, tuple[Any, str]]:
    """Policy keys whose value in the run is not the policy's value as written: the gates'
    own resolvers say what applies (value, and a note for the source column, "" for none)."""
    from pytest_staging.gates.security.gate import security_settings
    from pytest_staging.gates.security.runner import plain_http_target, sensitive_paths
    from pytest_staging.history.glue import store_path
    from pytest_staging.quarantine import quarantine_facts

    policy = settings.policy
    out: dict[str, tuple[Any, str]] = {}
    sec = security_settings(config, settings)
    if not sec.sensitive_paths:
        out["security.sensitive_paths"] = (list(sensitive_paths(sec)), "the built-in list")
    if not sec.plain_http_url:
        derived = plain_http_target(sec, settings.url)
        if not url_given:
            out["security.plain_http_url"] = ("(derived from the staging URL)", "")
        elif not settings.url.startswith("https:"):
            out["security.plain_http_url"] = ("(not checked: a plain-HTTP target)", "")
        else:
            out["security.plain_http_url"] = (
                (derived, "derived from the target") if derived
                else ("(none: the target names a port, nothing to derive)", ""))
    out["security.bandit.source"] = (sec.bandit_source, "")
    out["security.bandit.baseline"] = (sec.bandit_baseline, "")
    out["security.rules"] = (_rules(policy.get("security.rules")), "")
    out["contract.rules"] = (_rules(policy.get("contract.rules")), "")
    out["parity.rules"] = (_rules(policy.get("parity.rules")), "")
    if "contract" in policy.gates and policy.get("contract.seed") is None:
        out["contract.seed"] = ("(random; recorded in the verdict)", "")
    history = store_path(config, settings)
    out["history.path"] = (str(history) if history else "(none: no history store)", "")
    out["flaky.quarantine"] = (
        [_quarantine(entry) for entry in quarantine_facts(policy.get("flaky.quarantine")
                                                          or [])], "")
    return out


def _rules(table: Any) -> dict[str, Any]:
    """Rule levels, accepted risks with their expiry judged today (as the run judges it)."""
    from pytest_staging.rule_levels import parse_date

    today = dt.date.today()
    out: dict[str, Any] = {}
    for rule, value in dict(table or {}).items():
        if not isinstance(value, Mapping):
            out[rule] = value
            continue
        entry = {k: _plain(v) if isinstance(v, dt.date) else v for k, v in value.items()}
        expires = parse_date(value.get("expires"))
        if expires is not None and expires < today:
            entry["expired"] = f"since {expires.isoformat()}: counts as fail"
        out[rule] = entry
    return out


def _quarantine(entry: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: entry[k] for k in ("test", "owner", "expires", "reason") if k in entry}
    if entry.get("expired"):
        shown["expired"] = "blocks again"
    return shown


def rows_of(config: Any, settings: Settings, attest: Any = None, *,
            url_given: bool = True) -> list[Row]:
    """Every setting of a run with ``settings`` (the run's own, or what show-settings
    resolved), redacted as the run redacts. ``url_given``: False when show-settings resolved
    them with a placeholder URL (the run itself would be inactive)."""
    rows = [_url_row(config, settings.public_url() if url_given else None),
            _row(setting(config, "report_dir"), value=str(settings.report_dir))]
    expect = setting(config, "expect_version")
    rows.append(Row("expect_version", settings.expect_version or "(none)", expect.source))
    rows.append(_policy_row(config, settings))
    rows.append(_gates_row(config, settings))
    rows.extend(_header_rows(config, settings))
    rows.append(_tls_row(config, settings))
    rows.extend(_signing_rows(config, attest))
    rows.extend(_run_rows(config, settings, attest))

    policy = settings.policy
    overriding = {item.policy: item for item in SETTINGS if item.policy}
    effective = _effective(config, settings, url_given)
    for key, value in policy.values.items():
        if key.startswith("gates."):
            continue  # one row per gate below
        over = overriding.get(key)
        found = setting(config, over.name, policy=policy) if over else None
        shown, note = effective.get(key, (value, ""))
        if found is not None and found.given and found.origin != POLICY:
            # the command line, the environment or the ini file beat the policy
            row = _row(found, key, value=shown if key in effective else None)
        elif policy.is_set(key):
            row = Row(key, _format(shown), f"policy ({policy.source})")
        else:
            row = Row(key, _format(shown), f"{DEFAULT} ({note})" if note else DEFAULT)
        rows.append(row)
    for name, gate in policy.gates.items():
        explicit = any(policy.is_set(f"gates.{name}.{k}") for k in ("blocking", "min_tests"))
        value = (f"{'blocking' if gate.blocking else 'advisory'}, min_tests {gate.min_tests}"
                 + ("" if name in settings.gates_selected else ", not selected"))
        rows.append(Row(f"gates.{name}", value,
                        f"policy ({policy.source})" if explicit else DEFAULT))
    redactor = settings.redactor()
    return [Row(r.name, redactor.text(r.value), r.source) for r in rows]


def _partial_rows(config: Any) -> list[Row]:
    """What can be shown when the settings do not resolve (beside the usage error)."""
    rows = [_url_row(config, None), _row(setting(config, "report_dir", skip_empty=True))]
    found = setting(config, "policy", skip_empty=True)
    rows.append(Row("policy", str(found.value or "(none)"), found.source))
    redactor = Redactor()
    return [Row(r.name, redactor.url(r.value) if r.name == "url" else r.value, r.source)
            for r in rows]


def collect(config: Any) -> tuple[list[Row], str]:
    """Every setting with its source, and the usage error the run would stop on ("" when it
    would start)."""
    url, source, problem = run_setup.url_problem(config)
    if problem:
        return _partial_rows(config), problem
    settings, problem = run_setup.resolve_settings(
        config, url or NO_URL_PLACEHOLDER, source or DEFAULT)
    if settings is None:
        return _partial_rows(config), problem
    attest, problem = run_setup.run_problem(config, settings)
    return rows_of(config, settings, attest, url_given=url is not None), problem


def render(rows: list[Row]) -> str:
    width = max((len(r.name) for r in rows), default=10)
    value_width = min(max((len(r.value) for r in rows), default=10), 48)
    lines = [f"{'setting':<{width}}  {'value':<{value_width}}  source"]
    for row in rows:
        lines.append(f"{row.name:<{width}}  {row.value:<{value_width}}  {row.source}")
    return "\n".join(lines) + "\n"


def main(config: pytest.Config) -> int:
    """Print the settings; exit 0, or 4 (usage error) with the line the run would stop on."""
    rows, problem = collect(config)
    sys.stdout.write("pytest-staging effective settings (highest precedence: command line > "
                     "env > ini / policy > default)\n")
    sys.stdout.write(render(rows))
    if problem:
        sys.stdout.write(f"ERROR: pytest-staging: {problem}\n")
        return int(pytest.ExitCode.USAGE_ERROR)
    return 0


__all__ = ["Row", "collect", "main", "render", "rows_of"]
