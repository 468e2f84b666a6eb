"""The shape of a JSON document: key paths and value types, never values.

``{"items": [{"id": 1, "tags": []}]}`` has the shape ``{"": {"object"}, "items": {"array"},
"items[]": {"object"}, "items[].id": {"number"}, "items[].tags": {"array"}}``. Integers and
floats are both ``number`` (which one a value is depends on the data, not on the API).
"""

from __future__ import annotations

from typing import Any

Shape = dict[str, set[str]]
#: Array elements looked at per array, and the most paths a shape keeps.
MAX_ITEMS = 50
MAX_PATHS = 5000
MAX_DEPTH = 16


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def shape_of(document: Any) -> Shape:
    """Every key path of ``document`` with the set of value types seen at it."""
    out: Shape = {}

    def walk(value: Any, path: str, depth: int) -> None:
        if len(out) >= MAX_PATHS:
            return
        out.setdefault(path, set()).add(type_name(value))
        if depth >= MAX_DEPTH:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key), depth + 1)
        elif isinstance(value, list):
            for item in value[:MAX_ITEMS]:
                walk(item, f"{path}[]", depth + 1)

    walk(document, "", 0)
    return out


def unknowable(path: str, shape: Shape) -> bool:
    """Whether ``shape`` cannot say anything about ``path``: an array on the way to it held no
    element (an empty list on staging hides its elements' fields, it does not remove them),
    or a value on the way was null."""
    parts = path.split("[]")
    for index in range(1, len(parts)):
        array = "[]".join(parts[:index])
        if array in shape and f"{array}[]" not in shape:
            return True
    head = path
    while "." in head or "[]" in head:
        head = head[: max(head.rfind("."), head.rfind("[]"))]
        if shape.get(head) == {"null"}:
            return True
    return False


def shown(types: set[str]) -> str:
    return "|".join(sorted(types))


def compare_shapes(production: Shape, staging: Shape
                   ) -> tuple[list[str], list[str], list[tuple[str, str, str]]]:
    """(removed paths, added paths, [(path, production types, staging types)] changed).

    A removed path whose parent is removed too is reported once, at the parent. A type change
    counts only when the types seen share nothing but null (a null here and a string there is
    the data, not the API)."""
    removed = [p for p in production if p not in staging and not unknowable(p, staging)]
    added = [p for p in staging if p not in production and not unknowable(p, production)]
    removed = _outermost(removed)
    added = _outermost(added)
    changed = []
    for path in production:
        if path in staging:
            p, s = production[path] - {"null"}, staging[path] - {"null"}
            if p and s and not p & s:
                changed.append((path, shown(production[path]), shown(staging[path])))
    return removed, added, changed


def _outermost(paths: list[str]) -> list[str]:
    chosen = set(paths)

    def parent(path: str) -> str | None:
        cut = max(path.rfind("."), path.rfind("[]"))
        return path[:cut] if cut > 0 else None

    out = []
    for path in sorted(paths):
        up = parent(path)
        while up is not None and up not in chosen:
            up = parent(up)
        if up is None:
            out.append(path)
    return out
