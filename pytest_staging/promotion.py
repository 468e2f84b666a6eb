"""Promotion glue on the controller: verdict.html, the verdict signature, JUnit properties
(the per-test flaky property is set by ``items.ItemHooks``). The logic lives in signing,
reports.html and reports.junit."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from typing import Any

import pytest

from pytest_staging.reports.json_report import render_json
from pytest_staging.signing import DEFAULT_KEY_ENV, signed


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
    return config.getoption("staging_key_env", None) or DEFAULT_KEY_ENV


def signing_key(config: pytest.Config, environ: Mapping[str, str] | None = None) -> str | None:
    """The signing key, or None when no key is set."""
    env = os.environ if environ is None else environ
    return env.get(key_env_name(config)) or None


def usage_problem(config: pytest.Config, settings: Any) -> str:
    """A setting this module cannot honour, as a usage error line ("" when all is well)."""
    named = config.getoption("staging_key_env", None)
    if named and not os.environ.get(named):
        return f"--staging-key-env {named}: the variable is not set or empty"
    retries = settings.policy["flaky.retries"]
    if retries and not config.pluginmanager.hasplugin("rerunfailures"):
        return (f"flaky.retries = {retries} needs pytest-rerunfailures (installed and not "
                "disabled with -p no:rerunfailures)")
    return ""


def nogo(verdict: dict[str, Any], reason: str) -> None:
    """Turn ``verdict`` into a NO-GO with one more reason."""
    verdict["verdict"] = "NO-GO"
    verdict.setdefault("reasons", []).append(reason)


def render_outputs(verdict: dict[str, Any], redact: Any, key: str | None
                   ) -> tuple[str, str | None]:
    """``(verdict.json text, verdict.html text or None)`` for the final verdict.

    With a key, the JSON is signed over exactly the content written (after redaction), and
    ``verdict["signature"]`` is set. A rendering or signing failure makes the verdict NO-GO.
    """
    html: str | None = None
    try:
        from pytest_staging.reports.html import render_html  # jinja2: only when writing

        html = render_html(verdict)
    except Exception as exc:
        nogo(verdict, f"cannot render verdict.html: {type(exc).__name__}: {exc}")
    text = redact(render_json(verdict))
    if key:
        try:
            data = signed(json.loads(text), key)
        except (TypeError, ValueError) as exc:
            nogo(verdict, f"cannot sign the verdict: {type(exc).__name__}")
            return redact(render_json(verdict)), html
        verdict["signature"] = data["signature"]
        text = render_json(data)
        if html is not None:
            html = render_html(verdict)  # now says "signed"
    return text, (redact(html) if html is not None else None)


class JunitHooks:
    """On the controller, with ``--junitxml``: the verdict onto the suite, after pytest's
    junitxml plugin has written the file."""

    def __init__(self, controller: Any, path: str) -> None:
        self.controller = controller
        self.path = path

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.annotate(session.config)

    def annotate(self, config: pytest.Config) -> None:
        """Put the verdict on the JUnit file (again, when a late fact changed the verdict)."""
        verdict = self.controller.verdict
        if verdict is None or not os.path.isfile(self.path):
            return
        try:
            from pytest_staging.reports.junit import annotate_junit

            annotate_junit(self.path, verdict)
        except Exception as exc:  # the verdict is already written; say so, never crash
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"pytest-staging: could not add the verdict to "
                                    f"{self.path}: {type(exc).__name__}: {exc}", red=True)


def register(config: pytest.Config, controller: Any) -> None:
    """Register the controller-side promotion hooks."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        config.pluginmanager.register(JunitHooks(controller, os.path.abspath(xmlpath)),
                                      "staging-junit")
