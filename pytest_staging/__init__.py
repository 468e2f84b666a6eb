"""pytest-staging: turn a staging environment into a release gate."""

__version__ = "0.1.0"

