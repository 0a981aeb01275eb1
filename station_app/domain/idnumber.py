"""Moved to ``sync_protocol.domain.idnumber`` (the county server computes with the same rules); this
name stays for the station's many callers."""

from sync_protocol.domain.idnumber import *  # noqa: F401,F403
