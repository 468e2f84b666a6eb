"""The contract gate: the deployed API conforms to its OpenAPI document, checked with
Schemathesis, read-only by default, budgeted and rate-limited (docs/contract-gate.md).

``settings`` (policy keys), ``session`` (the guarded session), ``runner`` (schema loading and
one operation's run) and ``report`` are plain modules with no pytest import; ``gate`` is the
pytest glue. Schemathesis is imported only in a run where a schema is configured.
"""
