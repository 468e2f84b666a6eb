"""A part of the OpenAPI document Schemathesis rejects, said so that it can be fixed: which
parameter (or the request body) of which operation, the definition, and where it is in the
document as a JSON pointer. Plain functions over the document's data, no pytest import.

Schemathesis' own message (``RejectedSchemaDefinition: Invalid `type` definition``, then
"Location: properties -> limit -> type" and the definition on later lines) names the place
inside the schema it generated from, where every parameter of a location is a property of one
object: its first line alone says nothing a reader can act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pytest_staging.printable import first_line, one_line

_LOCATION = re.compile(r"^Location:\s*\n\s+(?P<where>.+)$", re.MULTILINE)
_DEFINITION = re.compile(r"^Problematic definition:\s*\n(?P<what>(?:\s{4}.*\n?)+)", re.MULTILINE)
_DETAILS = re.compile(r"^Error details:\s*\n\s+(?P<why>.+)$", re.MULTILINE)
_MISSING = object()


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolve(document: Any, node: Any, pointer: str) -> tuple[Any, str]:
    """A local ``$ref`` followed (a few times at most), with the pointer it leads to."""
    for _ in range(8):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)
                and node["$ref"].startswith("#/")):
            break
        pointer = node["$ref"]
        node = document
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                return _MISSING, pointer
            node = node[part]
    return node, pointer


def _walk(document: Any, node: Any, pointer: str, tokens: list[str]) -> tuple[Any, str]:
    node, pointer = _resolve(document, node, pointer)
    for token in tokens:
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, Mapping) and token in node:
            node = node[token]
        else:
            return _MISSING, pointer
        pointer = f"{pointer}/{_escape(token)}"
        if token != tokens[-1] or isinstance(node, Mapping):
            node, pointer = _resolve(document, node, pointer)
    return node, pointer


def _candidates(document: Mapping[str, Any], path: str, method: str
                ) -> Iterator[tuple[str, Any, str]]:
    """(what, schema, pointer) of every parameter and request body of an operation."""
    item_pointer = f"#/paths/{_escape(path)}"
    item, item_pointer = _resolve(document, (document.get("paths") or {}).get(path),
                                  item_pointer)
    if not isinstance(item, Mapping):
        return
    operation = item.get(method)
    op_pointer = f"{item_pointer}/{method}"
    if not isinstance(operation, Mapping):
        return
    for owner, owner_pointer in ((operation, op_pointer), (item, item_pointer)):
        for index, raw in enumerate(owner.get("parameters") or []):
            parameter, pointer = _resolve(document, raw, f"{owner_pointer}/parameters/{index}")
            if isinstance(parameter, Mapping) and "name" in parameter:
                where = f"parameter '{parameter['name']}' ({parameter.get('in', '?')})"
                yield where, parameter, pointer
    body, body_pointer = _resolve(document, operation.get("requestBody"),
                                  f"{op_pointer}/requestBody")
    if isinstance(body, Mapping):
        for media, content in (body.get("content") or {}).items():
            if isinstance(content, Mapping) and "schema" in content:
                yield (f"request body ({media})", content,
                       f"{body_pointer}/content/{_escape(str(media))}")


def describe_rejection(message: str, document: Mapping[str, Any] | None, path: str,
                       method: str) -> str:
    """One line for a schema Schemathesis rejects: ``parameter 'limit' (query): schema
    rejected: Invalid `type` definition "integr" at
    #/paths/~1api~1products/get/parameters/0/schema/type``."""
    title = first_line(message) or "the schema is rejected"
    location = _LOCATION.search(message)
    definition = _DEFINITION.search(message)
    shown = one_line(" ".join(definition.group("what").split()), 120) if definition else ""
    detail = _DETAILS.search(message)
    details = "" if detail is None or "doesn't match any of the expected" in detail.group(
        "why") else f" ({one_line(detail.group('why'), 160)})"
    if location is None:
        return one_line(f"schema rejected: {title}" + (f" {shown}" if shown else "") + details,
                        None)
    tokens = [t.strip() for t in location.group("where").split("->")]
    try:
        wanted = json.loads(definition.group("what")) if definition else _MISSING
    except ValueError:
        wanted = _MISSING
    for what, holder, pointer in _candidates(document or {}, path, method.lower()):
        if what.startswith("parameter"):
            # Parameters of one location are properties of one generated object.
            if len(tokens) < 2 or tokens[0] != "properties" or \
                    f"'{tokens[1]}'" not in what:
                continue
            rest = ["schema", *tokens[2:]]
        else:
            rest = ["schema", *tokens]
        found, at = _walk(document, holder, pointer, rest)
        if found is not _MISSING and (wanted is _MISSING or found == wanted):
            return one_line(f"{what}: schema rejected: {title} {shown} at {at}{details}", None)
    return one_line(f"schema rejected: {title} {shown} (at {' -> '.join(tokens)}){details}",
                    None)


__all__ = ["describe_rejection"]
