"""One ``resolve()`` that turns options, environment, ini and policy into frozen Settings.

Every setting is read with :func:`setting` (``precedence.lookup`` over the one table
``precedence.SETTINGS``): command line > environment > ini / policy > default. Gates reach the
resolved settings with :func:`settings_of` and any other setting with :func:`setting`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import pytest

from pytest_staging.browser.ws_endpoint import check_ws_endpoint
from pytest_staging.browser.ws_endpoint import secrets as ws_secrets
from pytest_staging.policy import Policy, PolicyError, load_policy
from pytest_staging.precedence import BY_NAME, CLI, Resolved, empty_values, lookup
from pytest_staging.redact import SECRET_PARAM, Redactor, strip_credentials
from pytest_staging.url_headers import (
    SettingsError,
    expand_header,
    name_of,
    normalise_url,
    public_header_names,
)

ENV_URL = str(BY_NAME["url"].env)
ENV_POLICY = str(BY_NAME["policy"].env)
ENV_REPORT_DIR = str(BY_NAME["report_dir"].env)
ENV_EXPECT_VERSION = str(BY_NAME["expect_version"].env)
DEFAULT_REPORT_DIR = str(BY_NAME["report_dir"].default)
NO_URL = "no staging URL: pass --staging-url or set STAGING_URL"
#: What ``--base-url`` (or PYTEST_BASE_URL) said before any plugin filled it from the ini file.
EXPLICIT_BASE_URL_KEY = pytest.StashKey["str | None"]()


@dataclass(frozen=True)
class Settings:
    url: str
    url_source: str
    policy: Policy
    report_dir: Path
    gates_selected: tuple[str, ...]
    expect_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    verify: bool | str = True
    insecure: bool = False
    allow_destructive: bool = False
    secrets: frozenset[str] = frozenset()
    #: Names (lower case) of the run's headers whose values are secret: every
    #: --staging-header / --staging-compare-header not marked --staging-public-header.
    secret_headers: frozenset[str] = frozenset()
    #: Query parameters of the given URL, sent with every request (e.g. an access token).
    params: tuple[tuple[str, str], ...] = ()
    #: ``"warn"``: warnings are NO-GO reasons too (``--staging-fail-on``).
    fail_on: str = "error"
    #: A remote Playwright browser server (``--staging-browser-ws``) as given, credentials
    #: included (they are in ``secrets``); None: browsers are launched locally.
    browser_ws: str | None = None

    @property
    def full_url(self) -> str:
        """The URL as given (query included), for handing on to xdist workers."""
        return self.url + ("?" + urlencode(self.params) if self.params else "")

    def public_url(self) -> str:
        """The target as the verdict and the history store name it: no credentials, secret
        query values masked."""
        return strip_credentials(self.redactor().url(self.url))

    def redactor(self) -> Redactor:
        redactor = Redactor(self.secrets, secret_headers=self.secret_headers)
        redactor.url(self.url)
        parts = urlsplit(self.url)
        if parts.username is not None:
            # requests turns URL credentials into a Basic header: its value is a secret too.
            userinfo = parts.netloc.rpartition("@")[0]
            basic = base64.b64encode(unquote(userinfo).encode()).decode()
            redactor.add(basic)
        for name, value in self.params:
            if SECRET_PARAM.search(name):
                redactor.add(value)
        return redactor


SETTINGS_KEY = pytest.StashKey[Settings]()


def setting(config: Any, name: str, *, policy: Policy | None = None,
            environ: Mapping[str, str] | None = None, skip_empty: bool = False) -> Resolved:
    """The value of one setting of ``precedence.SETTINGS`` and where it came from (command
    line > env > ini / policy > default, "given" meaning ``is not None``). The one way the
    gates, the promotion glue and ``--staging-show-settings`` read a staging option."""
    return lookup(config, name, policy=policy, environ=environ, skip_empty=skip_empty)


def settings_of(config: Any) -> Settings | None:
    """The resolved settings of an active run (None in an inactive run)."""
    return config.stash.get(SETTINGS_KEY, None)


def active_settings(config: Any) -> Settings:
    """The settings of an active run; in an inactive run, fails the test asking for them with
    the one line that says how to activate the plugin."""
    settings = settings_of(config)
    if settings is None:
        pytest.fail(NO_URL, pytrace=False)
    return settings


def explicit_base_url(config: Any) -> str | None:
    """``--base-url`` / PYTEST_BASE_URL as given (pytest-base-url's or pytest-playwright's
    option), or None. ``""`` is returned as given: an empty target is a usage error. Noted by
    the browser glue before pytest-base-url copies its ini value into the option."""
    stash = getattr(config, "stash", None)
    return stash.get(EXPLICIT_BASE_URL_KEY, None) if stash is not None else None


def find_url(config: Any, environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """The staging URL and where it came from, or ``(None, "")`` when the run is inactive."""
    # Given but empty ("--staging-url $UNSET", STAGING_URL=) is returned as "": the caller
    # makes it a usage error, never an inactive run.
    url = setting(config, "url", environ=environ)
    if url.given:
        return str(url.value), url.label
    # pytest-base-url's --base-url (or PYTEST_BASE_URL), as typed: its ini value does not count.
    base = explicit_base_url(config)
    if base:
        return base, "--base-url"
    return None, ""


def report_dir_of(config: Any, environ: Mapping[str, str] | None = None) -> Path:
    """Where the verdict goes; also used before settings resolve (a usage error must replace
    the verdict in the same folder a good run would write it to)."""
    return Path(setting(config, "report_dir", environ=environ, skip_empty=True).value)


def verdict_key(config: Any, environ: Mapping[str, str] | None = None
                ) -> tuple[str | None, str]:
    """The HMAC key that signs verdict.json (None when unset or empty) and the name of the
    variable holding it: ``--staging-key-env NAME``, else ``STAGING_VERDICT_KEY``."""
    environ = os.environ if environ is None else environ
    name = str(setting(config, "key_env", environ=environ).value)
    return environ.get(name) or None, name


def _with_contract(config: Any, policy: Policy, environ: Mapping[str, str]) -> Policy:
    """``--staging-openapi`` / ``--staging-contract-seed`` over ``[contract]``; a configured
    schema adds the ``contract`` gate. An empty ``--staging-openapi`` is a usage error."""
    overrides: dict[str, Any] = {}
    openapi = setting(config, "openapi", policy=policy, environ=environ)
    if openapi.origin == CLI:
        schema = str(openapi.value).strip()
        if not schema:
            raise SettingsError("--staging-openapi: empty value (give a path on the target "
                                "like /openapi.json, a URL or a file)")
        if not schema.startswith("/") and "://" not in schema:
            # A file named on the command line is relative to where pytest was started.
            invocation = getattr(config, "invocation_params", None)
            base = Path(invocation.dir) if invocation is not None else Path.cwd()
            schema = (base / schema).resolve().as_uri()
        overrides["contract.schema"] = schema
    seed = setting(config, "contract_seed", policy=policy, environ=environ)
    if seed.origin == CLI:
        overrides["contract.seed"] = seed.value
    policy = policy.with_overrides(overrides)
    if not policy.get("contract.schema"):
        return policy
    return policy.with_gate(
        "contract", description="the deployed API conforms to its OpenAPI document")


#: Settings whose command-line value replaces the policy's in ``Settings.policy`` itself.
POLICY_OVERRIDES = ("wait", "timeout", "retries")


def resolve(config: Any, url: str, url_source: str,
            environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting of an active run. Raises SettingsError or PolicyError."""
    environ = os.environ if environ is None else environ

    def get(name: str, policy: Policy | None = None) -> Any:
        return setting(config, name, policy=policy, environ=environ).value

    empty = empty_values(config, environ)
    if empty:
        raise SettingsError(f"{', '.join(empty)} given an empty value (an unset variable?): "
                            "give a value, or leave the option out")

    policy_file = get("policy")
    policy = load_policy(Path(policy_file) if policy_file else None, config.rootpath)
    overrides = {}
    for name in POLICY_OVERRIDES:
        given = setting(config, name, policy=policy, environ=environ)
        if given.origin == CLI:
            overrides[str(given.setting.policy)] = given.value
    policy = policy.with_overrides(overrides)

    public = public_header_names(get("public_headers", policy) or [])

    # The parity gate exists only with a compare URL; its credentials are secrets of the run.
    from pytest_staging.gates.parity.settings import ParityConfigError, configure

    try:
        policy, compare_secrets = configure(
            policy, setting(config, "compare_url", policy=policy, environ=environ),
            list(get("compare_headers") or []), environ, url, public=public)
    except ParityConfigError as exc:
        raise SettingsError(str(exc)) from None
    policy = _with_contract(config, policy, environ)

    report_dir = report_dir_of(config, environ)

    selected: list[str] = []
    for raw in get("gates") or []:
        for name in str(raw).split(","):
            name = name.strip()
            if not name:
                continue
            if name not in policy.gates:
                raise SettingsError(
                    f"--staging-gate {name}: unknown gate (known: {', '.join(policy.gates)})")
            if name not in selected:
                selected.append(name)

    headers: dict[str, str] = {}
    secrets: set[str] = set()
    for raw in get("headers") or []:
        name, value, found = expand_header(raw, environ, public=name_of(raw) in public)
        headers[name] = value
        secrets |= found
    secret_headers = {name_of(raw) for raw in [*(get("headers") or []),
                                                 *(get("compare_headers") or [])]} - public

    secrets |= compare_secrets
    browser_ws = setting(config, "browser_ws", policy=policy, environ=environ)
    if browser_ws.value is not None:
        # Empty on the command line or in the environment: already a usage error above.
        ws_url = check_ws_endpoint(str(browser_ws.value), browser_ws.label)
        secrets |= ws_secrets(ws_url)
    # The verdict signing key is a secret like any other: masked wherever it could show.
    secrets.add(verdict_key(config, environ)[0] or "")
    # So is an Ed25519 private key given in the environment (every textual form of it), even
    # when a key file on the command line is the one that signs.
    pem = environ.get(str(BY_NAME["signing_key"].env), "")
    if pem.strip():
        from pytest_staging.attestation import secret_forms

        secrets |= secret_forms(pem.encode("utf-8", "replace"))
    secrets.discard("")

    insecure = bool(get("insecure"))
    ca_bundle = get("ca_bundle")
    verify: bool | str = True
    if insecure:
        verify = False
    elif ca_bundle:
        if not Path(ca_bundle).is_file():
            raise SettingsError(f"--staging-ca-bundle {ca_bundle}: file not found")
        verify = str(Path(ca_bundle).resolve())

    base_url, params = normalise_url(url)
    return Settings(
        url=base_url,
        params=params,
        url_source=url_source,
        policy=policy,
        report_dir=report_dir,
        gates_selected=tuple(selected or policy.gates),
        expect_version=get("expect_version"),
        headers=headers,
        verify=verify,
        insecure=insecure,
        allow_destructive=bool(get("allow_destructive")),
        secrets=frozenset(secrets),
        secret_headers=frozenset(secret_headers),
        fail_on=str(get("fail_on")),
        browser_ws=ws_url if browser_ws.value is not None else None,
    )


__all__ = ["NO_URL", "SETTINGS_KEY", "PolicyError", "Resolved", "Settings", "SettingsError",
           "active_settings", "expand_header", "explicit_base_url", "find_url",
           "normalise_url", "resolve", "setting", "settings_of", "verdict_key"]
