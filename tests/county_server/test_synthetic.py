"""``county-server gen-synthetic``: deterministic, COPY into PostgreSQL, figures consistent with the rows."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import func, select

from county_server.console import aggregates
from county_server.db import make_engine
from county_server.models import PlaceAggregate, Station, SyncRow
from county_server.synthetic import generate

TODAY = date(2026, 11, 20)


def _fingerprint(engine) -> str:
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for row in conn.execute(select(SyncRow.row_id, SyncRow.table_name, SyncRow.vals).where(
                SyncRow.stream == "data").order_by(SyncRow.row_id)):
            digest.update("|".join(row).encode())
    return digest.hexdigest()


def test_same_seed_same_county_and_refuses_a_full_database(tmp_path):
    engines = [make_engine(f"sqlite:///{tmp_path / f'{n}.db'}") for n in range(2)]
    for engine in engines:
        generate(engine, townships=2, villages=4, residents=400, seed=7, today=TODAY)
    assert _fingerprint(engines[0]) == _fingerprint(engines[1])
    with pytest.raises(ValueError, match="空数据库"):
        generate(engines[0], townships=2, villages=4, residents=400, seed=7, today=TODAY)
    with engines[0].connect() as conn:
        assert conn.execute(select(func.count()).select_from(Station)).scalar() == 4
        assert conn.execute(select(func.count()).select_from(PlaceAggregate)).scalar() == 4 + 2 + 1
    figures = aggregates.place_figures(engines[0], None)
    villages = [figures[c] for c in figures if c.endswith(("200", "201"))]
    fig = figures["610999000000"]
    assert fig == aggregates.total(villages)  # the county's row is the sum of its villages
    assert fig["residents"] == 400
    assert 0.85 < aggregates.enrollment_ratio(fig, 2027).value <= 1
    for engine in engines:
        engine.dispose()


@pytest.mark.postgres
def test_generator_copies_into_postgresql(pg_url):
    engine = make_engine(pg_url)
    summary = generate(engine, townships=2, villages=4, residents=400, seed=7, today=TODAY)
    assert "400 名居民" in summary
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(SyncRow).where(SyncRow.stream == "data")).scalar()
        top = conn.execute(select(func.max(SyncRow.seq))).scalar()
    assert rows > 800 and top >= rows  # every row has its own seq, the counter covers them
    assert aggregates.refresh(engine, today=TODAY) == 0
    engine.dispose()
