"""The county 医保局's web console, served by ``county-server serve`` at ``/console/``."""

from .routes import install

__all__ = ["install"]
