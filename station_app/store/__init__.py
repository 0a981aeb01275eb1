"""Persistence: SQLAlchemy models, engine/session setup, migrations, repositories."""
