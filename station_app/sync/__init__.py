"""Offline-first sync with the county server: protocol, client engine, USB bundles, conflicts."""
