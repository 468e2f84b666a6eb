"""The pytest-staging sample: a demo shop (``app.py``) and its acceptance suite (``test_*.py``)."""
