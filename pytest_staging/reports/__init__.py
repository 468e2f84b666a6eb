"""Report writers: each takes a verdict dict (never a pytest Config) and returns or writes text."""
