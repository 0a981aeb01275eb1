"""Moved to ``sync_protocol.domain.county_rules`` (the county server computes with the same rules); this
name stays for the station's many callers."""

from sync_protocol.domain.county_rules import *  # noqa: F401,F403
