"""geoscribe.sources."""
