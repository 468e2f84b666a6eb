"""pytest glue of provenance and attestations, on the controller of an active run.

- ``resolve(config)``: ``--staging-subject``, ``--staging-run-id`` and the Ed25519 signing key
  (``--staging-signing-key FILE``, else env ``STAGING_SIGNING_KEY`` holding the PEM). A key
  that was asked for and cannot be read or parsed, or an empty value, is a usage error (so a
  NO-GO), never an unsigned run.
- ``ProvenanceHooks``: records the collected test files.
- ``provenance(config, controller)``: the ``provenance`` object for ``RunFacts``.
- ``signing_key(config)``: the key ``verdict_outputs.render_reports`` signs the attestations
  with (a signing failure turns the verdict into a NO-GO before anything is written).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_staging import shard_hooks
from pytest_staging.attestation import (
    ENV_SIGNING_KEY,
    AttestationError,
    load_private_key,
    secret_forms,
)
from pytest_staging.precedence import CLI, ENV
from pytest_staging.provenance import collect, files_of_nodeids
from pytest_staging.settings import setting

#: A PEM key file bigger than this is not a key (and is not read whole into memory).
MAX_KEY_BYTES = 64 * 1024


class AttestSettingsError(ValueError):
    """A provenance or signing setting that cannot be used (one line, never the key)."""


@dataclass(frozen=True)
class AttestSettings:
    subject: str | None = None
    run_id: str | None = None
    #: The private key, loaded and checked at configure time; None when not signing.
    signing_key: Any = None
    key_source: str = ""
    #: Textual forms of the private key to mask in every output.
    secrets: frozenset[str] = frozenset()


STASH_KEY = pytest.StashKey[AttestSettings]()
FILES_KEY = pytest.StashKey[list[Path]]()


def _given(config: Any, name: str, environ: Mapping[str, str]) -> str | None:
    """CLI > env; an empty value of either is a usage error, never "off"."""
    found = setting(config, name, environ=environ)
    if not found.given:
        return None
    if not str(found.value).strip():
        where = f"${found.setting.env}" if found.origin == ENV else found.label
        raise AttestSettingsError(f"{where} is empty (unset variable in CI?): give a value or "
                                  "leave it out")
    return str(found.value).strip()


def read_key_file(path: str) -> bytes:
    """The bytes of a key file, or AttestSettingsError (one line, no content)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise AttestSettingsError(
            f"--staging-signing-key {path}: cannot read it ({exc.strerror or 'error'})") from None
    if len(data) > MAX_KEY_BYTES:
        raise AttestSettingsError(f"--staging-signing-key {path}: too large to be a key file")
    return data


def resolve(config: Any, environ: Mapping[str, str] | None = None) -> AttestSettings:
    """Provenance and signing settings of an active run; raises AttestSettingsError."""
    env = os.environ if environ is None else environ
    subject = _given(config, "subject", env)
    run_id = _given(config, "run_id", env)
    # A key file on the command line beats the PEM in the environment.
    signing = setting(config, "signing_key", environ=env)
    if signing.origin == CLI:
        key_file = str(signing.value)
        if not key_file.strip():
            raise AttestSettingsError("--staging-signing-key is empty: give the private key "
                                      "file or leave it out")
        pem, source = read_key_file(key_file), f"--staging-signing-key {key_file}"
    elif signing.origin == ENV:
        if not str(signing.value).strip():
            raise AttestSettingsError(f"${ENV_SIGNING_KEY} is set but empty (a missing CI "
                                      "secret?): unset it or give the PEM private key")
        pem, source = str(signing.value).encode("utf-8", "replace"), f"${ENV_SIGNING_KEY}"
    else:
        return AttestSettings(subject=subject, run_id=run_id)
    secrets = frozenset(secret_forms(pem))
    try:
        key = load_private_key(pem, source)
    except AttestationError as exc:
        raise AttestSettingsError(str(exc)) from None
    return AttestSettings(subject=subject, run_id=run_id, signing_key=key, key_source=source,
                          secrets=secrets)


class ProvenanceHooks:
    """Records the test files of the selected items (serial runs; under xdist the controller
    collects nothing and the node ids of the reports give the files)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # item.path is a Path already; items of one module share it.
        self.config.stash[FILES_KEY] = sorted({item.path for item in session.items})


def register(config: pytest.Config, controller: Any, settings: AttestSettings) -> None:
    """Stash the settings, mask the key everywhere, record collected files."""
    config.stash[STASH_KEY] = settings
    for secret in settings.secrets:
        controller.redactor.add(secret)
    config.pluginmanager.register(ProvenanceHooks(config), "staging-provenance")


def provenance(config: pytest.Config, controller: Any) -> dict[str, Any]:
    """The provenance object of this run ({} when the glue is not registered)."""
    settings = config.stash.get(STASH_KEY, None)
    if settings is None:
        return {}
    files = list(config.stash.get(FILES_KEY, []))
    # A shard digests the whole suite it collected, not its slice: every shard, one digest.
    nodeids = _nodeids(controller) | set(shard_hooks.collection_nodeids(config))
    files += [config.rootpath / f for f in files_of_nodeids(nodeids)]
    policy = controller.settings.policy
    target = controller.target
    data = collect(
        environ=os.environ, rootdir=config.rootpath, test_files=files,
        policy_values=policy.values, policy_gates=policy.gates, policy_source=policy.source,
        versions={"pytest_staging": _version("pytest-staging"), "pytest": pytest.__version__,
                  "locust": _version("locust"), "bandit": _version("bandit")},
        subject=settings.subject, observed_version=target.version_start,
        url=target.url, run_id=settings.run_id)
    data["signed"] = settings.signing_key is not None
    return data


def _nodeids(controller: Any) -> set[str]:
    """Every node id the controller knows (selected at collection, or reported): under xdist
    the controller collects nothing itself, so these name the suite's files."""
    found = set(getattr(controller, "tests", None) or {})
    book = getattr(controller, "book", None)  # per-nodeid bookkeeping, where it exists
    found |= set(getattr(book, "tests", None) or {})
    return {n for n in found if isinstance(n, str)}


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def signing_key(config: pytest.Config) -> Any:
    """The Ed25519 private key of this run (None when it does not sign attestations)."""
    settings = config.stash.get(STASH_KEY, None)
    return settings.signing_key if settings is not None else None
