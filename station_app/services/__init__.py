"""Use cases. Every write goes through here and records audit + sync in the same transaction."""
