"""Sync: county server, protocol, client engine, bundles, conflicts."""
