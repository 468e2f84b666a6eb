"""verdict.json: the machine-readable verdict."""

from __future__ import annotations

import json
from typing import Any


def render_json(verdict: dict[str, Any]) -> str:
    """The verdict as stable, indented JSON text."""
    return json.dumps(verdict, indent=2, ensure_ascii=False, default=str) + "\n"
