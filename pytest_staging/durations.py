"""Time spans and rates as users write them: the one parser of ``90``, ``30s``, ``2m``,
``1h30m``, ``1d`` (``verify --max-age``, the performance gate's ``run_time``) and of ``20/s``,
``600/m`` (the contract gate's ``rate``). Plain functions over text; no pytest import.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from datetime import timedelta

#: Seconds per unit of a span (``1h30m``) and of a rate (``600/min``).
UNIT_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
               "h": 3600.0, "hour": 3600.0}

_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})([wdhms])")
_SPAN = re.compile(rf"(?:{_NUMBER}[wdhms])+")
_RATE = re.compile(rf"({_NUMBER})\s*/\s*({'|'.join(_RATE_UNITS)})")

SPAN_HELP = "use seconds or e.g. 90s, 30m, 2h, 1h30m, 1d"


def parse_seconds(value: str | int | float) -> float:
    """Seconds in ``value``: a number (seconds), ``"90"``, ``"30s"``, ``"2m"``, ``"1h30m"``,
    ``"1d"``, ``"1w"`` (units case-insensitive, no space inside, as Locust's ``--run-time``).
    Raises ValueError on anything else: a bool, a sign, a bare number after a unit
    (``"1h30"``: 30 seconds or minutes?), NaN or infinity. Zero is a value; callers that
    need more say so."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r} ({SPAN_HELP})")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if re.fullmatch(_NUMBER, text):
            seconds = float(text)
        elif _SPAN.fullmatch(text):
            seconds = sum(float(n) * UNIT_SECONDS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"invalid duration {str(value)[:40]!r} ({SPAN_HELP})")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {str(value)[:40]!r} ({SPAN_HELP})")
    return seconds


def seconds_option(low: float) -> Callable[[str], float]:
    """An argparse/pytest option type: seconds (``5``, ``2.5``, ``30s``, ``2m``) of at least
    ``low``; anything else is a usage error (``-5`` is not "off", ``inf`` is not "forever")."""

    def parse(text: str) -> float:
        try:
            value = parse_seconds(text)
        except ValueError:
            value = -math.inf
        if not value >= low:
            raise argparse.ArgumentTypeError(f"expected seconds >= {low:g}, got {text!r}")
        return value

    return parse


def parse_duration(value: str | int | float) -> timedelta:
    """:func:`parse_seconds` as a timedelta (ValueError also when it is too large for one)."""
    seconds = parse_seconds(value)
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise ValueError(f"duration {str(value)[:40]!r} is too large") from None


def format_duration(delta: timedelta) -> str:
    """A timedelta compactly, its two largest units: ``2d 3h``, ``5m 12s``, ``40s``."""
    total = int(abs(delta.total_seconds()))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def parse_rate(text: str) -> float:
    """``"20/s"``, ``"600/m"``, ``"1000/h"`` -> events per second (ValueError otherwise)."""
    match = _RATE.fullmatch(str(text).strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"expected a rate like '20/s', '600/m' or '1000/h', got {text!r}")
    return float(match.group(1)) / _RATE_UNITS[match.group(2)]
