"""Dialogs opened from the pages (import roster, …); each talks to the services only."""
