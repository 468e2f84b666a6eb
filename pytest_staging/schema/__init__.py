"""The verdict JSON Schema shipped with the package."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def verdict_schema() -> dict[str, Any]:
    """The JSON Schema of verdict.json (draft 2020-12)."""
    text = files(__package__).joinpath("verdict.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validation_errors(verdict: Any) -> list[str]:
    """Every way ``verdict`` breaks the schema, as short lines (empty when valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(verdict_schema())
    errors = []
    for error in sorted(validator.iter_errors(verdict), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in error.path) or "(top)"
        errors.append(f"{where}: {error.message}")
    return errors
