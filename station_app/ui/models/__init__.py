"""Qt table models: one per list, over services (never over the database directly)."""
