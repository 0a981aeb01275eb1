"""The shared table description (sync_protocol.table_data, plain data the county server reads)
still says what the station's models say (issue 14.4)."""

from __future__ import annotations

from sqlalchemy import inspect

from station_app.store.models import MODEL_BY_TABLE
from station_app.sync.tables import describe_tables, table_data_source
from sync_protocol.table_data import TABLES
from sync_protocol.tables import SYNC_BOOKKEEPING_FIELDS, table_specs


def test_the_shared_description_matches_the_models():
    # On failure: run ``python -m station_app.sync.tables`` after a schema change.
    assert describe_tables() == TABLES


def test_the_file_is_what_the_generator_writes():
    from pathlib import Path

    import sync_protocol.table_data as module

    assert Path(module.__file__).read_text(encoding="utf-8") == table_data_source()


def test_every_model_column_is_described():
    specs = table_specs()
    assert set(specs) == set(MODEL_BY_TABLE)
    for name, model in MODEL_BY_TABLE.items():
        spec = specs[name]
        columns = {attr.key for attr in inspect(model).column_attrs}
        assert set(spec.columns) == columns
        assert set(spec.fields) == columns - SYNC_BOOKKEEPING_FIELDS - spec.local_fields
        assert spec.reference == bool(model.__reference__)
    assert specs["household"].fields["village_code"].kind == "str"
    assert specs["resident"].fields["household_id"].ref == "household"
    # Callable defaults are evaluated once, when the specs are built (a fresh id, a datetime).
    assert len(specs["household"].defaults["id"]) == 36
