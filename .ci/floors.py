"""Print the floors the compatibility job (.ci/compat) installs, read from pyproject.toml.

Line 1: requires-python's floor (``3.10``); then one ``name==version`` line per floored
package of the pytest stack, each the ``>=`` bound of its dependency. A floor that cannot be
read is an error: the job must not quietly test something newer than what it claims.
Runs on the system Python (3.11+, for ``tomllib``), not on the interpreter under test.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

#: The packages whose lowest declared version the job installs: pytest and what hooks into it.
STACK = ("pytest", "pluggy", "pytest-xdist", "pytest-rerunfailures")


def floors(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    python = re.fullmatch(r">=\s*(\d+\.\d+)", str(project.get("requires-python", "")).strip())
    if python is None:
        raise SystemExit(f"{pyproject}: requires-python is not a plain '>=X.Y' floor")
    found: dict[str, str] = {}
    for dependency in project.get("dependencies", []):
        bound = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", dependency.strip())
        if bound is not None:
            found[bound.group(1).lower().replace("_", "-")] = bound.group(2)
    missing = [name for name in STACK if name not in found]
    if missing:
        raise SystemExit(f"{pyproject}: no plain '>=' floor for {', '.join(missing)}")
    return [python.group(1), *(f"{name}=={found[name]}" for name in STACK)]


if __name__ == "__main__":
    print("\n".join(floors(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
