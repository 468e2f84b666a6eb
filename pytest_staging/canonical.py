"""Canonical JSON: the one byte form of a value that signatures and digests are computed over
(sorted keys at every level, compact separators, ASCII only), so a writer and a checker agree
byte for byte whatever the indentation of the file on disk."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, is_dataclass
from typing import Any


def canonical_json(data: Any, *, strict: bool = False) -> bytes:
    """The canonical bytes of ``data``. ``strict`` (what an HMAC signature covers): JSON
    values only, ValueError on NaN or infinity, TypeError on anything else. Otherwise
    dataclasses, sets and paths are turned into JSON values first (digests of settings)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=not strict, default=None if strict else _plain)
    return text.encode("ascii")


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)
