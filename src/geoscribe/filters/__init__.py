"""geoscribe.filters."""
