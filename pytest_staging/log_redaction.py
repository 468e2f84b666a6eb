"""Live logs without secrets: ``--log-cli-level=DEBUG`` and ``--log-file`` print urllib3's
request lines (``"GET /api?api_key=... HTTP/1.1" 200``) as they happen, before any report is
redacted. A logging record factory masks every record's message (and its formatted exception)
at creation, on the controller and on each xdist worker, for the run only."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pytest_staging.redact import Redactor


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Format ``record`` now, masked; its args are dropped (they held the raw values)."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it later, with the args
        return
    record.msg, record.args = redactor.log_text(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redactor.log_text(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        record.exc_text = redactor.log_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.log_text(record.stack_info)


class LogRedaction:
    """Installs the masking record factory; ``pytest_unconfigure`` puts the old one back."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.previous = logging.getLogRecordFactory()
        previous = self.previous

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record, redactor)
            return record

        self.factory = factory
        logging.setLogRecordFactory(factory)

    def restore(self) -> None:
        if logging.getLogRecordFactory() is self.factory:
            logging.setLogRecordFactory(self.previous)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.restore()


def register(config: pytest.Config, redactor: Redactor) -> None:
    """Mask secrets in every log record of this run, when the run has secrets to mask."""
    if redactor.secrets:
        config.pluginmanager.register(LogRedaction(redactor), "staging-log-redaction")
