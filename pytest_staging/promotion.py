"""Options of promotion: ``--staging-retries``, the signing key's variable
(``--staging-key-env``) and the key itself, and the usage errors they can make. The outputs
are rendered and signed in ``verdict_outputs``; the JUnit hooks are in ``junit_hooks``."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

from pytest_staging.precedence import CLI
from pytest_staging.settings import setting, verdict_key

if TYPE_CHECKING:
    from pytest_staging.settings import Settings


def retries_count(text: str) -> int:
    """``--staging-retries`` value: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def key_env_name(config: pytest.Config) -> str:
    """Name of the env var holding the signing key (``--staging-key-env``, else the default)."""
    return verdict_key(config)[1]


def signing_key(config: pytest.Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The signing key, or None when no key is set."""
    return verdict_key(config, environ)[0]


def usage_problem(config: pytest.Config, settings: Settings) -> str:
    """A setting this module cannot honour, as a usage error line ("" when all is well)."""
    key, name = verdict_key(config)
    if setting(config, "key_env").origin == CLI and not key:
        return f"--staging-key-env {name}: the variable is not set or empty"
    retries = settings.policy["flaky.retries"]
    if retries and not config.pluginmanager.hasplugin("rerunfailures"):
        return (f"flaky.retries = {retries} needs pytest-rerunfailures (installed and not "
                "disabled with -p no:rerunfailures)")
    return ""
