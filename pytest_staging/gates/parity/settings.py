"""The ``[parity]`` policy keys, the compare options, and the request budget of each item.

:data:`PARITY_KEYS` is the gate's part of the one policy key table (``policy_keys.Key``
entries, read by ``pytest_staging.policy``). :func:`resolve_parity` is the one place the
compare target's settings are resolved (command line > policy > default);
``settings.resolve()`` calls :func:`configure` so the ``parity`` gate exists and the compare
credentials are secrets of the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_staging.gates.parity.rules import is_known_rule, known_hint
from pytest_staging.policy_keys import Key, at_least, non_empty_strings, path_or_empty, paths
from pytest_staging.precedence import CLI
from pytest_staging.rule_levels import RuleSetting, parse_table, table_problem

GATE = "parity"
GATE_DESCRIPTION = "staging mirrors production, and the promotion would not weaken it"
#: Items of the gate, in run order, and what each needs beyond the budget's shared slack.
ITEMS: tuple[str, ...] = ("security", "transport", "api", "version")


def _url_or_empty(value: Any) -> str | None:
    if value == "" or value.startswith(("http://", "https://")):
        return None
    return "expected an http(s) URL, or \"\" for no comparison"


def _rules(value: Any) -> str | None:
    return table_problem(value, is_known_rule, known_hint())


PARITY_KEYS: tuple[Key, ...] = (
    Key("parity.url", str, "",
        "the environment staging is compared with, usually production (--staging-compare-url "
        "overrides); \"\" for no comparison", _url_or_empty),
    Key("parity.max_requests", int, 30,
        "most requests (and TLS handshakes) the comparison sends to the compare target",
        at_least(1)),
    Key("parity.paths", list, [],
        "API paths whose status, content type and JSON shape (keys and types, never values) "
        "are compared", paths),
    Key("parity.openapi", str, "",
        "path of the OpenAPI document whose operations are compared; \"\" for none",
        path_or_empty),
    Key("parity.fields", list, [],
        "fields (dotted for nested) of the version and health JSON compared between the two, "
        "e.g. db_schema", non_empty_strings),
    Key("parity.timeout", (int, float), 10.0,
        "seconds each comparison request may take in total (connect, redirects, body)",
        at_least(0.001)),
    Key("parity.rules", dict, {},
        "parity rule id -> ignore|info|warn|fail, or {level, owner, expires, reason}", _rules),
)


class ParityConfigError(ValueError):
    """A parity setting that cannot be used: the message says which and why."""


@dataclass(frozen=True)
class ParitySettings:
    """Everything the parity gate needs: the compare target and what to compare."""

    url: str = ""
    params: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()
    max_requests: int = 30
    paths: tuple[str, ...] = ()
    openapi: str = ""
    fields: tuple[str, ...] = ()
    timeout: float = 10.0
    rules: Mapping[str, RuleSetting] = field(default_factory=dict)
    #: Paths of the target's own endpoints (from the policy's [target]).
    version_path: str = "/version"
    version_field: str = "version"
    health_path: str = "/"

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def needs(self, https: bool) -> dict[str, int]:
        """Requests (and handshakes) each item sends to one target, before any redirect."""
        return {
            "security": 3,  # the page, then CORS: a GET and a preflight OPTIONS
            "transport": 3 if https else 0,  # certificate, legacy TLS, plain-HTTP redirect
            "api": len(self.paths) + (1 if self.openapi else 0),
            "version": 1 + (1 if self.fields and self.health_path != self.version_path else 0),
        }

    def budgets(self, https: bool | None = None) -> dict[str, int]:
        """Each item's share of ``max_requests``: its need plus an even share of the slack
        (for redirects). The shares never add up to more than ``max_requests``, whichever
        process runs which item."""
        needs = self.needs(self.url.startswith("https:") if https is None else https)
        total = sum(needs.values())
        if total > self.max_requests:
            detail = ", ".join(f"{k} {v}" for k, v in needs.items() if v)
            raise ParityConfigError(
                f"parity.max_requests: {self.max_requests} is fewer than the {total} requests "
                f"the comparison needs ({detail}); raise it or compare fewer paths")
        users = [k for k, v in needs.items() if v]
        slack = self.max_requests - total
        out = dict(needs)
        for index, name in enumerate(users):
            out[name] += slack // len(users) + (1 if index < slack % len(users) else 0)
        return out


def _values(section: Mapping[str, Any]) -> dict[str, Any]:
    defaults = {key.path.removeprefix(GATE + "."): key.default for key in PARITY_KEYS}
    return {path: section.get(path, default) for path, default in defaults.items()}


def resolve_parity(compare_url: Any, raw_headers: Sequence[str], policy: Any,
                   environ: Mapping[str, str], public: frozenset[str] = frozenset()
                   ) -> ParitySettings:
    """The parity settings of a run: ``compare_url`` is the resolved ``compare_url`` setting
    (``settings.setting(config, "compare_url", policy=...)``: command line > policy >
    default), ``raw_headers`` the ``--staging-compare-header`` values.

    Raises ParityConfigError: an empty ``--staging-compare-url``, headers without a compare
    URL, a bad URL or header, a budget too small for what is to be compared.
    """
    from pytest_staging.redact import Redactor
    from pytest_staging.url_headers import SettingsError, expand_header, name_of, normalise_url

    values = _values(policy.section(GATE))
    url = str(compare_url.value if compare_url.value is not None else "")
    if compare_url.origin == CLI and not url.strip():
        raise ParityConfigError("--staging-compare-url: empty value (leave the option out "
                                "for no comparison)")
    url = url.strip()
    raw_headers = list(raw_headers)
    if not url:
        if raw_headers:
            raise ParityConfigError("--staging-compare-header: needs --staging-compare-url "
                                    "(or [parity] url)")
        return ParitySettings()
    try:
        base, params = normalise_url(url)
    except SettingsError as exc:
        raise ParityConfigError(str(exc).replace("staging URL", "compare URL")) from None
    headers: dict[str, str] = {}
    secrets: set[str] = set()
    for raw in raw_headers:
        try:
            # Every compare header value is a secret unless marked public, like staging's.
            name, value, found = expand_header(raw, environ, public=name_of(raw) in public,
                                               option="--staging-compare-header")
        except SettingsError as exc:
            raise ParityConfigError(str(exc)) from None
        headers[name] = value
        secrets |= found
    redactor = Redactor()
    redactor.url(url)  # URL credentials and secret query values become secrets too
    secrets |= redactor.secrets
    settings = ParitySettings(
        url=base, params=params, headers=headers, secrets=frozenset(s for s in secrets if s),
        max_requests=int(values["max_requests"]), paths=tuple(values["paths"]),
        openapi=str(values["openapi"]), fields=tuple(values["fields"]),
        timeout=float(values["timeout"]),
        rules=parse_table(values["rules"], is_known_rule, known_hint()),
        version_path=str(policy["target.version"]),
        version_field=str(policy["target.version_field"]),
        health_path=str(policy["target.health"]))
    settings.budgets()  # a budget too small is a usage error now, not a failure later
    return settings


def configure(policy: Any, compare_url: Any, raw_headers: Sequence[str],
              environ: Mapping[str, str], staging_url: str,
              public: frozenset[str] = frozenset()) -> tuple[Any, frozenset[str]]:
    """For ``settings.resolve()``: the policy with the ``parity`` gate when a compare URL is
    configured, and the compare credentials (secrets of the run). Raises ParityConfigError."""
    parity = resolve_parity(compare_url, raw_headers, policy, environ, public)
    if not parity.enabled:
        return policy, frozenset()
    from pytest_staging.url_headers import SettingsError, target_identity

    # One target written two ways (a trailing slash, :443, upper-case host, credentials) is
    # still staging: compared with itself, every parity rule would pass.
    try:
        same = target_identity(parity.url) == target_identity(staging_url)
    except SettingsError as exc:
        raise ParityConfigError(str(exc)) from None
    if same:
        option = "--staging-compare-url" if compare_url.origin == CLI else "[parity] url"
        raise ParityConfigError(f"{option} is the staging URL itself "
                                f"({target_identity(staging_url)}): parity would compare "
                                "staging with itself")
    return policy.with_gate(GATE, description=GATE_DESCRIPTION), parity.secrets
