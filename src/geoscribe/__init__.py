"""geoscribe: build remote-sensing vision-language datasets from imagery and OpenStreetMap."""

__version__ = "0.2.2"
