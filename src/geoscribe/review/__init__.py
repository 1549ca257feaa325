"""geoscribe.review."""
