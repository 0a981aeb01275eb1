"""The server's own migrations: empty → head → base → head, and no drift from the models."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from county_server import db
from county_server.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'county.db'}"


def test_init_db_creates_every_table_and_is_idempotent(server_url):
    engine = db.make_engine(server_url)
    assert db.init_db(engine) == (None, db.head_revision())
    assert db.init_db(engine) == (db.head_revision(), db.head_revision())
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_match_migrations(server_url):
    engine = db.make_engine(server_url)
    db.upgrade(engine)
    with engine.begin() as connection:
        command.check(db.alembic_config(connection))
    engine.dispose()


def test_head_to_base_to_head(server_url):
    engine = db.make_engine(server_url)
    db.upgrade(engine)
    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_database_url_forms(monkeypatch, tmp_path):
    assert db.normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalize_url(str(tmp_path / "x.db")).startswith("sqlite:///")
    monkeypatch.setenv(db.DB_URL_ENV, "sqlite:////tmp/from-env.db")
    assert db.default_db_url() == "sqlite:////tmp/from-env.db"
    monkeypatch.delenv(db.DB_URL_ENV)
    monkeypatch.setenv(db.DATA_DIR_ENV, str(tmp_path))
    assert db.default_db_url() == f"sqlite:///{tmp_path / 'county.db'}"
