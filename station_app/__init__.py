"""Village medical-insurance (医保) service-station app."""

from sync_protocol import __version__  # one version for the whole wheel

__all__ = ["__version__"]
