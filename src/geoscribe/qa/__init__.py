"""geoscribe.qa."""
