"""geoscribe.checks."""
