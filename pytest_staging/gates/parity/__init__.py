"""The parity gate: staging compared with production, read-only, before a promotion.

Plain functions over plain data live in ``rules``, ``settings``, ``shape``, ``compare`` and
``report``; the compare target's HTTP client in ``client``; the pytest glue in ``gate``.
"""
