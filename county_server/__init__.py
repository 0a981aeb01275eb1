"""County sync server: stations push their changes and pull their villages' rows (FastAPI)."""

__all__ = ["__version__"]

from sync_protocol import __version__  # one version for the whole wheel
