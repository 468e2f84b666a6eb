"""Score and letter grade in the spirit of the Mozilla HTTP Observatory.

The score starts at 100; every passive HTTP finding whose level is not ``ignore`` subtracts its
rule's penalty once per rule id (a missing header reported on three URLs costs once); the score
never goes below 0. bandit findings are about source code, not the deployed site, and do not
count. The letter scale is the Observatory's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pytest_staging.gates.security.rules import RULES

#: (lowest score, grade), best first: the HTTP Observatory's scale.
GRADE_SCALE: tuple[tuple[int, str], ...] = (
    (100, "A+"), (90, "A"), (85, "A-"), (80, "B+"), (70, "B"), (65, "B-"), (60, "C+"),
    (50, "C"), (45, "C-"), (40, "D+"), (30, "D"), (25, "D-"), (0, "F"),
)
GRADES: tuple[str, ...] = tuple(g for _, g in GRADE_SCALE)


def score(findings: Iterable[Mapping[str, Any]]) -> int:
    """100 minus the penalties of the distinct rules found (ignored findings excluded), >= 0."""
    rules = {str(f.get("rule")) for f in findings if f.get("level") != "ignore"}
    return max(0, 100 - sum(RULES[r].penalty for r in rules if r in RULES))


def letter(points: int) -> str:
    """The letter grade of a score."""
    for low, grade in GRADE_SCALE:
        if points >= low:
            return grade
    return "F"


def grade_problem(value: Any) -> str | None:
    """Validation for ``security.min_grade``: None if it is a grade, else what is expected."""
    if value in GRADES:
        return None
    return f"expected a grade, one of {', '.join(GRADES)}"


def meets(grade: str, min_grade: str | None) -> bool:
    """Whether ``grade`` is at least ``min_grade`` (no minimum: always)."""
    if not min_grade:
        return True
    return GRADES.index(grade) <= GRADES.index(min_grade)


def summarize(findings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """{"score": int, "grade": str} for a list of findings."""
    points = score(findings)
    return {"score": points, "grade": letter(points)}
