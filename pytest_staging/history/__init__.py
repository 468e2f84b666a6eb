"""Release history: an embedded SQLite store of finished runs (``store``), what a run learns
from it (``facts``: recent verdicts, new failures since the last GO, flaky tests), the
controller's glue (``glue``) and the trends page's data (``trends``).

Only the controller writes (once per run, one transaction); xdist workers only read (the
``last-go`` performance baseline). No pytest import in ``store``, ``facts`` and ``trends``.
"""
