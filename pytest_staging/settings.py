"""One ``resolve()`` that turns options, environment, ini and policy into frozen Settings.

The single place for precedence: command line > environment > ini / policy > default.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pytest_staging.policy import Policy, PolicyError, load_policy
from pytest_staging.redact import SECRET_HEADER, SECRET_PARAM, Redactor

ENV_URL = "STAGING_URL"
ENV_POLICY = "STAGING_POLICY"
ENV_REPORT_DIR = "STAGING_REPORT_DIR"
ENV_EXPECT_VERSION = "STAGING_EXPECT_VERSION"
DEFAULT_REPORT_DIR = "staging-report"
NO_URL = "no staging URL: pass --staging-url or set STAGING_URL"
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class SettingsError(ValueError):
    """A setting that cannot be used; the message says which and why."""


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
    #: Query parameters of the given URL, sent with every request (e.g. an access token).
    params: tuple[tuple[str, str], ...] = ()
    #: ``"warn"``: warnings are NO-GO reasons too (``--staging-fail-on``).
    fail_on: str = "error"

    @property
    def full_url(self) -> str:
        """The URL as given (query included), for handing on to xdist workers."""
        return self.url + ("?" + urlencode(self.params) if self.params else "")

    def redactor(self) -> Redactor:
        redactor = Redactor(self.secrets)
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


def normalise_url(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Check the URL; return it with a trailing slash (so relative paths join under it) and
    without its query, whose parameters are returned apart to be sent with every request."""
    url = url.strip()
    # The URL may carry credentials: an error message shows it redacted.
    shown = Redactor().url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise SettingsError(f"staging URL has an invalid port: {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"staging URL must be an http(s) URL with a host, got {shown!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return base, tuple(parse_qsl(parts.query, keep_blank_values=True))


def expand_header(raw: str, environ: Mapping[str, str]) -> tuple[str, str, set[str]]:
    """``"Name: value $VAR"`` -> (name, expanded value, the secret values it carries)."""
    name, sep, value = raw.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or re.search(r"\s", name):
        # Nothing of what was given is echoed: a missing colon puts the token in "name".
        raise SettingsError("--staging-header must look like 'Name: value' (the value given "
                            "is not shown: it may hold a secret)")
    secrets: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        var = match.group("braced") or match.group("plain")
        if var not in environ:
            raise SettingsError(f"--staging-header {name}: ${var} is not set in the environment")
        secrets.add(environ[var])
        return environ[var]

    expanded = _VAR.sub(substitute, value)
    if SECRET_HEADER.search(name):
        secrets.add(expanded)
        scheme, _, token = expanded.partition(" ")
        if token and scheme.isalpha():
            secrets.add(token.strip())
    return name, expanded, secrets


def _ini(config: Any, name: str) -> str | None:
    try:
        value = config.getini(name)
    except (ValueError, KeyError):
        return None
    return str(value) if value else None


def find_url(config: Any, environ: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """The staging URL and where it came from, or ``(None, "")`` when the run is inactive."""
    environ = os.environ if environ is None else environ
    # Given but empty ("--staging-url $UNSET", STAGING_URL=) is returned as "": the caller
    # makes it a usage error, never an inactive run.
    if config.getoption("staging_url", None) is not None:
        return config.getoption("staging_url"), "--staging-url"
    if ENV_URL in environ:
        return environ[ENV_URL], ENV_URL
    ini = _ini(config, "staging_url")
    if ini:
        return ini, "ini staging_url"
    # pytest-base-url's --base-url (or PYTEST_BASE_URL), as typed: its ini value does not count.
    from pytest_staging.browser.glue import explicit_base_url

    base = explicit_base_url(config)
    if base:
        return base, "--base-url"
    return None, ""


def _path_from_ini(config: Any, value: str) -> Path:
    inipath = getattr(config, "inipath", None)
    base = Path(inipath).parent if inipath else Path(config.rootpath)
    return (base / value).resolve()


def path_setting(config: Any, name: str, env: str,
                 environ: Mapping[str, str] | None = None) -> Path | None:
    """A path from option ``name``, else env ``env``, else ini ``name`` (relative to the ini
    file): the one precedence rule for every path setting."""
    environ = os.environ if environ is None else environ
    if config.getoption(name, None):
        return Path(config.getoption(name))
    if environ.get(env):
        return Path(environ[env])
    ini = _ini(config, name)
    return _path_from_ini(config, ini) if ini else None


def report_dir_of(config: Any, environ: Mapping[str, str] | None = None) -> Path:
    """Where the verdict goes; also used before settings resolve (a usage error must replace
    the verdict in the same folder a good run would write it to)."""
    return path_setting(config, "staging_report_dir", ENV_REPORT_DIR, environ) or Path(
        DEFAULT_REPORT_DIR)


#: Environment variables of an active run that must not be set to an empty value.
SAFETY_ENV = (ENV_POLICY, ENV_REPORT_DIR, ENV_EXPECT_VERSION)


def empty_values(config: Any, environ: Mapping[str, str]) -> list[str]:
    """Staging options and variables given with an empty value: in CI that is an unset
    variable (``--staging-expect-version "$VERSION"``), and must never mean "off"."""
    found = []
    for name, value in sorted(vars(config.option).items()):
        if not name.startswith("staging_"):
            continue
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            found.append("--" + name.replace("_", "-"))
    found += [name for name in SAFETY_ENV if name in environ and not environ[name].strip()]
    return found
def _with_contract(config: Any, policy: Policy) -> Policy:
    """``--staging-openapi`` / ``--staging-contract-seed`` over ``[contract]``; a configured
    schema adds the ``contract`` gate. An empty ``--staging-openapi`` is a usage error."""
    openapi = config.getoption("staging_openapi", None)
    if openapi is not None:
        openapi = str(openapi).strip()
        if not openapi:
            raise SettingsError("--staging-openapi: empty value (give a path on the target "
                                "like /openapi.json, a URL or a file)")
        if not openapi.startswith("/") and "://" not in openapi:
            # A file named on the command line is relative to where pytest was started.
            invocation = getattr(config, "invocation_params", None)
            base = Path(invocation.dir) if invocation is not None else Path.cwd()
            openapi = (base / openapi).resolve().as_uri()
    policy = policy.with_overrides({"contract.schema": openapi,
                                    "contract.seed": config.getoption("staging_contract_seed",
                                                                      None)})
    if not policy.get("contract.schema"):
        return policy
    return policy.with_gate(
        "contract", description="the deployed API conforms to its OpenAPI document")


def resolve(config: Any, url: str, url_source: str,
            environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting of an active run. Raises SettingsError or PolicyError."""
    environ = os.environ if environ is None else environ
    opt = config.getoption
    empty = empty_values(config, environ)
    if empty:
        raise SettingsError(f"{', '.join(empty)} given an empty value (an unset variable?): "
                            "give a value, or leave the option out")

    policy_file = path_setting(config, "staging_policy", ENV_POLICY, environ)
    policy = load_policy(policy_file, config.rootpath)
    policy = policy.with_overrides({
        "target.wait": opt("staging_wait", None),
        "target.timeout": opt("staging_timeout", None),
        "flaky.retries": opt("staging_retries", None),
    })

    # The parity gate exists only with a compare URL; its credentials are secrets of the run.
    from pytest_staging.gates.parity.settings import ParityConfigError, configure

    try:
        policy, compare_secrets = configure(policy, opt, environ, url)
    except ParityConfigError as exc:
        raise SettingsError(str(exc)) from None
    policy = _with_contract(config, policy)

    report_dir = report_dir_of(config, environ)

    selected: list[str] = []
    for raw in opt("staging_gate", None) or []:
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
    for raw in opt("staging_header", None) or []:
        name, value, found = expand_header(raw, environ)
        headers[name] = value
        secrets |= found

    secrets |= compare_secrets
    # The verdict signing key is a secret like any other: masked wherever it could show.
    secrets.add(environ.get(opt("staging_key_env", None) or "STAGING_VERDICT_KEY", ""))
    # So is an Ed25519 private key given in the environment (every textual form of it).
    if environ.get("STAGING_SIGNING_KEY", "").strip():
        from pytest_staging.attestation import secret_forms

        secrets |= secret_forms(environ["STAGING_SIGNING_KEY"].encode("utf-8", "replace"))
    secrets.discard("")

    insecure = bool(opt("staging_insecure", False))
    ca_bundle = opt("staging_ca_bundle", None)
    verify: bool | str = True
    if insecure:
        verify = False
    elif ca_bundle:
        if not Path(ca_bundle).is_file():
            raise SettingsError(f"--staging-ca-bundle {ca_bundle}: file not found")
        verify = str(Path(ca_bundle).resolve())

    expect = opt("staging_expect_version", None)
    if expect is None:
        expect = environ.get(ENV_EXPECT_VERSION)
    base_url, params = normalise_url(url)
    return Settings(
        url=base_url,
        params=params,
        url_source=url_source,
        policy=policy,
        report_dir=report_dir,
        gates_selected=tuple(selected or policy.gates),
        expect_version=expect,
        headers=headers,
        verify=verify,
        insecure=insecure,
        allow_destructive=bool(opt("staging_allow_destructive", False)),
        secrets=frozenset(secrets),
        fail_on=str(opt("staging_fail_on", None) or "error"),
    )


__all__ = ["NO_URL", "PolicyError", "Settings", "SettingsError", "find_url", "resolve"]
