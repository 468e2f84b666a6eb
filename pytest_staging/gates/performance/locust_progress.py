"""Loaded *by locust* (``-f locustfile,this``), never imported by pytest-staging itself.

Locust flushes its ``_stats_history.csv`` every 5 s; flushing every second lets the pytest side
show a live progress line on shorter runs.
"""

import locust.stats

locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1
