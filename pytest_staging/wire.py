"""What travels from the process that runs a test to the controller: one typed payload per
report, carried through pytest's own report serialization hooks (xdist uses them), builtins
only on the wire.

The payload lives on the report as one attribute, ``report.staging``; on the wire it is one key
of the serialized report, added by ``pytest_report_to_serializable`` and taken out again by
``pytest_report_from_serializable``, so nothing depends on which attributes pytest happens to
copy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

#: The report attribute, and the key in a serialized report.
ATTR = "staging"


@dataclass(slots=True)  # one per report, kept as long as the report: no __dict__ each
class ReportPayload:
    """Our facts about one report: the test's gate, whether it blocks, what it recorded."""

    gate: str = ""
    blocking: bool = True
    destructive: bool = False
    #: Gate data recorded with ``record()``: findings, metrics, checks, warnings.
    data: dict[str, Any] = field(default_factory=dict)
    #: The last HTTP exchanges of a failing test, redacted.
    evidence: list[dict[str, Any]] = field(default_factory=list)
    #: Our own machinery failed while annotating the report (the controller says NO-GO).
    plugin_error: str = ""
    #: The failure's reason line when the exception's own first line would cut its cause off
    #: (a request that got no answer: method, URL and cause in words), redacted; "" otherwise.
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportPayload:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def payload_of(report: Any) -> ReportPayload | None:
    """The payload a report carries (None for reports of processes without the plugin)."""
    value = getattr(report, ATTR, None)
    if value is None:  # most reports on their way in: skip the Mapping (ABC) check
        return None
    if type(value) is ReportPayload or isinstance(value, ReportPayload):
        return value
    if isinstance(value, Mapping):
        return ReportPayload.from_dict(value)
    return None


def attach(report: Any, payload: ReportPayload) -> None:
    setattr(report, ATTR, payload)


def ensure_payload(report: Any) -> ReportPayload:
    """The report's payload, attached first if it has none yet (hook order varies)."""
    payload = payload_of(report)
    if payload is None:
        payload = ReportPayload()
        attach(report, payload)
    return payload


class WireHooks:
    """Registered on every process of an active run (controller, workers)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(self, config: pytest.Config, report: Any
                                      ) -> Iterator[None]:
        data = yield
        payload = payload_of(report)
        if isinstance(data, dict):
            data.pop(ATTR, None)
            if payload is not None:
                data[ATTR] = payload.to_dict()
        return data  # type: ignore[return-value]

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(self, config: pytest.Config, data: dict[str, Any]
                                        ) -> Iterator[None]:
        raw = data.pop(ATTR, None) if isinstance(data, dict) else None
        report = yield
        if report is not None and isinstance(raw, Mapping):
            attach(report, ReportPayload.from_dict(raw))
        return report  # type: ignore[return-value]
