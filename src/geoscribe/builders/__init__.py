"""geoscribe.builders."""
