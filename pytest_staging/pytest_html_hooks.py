"""pytest-html, when a team already uses it: the verdict in its report.

- the verdict banner and its reasons at the top of the report (``pytest_html_results_summary``);
- each failing test's last HTTP exchanges (already redacted) as an extra of that test;
- with ``[evidence] trace_url``, a "trace" link of each test to its backend trace;
- target, expected / observed version and verdict in the environment table (pytest-metadata);
  its "Base URL" row (pytest-base-url's, empty or the raw ``--base-url`` otherwise) is the
  staging URL the run used, credentials and secret query values redacted.

Registered only when pytest-html is active (``-p no:html`` keeps working), and every pytest-html
hook is an ``optionalhook``. Everything written into pytest-html's page goes through
``html.escape``: reasons and evidence carry text from the target.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_staging.redact import strip_credentials
from pytest_staging.reports.summary import verdict_label

if TYPE_CHECKING:
    from pytest_staging.settings import Settings

#: The verdict's colours, the same as verdict.html's banner.
COLOURS = {"GO": ("#0f5132", "#d1e7dd"), "NO-GO": ("#842029", "#f8d7da")}


def active(config: pytest.Config) -> bool:
    """Whether pytest-html will write a report in this run."""
    return config.pluginmanager.hasplugin("html") and bool(getattr(config.option, "htmlpath",
                                                                   None))


def _metadata(config: pytest.Config) -> dict[str, Any] | None:
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return None
    return config.stash.get(metadata_key, None)


#: pytest-base-url's key in pytest-metadata (the Environment table of pytest-html).
BASE_URL_KEY = "Base URL"


def shown_base_url(settings: Settings) -> str:
    """The staging URL as the reports may show it: no userinfo, secret query values masked."""
    return strip_credentials(settings.redactor().url(settings.full_url))


def fill_base_url(config: pytest.Config, settings: Settings) -> None:
    """pytest-metadata's "Base URL" is the staging URL of the run: pytest-base-url sets it at
    configure from ``--base-url`` or its ini value (empty when the staging URL came from
    ``--staging-url``, the raw value with credentials when it came from ``--base-url``)."""
    metadata = _metadata(config)
    if metadata is not None:
        metadata[BASE_URL_KEY] = shown_base_url(settings)


def banner(verdict: dict[str, Any]) -> str:
    """The verdict as an HTML fragment: the word, the target, one line per reason."""
    word = "GO" if verdict.get("verdict") == "GO" else "NO-GO"
    fg, bg = COLOURS[word]
    target = verdict.get("target") or {}
    observed = (target.get("observed_version") or {}).get("end") or (
        target.get("observed_version") or {}).get("start")
    facts = [f"target {target.get('url') or '-'}"]
    if observed:
        facts.append(f"version {observed}")
    reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in verdict.get("reasons") or [])
    warnings = "".join(f"<li>{html.escape(str(w))}</li>" for w in verdict.get("warnings") or [])
    parts = [
        f'<div id="staging-verdict" style="border:2px solid {fg};background:{bg};color:{fg};'
        'padding:12px 16px;margin:12px 0;border-radius:6px">',
        f'<div style="font-size:28px;font-weight:800">staging verdict: '
        f'{html.escape(verdict_label(verdict))}</div>',
        f"<div>{html.escape(' · '.join(facts))}</div>",
    ]
    if reasons:
        parts.append(f"<div><b>Why NO-GO</b></div><ul>{reasons}</ul>")
    if warnings:
        parts.append(f'<div><b>Warnings</b></div><ul style="color:#664d03">{warnings}</ul>')
    parts.append("</div>")
    return "".join(parts)


class EvidenceExtras:
    """On the process that runs the tests: a failing test's HTTP evidence as a pytest-html
    extra, and with ``[evidence] trace_url`` a link to the test's trace. Wraps outside the
    core's report hook, which has put the (redacted) evidence on the report by the time this
    resumes."""

    def __init__(self, trace_url: str = "") -> None:
        self.trace_url = trace_url

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Iterator[None]:
        report: pytest.TestReport = yield
        if self.trace_url and (report.when == "call" or (report.failed
                                                         and report.when == "setup")):
            self.add_trace_link(item, report)
        if not report.failed:
            return report  # type: ignore[return-value]
        from pytest_staging.wire import payload_of

        payload = payload_of(report)
        evidence = payload.evidence if payload is not None else None
        if evidence:
            from pytest_html import extras

            text = json.dumps(evidence, indent=2, default=str)
            report.extras = [*getattr(report, "extras", []),  # type: ignore[attr-defined]
                             extras.text(text, name="staging: last HTTP exchanges")]
        return report  # type: ignore[return-value]

    def add_trace_link(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """Once per test (its call, or the setup that failed before it)."""
        from pytest_staging.trace_context import trace_link
        from pytest_staging.trace_glue import trace_id_for

        link = trace_link(self.trace_url, trace_id_for(item.config, item.nodeid))
        if link:
            from pytest_html import extras

            # pytest-html puts a url extra's content into href="..." as it is: escaped here.
            report.extras = [*getattr(report, "extras", []),  # type: ignore[attr-defined]
                             extras.url(html.escape(link, quote=True), name="trace")]


class HtmlVerdict:
    """On the controller: the verdict into pytest-html's summary and environment table."""

    def __init__(self, controller: Any) -> None:
        self.controller = controller

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        verdict = self.controller.verdict
        if verdict is None:
            verdict = {"verdict": "NO-GO", "reasons": ["no verdict was reached"],
                       "target": {"url": self.controller.target.url}}
        redact = self.controller.redactor.text
        prefix.insert(0, redact(banner(verdict)))
        metadata = _metadata(session.config)
        if metadata is not None:
            # Again here, just before the table is written: whichever plugin configured last.
            fill_base_url(session.config, self.controller.settings)
            # pytest-html shows this very dict as its environment table, written after this.
            target = verdict.get("target") or {}
            observed = target.get("observed_version") or {}
            metadata["Staging target"] = str(target.get("url") or self.controller.target.url)
            expected = self.controller.settings.expect_version
            if expected is not None:
                metadata["Staging expected version"] = expected
            metadata["Staging verdict"] = verdict_label(verdict)
            if observed.get("start") or observed.get("end"):
                metadata["Staging observed version"] = str(observed.get("end")
                                                           or observed.get("start"))


def register_test_process(config: pytest.Config) -> None:
    """Where tests run (serial run or xdist worker), when pytest-html writes a report (its
    options reach the workers too): a run without ``--html`` pays no report hook for it."""
    if active(config):
        from pytest_staging.settings import active_settings

        trace_url = active_settings(config).policy["evidence.trace_url"]
        config.pluginmanager.register(EvidenceExtras(trace_url), "staging-html-extras")


def register_controller(config: pytest.Config, controller: Any) -> None:
    fill_base_url(config, controller.settings)
    if not active(config):
        return
    config.pluginmanager.register(HtmlVerdict(controller), "staging-html-verdict")
