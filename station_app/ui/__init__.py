"""PySide6 desktop UI: thin over the services; no SQL here."""
