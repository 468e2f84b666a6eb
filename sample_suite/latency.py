"""Latency sampling for the timed performance tests: sequential requests, nearest-rank p95."""

from __future__ import annotations

import math
import time

import requests

from sample_suite.expect import expect


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``q`` % of values at or below."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def timed_gets(client: requests.Session, path: str, count: int, budget_ms: float,
               q: float = 95) -> list[float]:
    """Latencies (ms) of up to ``count`` sequential GETs of ``path``, each expected to be 200.

    Stops early once more requests blew ``budget_ms`` than the ``q`` percentile allows: the
    budget is lost by then, and a degraded target should not be hammered for nothing.
    """
    allowed = count - math.ceil(q / 100 * count)
    latencies: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        expect(response, 200)
        if sum(1 for ms in latencies if ms > budget_ms) > allowed:
            break
    return latencies
