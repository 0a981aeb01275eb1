"""Village medical-insurance (医保) service-station app."""

__version__ = "0.1.0"
