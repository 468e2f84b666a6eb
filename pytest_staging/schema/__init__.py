"""The verdict JSON Schema shipped with the package: its id, the document, and how a verdict
is validated against it (by ``verify``, by the tests, by anyone with the package)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

#: The ``schema`` field of every verdict.json this package writes and accepts.
SCHEMA_ID = "pytest-staging/verdict@1"


@cache
def verdict_schema() -> dict[str, Any]:
    """The JSON Schema of verdict.json (draft 2020-12). Raises OSError or ValueError when the
    installed package's copy cannot be read."""
    text = files(__package__).joinpath("verdict.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _errors(verdict: Any, schema: dict[str, Any] | None) -> list[Any]:
    from jsonschema import Draft202012Validator, validators  # deferred: only checks need it

    schema = verdict_schema() if schema is None else schema
    cls = validators.validator_for(schema, default=Draft202012Validator)
    return list(cls(schema).iter_errors(verdict))


def _where(error: Any) -> str:
    return "/".join(str(p) for p in error.absolute_path)


def validation_errors(verdict: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every way ``verdict`` breaks the schema, as short lines (empty when valid)."""
    errors = sorted(_errors(verdict, schema), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_where(e) or '(top)'}: {e.message}" for e in errors]


def most_relevant_error(verdict: Any, schema: dict[str, Any] | None = None
                        ) -> tuple[str, str] | None:
    """``(where, message)`` of the error jsonschema judges most relevant, or None when
    ``verdict`` validates (``verify`` reports this one line)."""
    from jsonschema.exceptions import best_match

    error = best_match(_errors(verdict, schema))
    return None if error is None else (_where(error) or "(top level)", error.message)
