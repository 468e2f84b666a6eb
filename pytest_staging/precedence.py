"""Every staging setting in one table, and the one precedence rule that reads them.

:data:`SETTINGS` names, for each setting, its option (argparse ``dest``), environment variable,
ini key and the policy key it overrides, with its default and kind. :func:`lookup` returns the
effective value and where it came from, always by the same rule:

    command line > environment > ini / policy > default

"Given" means given (``is not None``), never "truthy": ``--staging-load-processes 0`` is the
user's 0 and beats a policy's ``processes = 4``; an empty value is returned as given (the
callers turn it into a usage error, never "off"). A path from the ini file is relative to the
ini file; a path from the policy is relative to the policy file.

This is the only module that reads staging options (``config.getoption``) and ini keys; the
gates, ``settings.resolve()`` and ``--staging-show-settings`` all go through :func:`lookup`
(re-exported as ``settings.setting``). No import of the plugin's other modules here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLI, ENV, INI, POLICY, DEFAULT = "command line", "env", "ini", "policy", "default"
#: The kinds of value a setting holds; ``program`` is a path, or a bare name looked up on PATH.
KINDS = ("str", "path", "program", "int", "float", "bool", "list")


@dataclass(frozen=True)
class Setting:
    """One setting: where it may be given, its default and its kind."""

    name: str
    option: str | None = None
    env: str | None = None
    ini: str | None = None
    policy: str | None = None
    default: Any = None
    kind: str = "str"
    #: Given in the environment but empty is a usage error of an active run (a CI variable
    #: that is unset must never mean "off").
    env_must_not_be_empty: bool = False
    #: The value is a secret: shown as "set" / "not set", never as given.
    secret: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.option.replace("_", "-") if self.option else ""


SETTINGS: tuple[Setting, ...] = (
    Setting("url", "staging_url", env="STAGING_URL", ini="staging_url"),
    Setting("policy", "staging_policy", env="STAGING_POLICY", ini="staging_policy",
            kind="path", env_must_not_be_empty=True),
    Setting("report_dir", "staging_report_dir", env="STAGING_REPORT_DIR",
            ini="staging_report_dir", default="staging-report", kind="path",
            env_must_not_be_empty=True),
    Setting("expect_version", "staging_expect_version", env="STAGING_EXPECT_VERSION",
            env_must_not_be_empty=True),
    Setting("gates", "staging_gate", default=[], kind="list"),
    Setting("headers", "staging_header", default=[], kind="list"),
    Setting("public_headers", "staging_public_header", policy="target.public_headers",
            default=[], kind="list"),
    Setting("ca_bundle", "staging_ca_bundle", kind="path"),
    Setting("insecure", "staging_insecure", default=False, kind="bool"),
    Setting("allow_destructive", "staging_allow_destructive", default=False, kind="bool"),
    Setting("fail_on", "staging_fail_on", default="error"),
    Setting("wait", "staging_wait", policy="target.wait", kind="float"),
    Setting("timeout", "staging_timeout", policy="target.timeout", kind="float"),
    Setting("retries", "staging_retries", policy="flaky.retries", kind="int"),
    Setting("source", "staging_source", policy="security.bandit.source", default="",
            kind="path"),
    Setting("key_env", "staging_key_env", default="STAGING_VERDICT_KEY"),
    Setting("subject", "staging_subject", env="STAGING_SUBJECT"),
    Setting("run_id", "staging_run_id", env="STAGING_RUN_ID"),
    Setting("shard", "staging_shard", env="STAGING_SHARD", env_must_not_be_empty=True),
    Setting("shard_durations", "staging_shard_durations", kind="path"),
    # A key file on the command line, the PEM itself in the environment.
    Setting("signing_key", "staging_signing_key", env="STAGING_SIGNING_KEY", secret=True),
    Setting("compare_url", "staging_compare_url", policy="parity.url", default=""),
    Setting("compare_headers", "staging_compare_header", default=[], kind="list",
            secret=True),
    Setting("openapi", "staging_openapi", policy="contract.schema"),
    Setting("contract_seed", "staging_contract_seed", policy="contract.seed", kind="int"),
    Setting("load_processes", "staging_load_processes", policy="performance.processes",
            default=0, kind="int"),
    Setting("load_workers", "staging_load_workers", policy="performance.workers", default=0,
            kind="int"),
    Setting("load_master_bind", "staging_load_master_bind"),
    Setting("perf_baseline", "staging_perf_baseline", kind="path"),
    Setting("history", "staging_history", env="STAGING_HISTORY", ini="staging_history",
            policy="history.path", default="", kind="path", env_must_not_be_empty=True),
    Setting("load_progress", "staging_load_progress", default=5.0, kind="float"),
    Setting("browser_path", "staging_browser_path", env="STAGING_BROWSER_PATH",
            ini="staging_browser_path", kind="program"),
    # Its userinfo and query values are secrets (browser/ws_endpoint.py): shown masked.
    Setting("browser_ws", "staging_browser_ws", env="STAGING_BROWSER_WS",
            policy="browser.ws_endpoint", env_must_not_be_empty=True),
    Setting("show_settings", "staging_show_settings", default=False, kind="bool"),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
BY_OPTION: dict[str, Setting] = {s.option: s for s in SETTINGS if s.option}


@dataclass(frozen=True)
class Resolved:
    """A setting's effective value and where it came from."""

    setting: Setting
    value: Any
    #: One of CLI, ENV, INI, POLICY, DEFAULT.
    origin: str
    #: The ini file or the policy source the value came from, when it did.
    where: str = ""

    @property
    def given(self) -> bool:
        """Whether anything but the default decided the value."""
        return self.origin != DEFAULT

    @property
    def source(self) -> str:
        """Where the value came from, as ``--staging-show-settings`` prints it."""
        if self.origin == ENV:
            return f"env {self.setting.env}"
        if self.origin == INI:
            return f"ini {self.setting.ini} ({self.where})" if self.where \
                else f"ini {self.setting.ini}"
        if self.origin == POLICY:
            return f"policy ({self.where})"
        return self.origin

    @property
    def label(self) -> str:
        """Where the value came from, for a one-line message (``--staging-url``,
        ``STAGING_URL``, ``ini staging_url``, ``policy parity.url``, ``default``)."""
        return {CLI: self.setting.flag, ENV: str(self.setting.env),
                INI: f"ini {self.setting.ini}", POLICY: f"policy {self.setting.policy}"
                }.get(self.origin, DEFAULT)


