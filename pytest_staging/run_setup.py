"""What an active run resolves before it starts, and the usage errors it stops on, in the order
it finds them: one sequence, called by ``plugin.pytest_configure`` for the run and by
``--staging-show-settings`` to show what that run would use (and fail where it would fail).

1. :func:`url_problem`: a path option in the space-separated form that moved the rootdir
   (``option_paths``), an empty staging URL;
2. :func:`resolve_settings`: ``settings.resolve()`` (policy, headers, gates, parity, contract);
3. :func:`run_problem`: what the promotion, history, browser, contract and attestation glue
   cannot honour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_staging import option_paths
from pytest_staging.policy import PolicyError
from pytest_staging.settings import Settings, SettingsError, find_url, resolve, setting

if TYPE_CHECKING:
    from pytest_staging.attestation_glue import AttestSettings


#: pytest's modes that run no test, by option attribute: an active run in one of them judged
#: nothing, so it exits 3 (could not judge), never 0 beside its NO-GO placeholder. --help,
#: --version and --staging-show-settings print about pytest and the plugin and keep 0.
NO_TEST_MODES = (("collectonly", "--collect-only"), ("showfixtures", "--fixtures"),
                 ("show_fixtures_per_test", "--fixtures-per-test"), ("markers", "--markers"),
                 ("setuponly", "--setup-only"), ("setupplan", "--setup-plan"),
                 ("cacheshow", "--cache-show"))


def no_test_mode(config: Any) -> str:
    """The flag of the pytest mode that runs no test (``--collect-only``...), or ""."""
    option = config.option
    if getattr(option, "help", False) or getattr(option, "version", False) or setting(
            config, "show_settings").value:
        return ""
    for name, flag in NO_TEST_MODES:
        if getattr(option, name, False):
            return flag
    return ""


def url_problem(config: Any) -> tuple[str | None, str, str]:
    """``(url, where it came from, usage error line or "")`` before anything is resolved."""
    problem = option_paths.problem(config)
    url, source = find_url(config)
    if problem:
        return url, source, problem
    if url is not None and not url.strip():
        # An unset variable in CI ("--staging-url $URL") must not switch the gate off.
        return url, source, (f"the staging URL from {source} is empty (an unset variable?): "
                             "give a URL, or remove the option to run without the gate")
    return url, source, ""


def resolve_settings(config: Any, url: str, source: str) -> tuple[Settings | None, str]:
    """The run's settings, or the usage error line that stops it."""
    try:
        return resolve(config, url, source), ""
    except (PolicyError, SettingsError) as exc:
        return None, str(exc)


def run_problem(config: Any, settings: Settings) -> tuple[AttestSettings | None, str]:
    """The attestation settings, or the usage error of a run that would run tests (the
    ``--collect-only`` listing skips this step)."""
    from pytest_staging import attestation_glue, promotion
    from pytest_staging.browser import glue as browser_glue

    problem = (promotion.usage_problem(config, settings)
               or _history_problem(config, settings)
               or browser_glue.usage_problem(config, settings)
               or _contract_problem(config, settings))
    if problem:
        return None, problem
    try:
        return attestation_glue.resolve(config), ""
    except attestation_glue.AttestSettingsError as exc:
        return None, str(exc)


def _history_problem(config: Any, settings: Settings) -> str:
    if setting(config, "perf_baseline").value is None:
        return ""
    from pytest_staging.history.glue import usage_problem

    return usage_problem(config, settings)


def _contract_problem(config: Any, settings: Settings) -> str:
    if "contract" not in settings.gates_selected:
        return ""  # a gate that is not selected is not even imported
    from pytest_staging.gates.contract import gate

    return gate.usage_problem(config, settings)


__all__ = ["no_test_mode", "resolve_settings", "run_problem", "url_problem"]
