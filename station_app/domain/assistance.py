"""Moved to ``sync_protocol.domain.assistance`` (the county server computes with the same rules); this
name stays for the station's many callers."""

from sync_protocol.domain.assistance import *  # noqa: F401,F403