def _option(config: Any, setting: Setting) -> Any:
    if not setting.option:
        return None
    value = config.getoption(setting.option, None)
    if setting.kind == "bool":
        return True if value else None  # a store_true flag is given only when set
    return value


def _ini(config: Any, name: str) -> str | None:
    try:
        value = config.getini(name)
    except (ValueError, KeyError, AttributeError):
        return None
    return str(value) if value else None


def _ini_base(config: Any) -> Path:
    inipath = getattr(config, "inipath", None)
    return Path(inipath).parent if inipath else Path(config.rootpath)


def policy_dir(policy_source: str, rootdir: Path) -> Path:
    """Directory that relative paths in the policy are relative to (the policy file's)."""
    name = policy_source.split(" [", 1)[0]
    path = Path(name)
    return path.resolve().parent if path.is_file() else rootdir


def lookup(config: Any, name: str, *, policy: Any = None,
           environ: Mapping[str, str] | None = None, skip_empty: bool = False) -> Resolved:
    """The value of setting ``name`` and where it came from: command line > environment >
    ini / policy > default. ``policy`` (a ``Policy``) is needed for settings that override a
    policy key. A path is returned as a string: as typed on the command line or in the
    environment (relative to where pytest started), absolute from the ini or the policy.
    ``skip_empty``: an empty value counts as not given (only to find where to write a usage
    error, before the settings are validated)."""
    setting = BY_NAME[name]
    if setting.policy and policy is None:
        # Without the policy its value would be silently skipped for the built-in default.
        raise TypeError(f"setting {name!r} overrides policy key {setting.policy}: pass policy=")
    environ = os.environ if environ is None else environ

    def usable(value: Any) -> bool:
        if value is None:
            return False
        return not (skip_empty and isinstance(value, str) and not value.strip())

    given = _option(config, setting)
    if usable(given):
        return Resolved(setting, given, CLI)
    if setting.env and usable(environ.get(setting.env)):
        return Resolved(setting, environ[setting.env], ENV)
    if setting.ini:
        ini = _ini(config, setting.ini)
        if ini:
            base = _ini_base(config)
            where = str(getattr(config, "inipath", "") or "")
            if setting.kind == "path":
                return Resolved(setting, str((base / ini).resolve()), INI, where)
            if setting.kind == "program":
                # A bare name ("chromium") is looked up on PATH; a path is relative to the ini.
                return Resolved(setting, str(base / ini) if os.sep in ini else ini, INI, where)
            return Resolved(setting, ini, INI, where)
    if setting.policy:
        value = policy.get(setting.policy)
        if setting.kind == "path" and isinstance(value, str) and value:
            value = str((policy_dir(policy.source, Path(config.rootpath)) / value).resolve())
        origin = POLICY if policy.is_set(setting.policy) else DEFAULT
        return Resolved(setting, value if value is not None else setting.default, origin,
                        policy.source if origin == POLICY else "")
    return Resolved(setting, setting.default, DEFAULT)


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
    found += [s.env for s in SETTINGS if s.env and s.env_must_not_be_empty
              and s.env in environ and not environ[s.env].strip()]
    return found


__all__ = ["BY_NAME", "BY_OPTION", "CLI", "DEFAULT", "ENV", "INI", "POLICY", "SETTINGS",
           "Resolved", "Setting", "empty_values", "lookup", "policy_dir"]
