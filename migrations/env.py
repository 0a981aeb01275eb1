"""Alembic environment for the station database.

The app passes its open connection in ``config.attributes["connection"]`` (migrate at
start); the ``alembic`` command line falls back to ``sqlalchemy.url``. Batch mode because
SQLite cannot ALTER most things in place.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from station_app.store import models  # noqa: F401  (registers every table on Base.metadata)
from station_app.store.base import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """The resident search index (station_app/services/search_index.py) is derived data kept by
    triggers and rebuildable at any time, not a model: leave its tables out of autogenerate."""
    if type_ == "table" and reflected and compare_to is None and name.startswith("resident_search"):
        return False
    return True


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        _configure_and_run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
