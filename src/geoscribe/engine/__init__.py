"""geoscribe.engine."""
