"""The [performance] policy key table."""

from __future__ import annotations

import pytest

from pytest_staging.gates.performance.settings import PERFORMANCE_KEYS, validate


def test_defaults_and_values() -> None:
    result = validate({"thresholds": ["p95 < 300ms"], "users": 20, "run_time": "1m"})
    assert result["thresholds"] == ["p95 < 300ms"]
    assert result["users"] == 20 and result["run_time"] == "1m"
    assert result["max_regression"] == [] and result["stop_timeout"] == 5
    assert set(result) == {k.path.removeprefix("performance.") for k in PERFORMANCE_KEYS}


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({"thresold": []}, "performance.thresold: unknown key"),
        ({"thresholds": "p95 < 1s"}, "performance.thresholds"),
        ({"thresholds": ["p95 < soon"]}, "'p95 < soon'"),
        ({"max_regression": ["p95 15%"]}, "'p95 15%'"),
        ({"users": 0}, "performance.users: expected a positive number"),
        ({"users": True}, "performance.users"),
        ({"run_time": "forever"}, "performance.run_time"),
    ],
)
def test_errors_name_the_key(section: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        validate(section)
    assert fragment in str(info.value)
