"""Browser journeys in the release gate: pytest-playwright's ``page`` tests against the
staging URL, with a system Chromium, the staging headers and TLS options, the destructive
guard on navigations, and redacted screenshots, console errors and traces as evidence.

``glue`` is imported on every run and stays light; ``fixtures`` (which imports Playwright) is
registered only in an active run where pytest-playwright is in use.
"""
