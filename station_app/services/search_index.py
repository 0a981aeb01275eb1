"""The resident search index: a narrow copy of each resident, for search as you type and the registry list.

Why a copy. Search must answer in a few milliseconds on 60,000 residents, and a result of
thousands of rows ("张", "z") must be filtered, sorted and listed without reaching the wide
``resident`` rows one random UUID lookup at a time (~8 µs each: ~50 ms for "张"). So
``resident_search`` holds, per resident, what the registry filters and sorts on (village,
group, household number, relation, status, special groups, birth date) and the search keys,
behind an INTEGER primary key; an FTS5 trigram index over its name, ID number and phone
answers substring queries of three characters or more in well under a millisecond.

How it stays in step with every write path (the ORM in the services, Core bulk inserts of the
demo and the roster import, the sync engine's raw ``INSERT … ON CONFLICT`` upserts):

* changes to existing rows: triggers on ``resident`` (UPDATE, DELETE) and on ``household``
  (a new household number). They are guarded by ``WHEN`` so a no-op upsert costs nothing.
* new rows: caught up on the next read (``catch_up``) by rowid — SQLite gives a new row
  max(rowid)+1, so everything above the stored watermark is new. An INSERT trigger would do
  it too, but any trigger writing another table makes SQLite save and re-seek every index
  cursor of ``resident`` per row: +50 µs a row without FTS, +300 µs with it, i.e. +5–18 s on
  the 60,000-row demo build or an initial sync. Catching up 60,000 rows at once takes ~2 s.

It is derived data: never synced, never audited, and ``install`` rebuilds it from
``resident`` at any time. A migration that rebuilds the ``resident`` table (Alembic batch
mode) drops its triggers and renumbers rowids; ``ensure`` notices (once per process) and
reinstalls. Without FTS5/trigram (SQLite < 3.34 or built without FTS5) everything works and
the search scans the narrow table instead.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Iterable

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from station_app.domain.enums import Relation

logger = logging.getLogger(__name__)

TABLE = "resident_search"
FTS = "resident_search_fts"
META = "resident_search_meta"
#: Every one- and two-character piece of each name → rid: "刘梓豪" → 刘 梓 豪 刘梓 梓豪. Trigram
#: cannot look up fewer than three characters, and a surname ("张") is the commonest search.
GRAMS = "resident_search_gram"
_POSITIONS = "resident_search_pos"
MAX_NAME = 40
#: Every schema object of the index starts with this; migrations/env.py leaves such tables out
#: of ``alembic check`` (they are kept by triggers and this module, not by models).
PREFIX = "resident_search"

#: A private MetaData: these tables are not models and must not enter Base.metadata.
_metadata = MetaData()
search_table = Table(
    TABLE, _metadata,
    Column("rid", Integer, primary_key=True),
    Column("resident_id", String(36), nullable=False, unique=True),
    Column("village_code", String(20)),
    Column("group_code", String(20)),
    Column("household_id", String(36)),
    Column("household_no", String(30), nullable=False),
    Column("relation", String(20), nullable=False),
    Column("name", String(40), nullable=False),
    Column("pinyin", String(120), nullable=False),
    Column("initials", String(20), nullable=False),
    Column("id_number", String(18), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("birth_date", Date),
    Column("status", String(12), nullable=False),
    Column("special_groups", String(120), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("relation_rank", Integer, nullable=False),
)
gram_table = Table(
    GRAMS, _metadata,
    Column("gram", String(2), primary_key=True),
    Column("rid", Integer, primary_key=True),
)

#: resident column → resident_search column (household_no comes from the household row).
_COPIED = (
    ("id", "resident_id"), ("village_code", "village_code"), ("group_code", "group_code"),
    ("household_id", "household_id"), ("relation", "relation"), ("name", "name"),
    ("name_pinyin", "pinyin"), ("name_initials", "initials"), ("id_number", "id_number"),
    ("phone", "phone"), ("sex", "sex"), ("birth_date", "birth_date"), ("status", "status"),
    ("special_groups", "special_groups"), ("deleted", "deleted"),
)
FTS_COLUMNS = ("name", "id_number", "phone")
_NULLABLE = frozenset({"village_code", "group_code", "household_id", "birth_date", "resident_id"})

_TABLE_DDL = f"""CREATE TABLE {TABLE} (
    rid INTEGER PRIMARY KEY,
    resident_id VARCHAR(36) NOT NULL UNIQUE,
    village_code VARCHAR(20),
    group_code VARCHAR(20),
    household_id VARCHAR(36),
    household_no VARCHAR(30) NOT NULL DEFAULT '',
    relation VARCHAR(20) NOT NULL DEFAULT '',
    name VARCHAR(40) NOT NULL DEFAULT '',
    pinyin VARCHAR(120) NOT NULL DEFAULT '',
    initials VARCHAR(20) NOT NULL DEFAULT '',
    id_number VARCHAR(18) NOT NULL DEFAULT '',
    phone VARCHAR(20) NOT NULL DEFAULT '',
    sex VARCHAR(1) NOT NULL DEFAULT '',
    birth_date DATE,
    status VARCHAR(12) NOT NULL DEFAULT '',
    special_groups VARCHAR(120) NOT NULL DEFAULT '',
    deleted BOOLEAN NOT NULL DEFAULT 0,
    relation_rank INTEGER NOT NULL DEFAULT 99
)"""
_META_DDL = f"CREATE TABLE {META} (key VARCHAR(40) NOT NULL PRIMARY KEY, value INTEGER NOT NULL DEFAULT 0)"
_GRAM_DDL = (
    f"CREATE TABLE {GRAMS} (gram VARCHAR(2) NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (gram, rid)) WITHOUT ROWID",
    # 1..MAX_NAME: the character positions a trigger can join to (no loops in SQL triggers).
    f"CREATE TABLE {_POSITIONS} (i INTEGER PRIMARY KEY)",
    f"WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < {MAX_NAME}) "
    f"INSERT INTO {_POSITIONS} (i) SELECT i FROM k",
)

# The default list order (village, group, household number, head first, then by age) as a
# covering index: the 60,000-row list, its status / special-group filters and a digits search
# matching nearly everyone (the county's ID prefix) are read from the index alone, already sorted. name / initials / pinyin: covering scans and prefix ranges for
# short search terms.
_INDEX_DDL = (
    f"CREATE INDEX {PREFIX}_order ON {TABLE} (deleted, village_code, group_code, household_no, "
    f"relation_rank, birth_date, resident_id, status, special_groups, id_number, phone)",
    f"CREATE INDEX {PREFIX}_household ON {TABLE} (household_id)",
    f"CREATE INDEX {PREFIX}_name ON {TABLE} (name)",
    f"CREATE INDEX {PREFIX}_initials ON {TABLE} (initials)",
    f"CREATE INDEX {PREFIX}_pinyin ON {TABLE} (pinyin)",
)

_RESIDENT_MARK = "resident_rowid"
_HOUSEHOLD_MARK = "household_rowid"


def _value(expr: str, column: str) -> str:
    # NULLs from a sparse insert become the column's default, as the ORM would have stored.
    if column in _NULLABLE:
        return expr
    return f"coalesce({expr}, 0)" if column == "deleted" else f"coalesce({expr}, '')"


#: Relation codes in the order a household is listed (head first); the rank is stored so the
#: default order is an index order.
RELATION_ORDER = tuple(r.value for r in Relation)


def _rank(expr: str) -> str:
    whens = " ".join(f"WHEN '{code}' THEN {i}" for i, code in enumerate(RELATION_ORDER))
    return f"CASE {expr} {whens} ELSE 99 END"


def _columns() -> str:
    return ", ".join(dst for _src, dst in _COPIED) + ", household_no, relation_rank"


def _updates() -> str:
    return ", ".join(f"{dst} = excluded.{dst}" for _src, dst in _COPIED if dst != "resident_id") + \
        ", household_no = excluded.household_no, relation_rank = excluded.relation_rank"


def _select_from_resident(where: str) -> str:
    values = ", ".join(_value(f"r.{src}", dst) for src, dst in _COPIED) + \
        f", coalesce(h.household_no, ''), {_rank('r.relation')}"
    # The WHERE clause also keeps SQLite's parser from reading ON CONFLICT as the join's ON.
    return (f"SELECT {values} FROM resident r LEFT JOIN household h ON h.id = r.household_id "
            f"WHERE {where}")


def _upsert_from_resident(where: str) -> str:
    return (f"INSERT INTO {TABLE} ({_columns()}) {_select_from_resident(where)} "
            f"ON CONFLICT (resident_id) DO UPDATE SET {_updates()}")


def _resident_triggers() -> tuple[str, ...]:
    values = ", ".join(_value(f"new.{src}", dst) for src, dst in _COPIED) + \
        ", coalesce((SELECT household_no FROM household WHERE id = new.household_id), '')" + \
        f", {_rank('new.relation')}"
    upsert = (f"INSERT INTO {TABLE} ({_columns()}) VALUES ({values}) "
              f"ON CONFLICT (resident_id) DO UPDATE SET {_updates()};")
    changed = " OR ".join(f"old.{src} IS NOT new.{src}" for src, _dst in _COPIED)
    # An upsert rather than an UPDATE: a row edited before it was caught up gets indexed now.
    return (
        f"CREATE TRIGGER {PREFIX}_resident_au AFTER UPDATE ON resident WHEN {changed} BEGIN "
        f"DELETE FROM {TABLE} WHERE resident_id = old.id AND old.id IS NOT new.id; {upsert} END",
        f"CREATE TRIGGER {PREFIX}_resident_ad AFTER DELETE ON resident BEGIN "
        f"DELETE FROM {TABLE} WHERE resident_id = old.id; END",
        f"CREATE TRIGGER {PREFIX}_household_au AFTER UPDATE OF household_no ON household "
        f"WHEN old.household_no IS NOT new.household_no BEGIN "
        f"UPDATE {TABLE} SET household_no = coalesce(new.household_no, '') WHERE household_id = new.id; END",
    )


def _grams_of(ref: str) -> str:
    """SELECT of the (gram, rid) rows of one name (``new`` / ``old`` in a trigger)."""
    return (f"SELECT substr({ref}.name, p.i, 1), {ref}.rid FROM {_POSITIONS} p WHERE p.i <= length({ref}.name) "
            f"UNION SELECT substr({ref}.name, p.i, 2), {ref}.rid FROM {_POSITIONS} p "
            f"WHERE p.i < length({ref}.name)")


def _gram_triggers() -> tuple[str, ...]:
    insert = f"INSERT OR IGNORE INTO {GRAMS} (gram, rid) {_grams_of('new')};"
    delete = f"DELETE FROM {GRAMS} WHERE rid = old.rid AND gram IN (SELECT g FROM (SELECT substr(old.name, p.i, 1) AS g " \
             f"FROM {_POSITIONS} p WHERE p.i <= length(old.name) UNION SELECT substr(old.name, p.i, 2) " \
             f"FROM {_POSITIONS} p WHERE p.i < length(old.name)));"
    return (
        f"CREATE TRIGGER {PREFIX}_gram_ai AFTER INSERT ON {TABLE} BEGIN {insert} END",
        f"CREATE TRIGGER {PREFIX}_gram_ad AFTER DELETE ON {TABLE} BEGIN {delete} END",
        f"CREATE TRIGGER {PREFIX}_gram_au AFTER UPDATE OF name ON {TABLE} WHEN old.name IS NOT new.name "
        f"BEGIN {delete} {insert} END",
    )


def _fts_ddl() -> str:
    return (f"CREATE VIRTUAL TABLE {FTS} USING fts5({', '.join(FTS_COLUMNS)}, "
            f"content='{TABLE}', content_rowid='rid', tokenize='trigram')")


def _fts_triggers() -> tuple[str, ...]:
    cols = ", ".join(FTS_COLUMNS)
    new = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
    old = ", ".join(f"old.{c}" for c in FTS_COLUMNS)
    delete = f"INSERT INTO {FTS} ({FTS}, rowid, {cols}) VALUES ('delete', old.rid, {old});"
    insert = f"INSERT INTO {FTS} (rowid, {cols}) VALUES (new.rid, {new});"
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in FTS_COLUMNS)
    return (
        f"CREATE TRIGGER {PREFIX}_fts_ai AFTER INSERT ON {TABLE} BEGIN {insert} END",
        f"CREATE TRIGGER {PREFIX}_fts_ad AFTER DELETE ON {TABLE} BEGIN {delete} END",
        f"CREATE TRIGGER {PREFIX}_fts_au AFTER UPDATE OF {cols} ON {TABLE} WHEN {changed} BEGIN "
        f"{delete} {insert} END",
    )


def trigger_names(with_fts: bool) -> set[str]:
    ddl = _resident_triggers() + _gram_triggers() + (_fts_triggers() if with_fts else ())
    return {statement.split()[2] for statement in ddl}


# -- capability -------------------------------------------------------------------------------


def fts_supported(conn: Connection) -> bool:
    """FTS5 with the trigram tokenizer (SQLite ≥ 3.34, compiled with FTS5)."""
    try:
        conn.exec_driver_sql("CREATE VIRTUAL TABLE temp._probe_trigram USING fts5(x, tokenize='trigram')")
    except OperationalError:  # "no such module: fts5" / "no such tokenizer: trigram"
        return False
    conn.exec_driver_sql("DROP TABLE temp._probe_trigram")
    return True


def has_fts(conn: Connection) -> bool:
    return conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS,)).first() is not None


# -- install / remove -------------------------------------------------------------------------


def uninstall(conn: Connection) -> None:
    """Drop every object of the index (triggers first, so nothing fires on the way)."""
    for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?", (PREFIX + "%",)).all():
        conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}"')
    for name in (FTS, GRAMS, _POSITIONS, TABLE, META):
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def _marks(conn: Connection) -> tuple[int, int]:
    resident = conn.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM resident").scalar() or 0
    household = conn.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM household").scalar() or 0
    return int(resident), int(household)


def install(conn: Connection, *, use_fts: bool | None = None) -> bool:
    """(Re)build the index from ``resident`` in the caller's transaction; True when FTS is on.

    The table is filled before its triggers exist and the FTS index is then built in one
    pass ('rebuild'): ~1.5 s for 60,000 residents.
    """
    if use_fts is None:
        use_fts = fts_supported(conn)
    uninstall(conn)
    conn.exec_driver_sql(_TABLE_DDL)
    conn.exec_driver_sql(_META_DDL)
    conn.exec_driver_sql(f"INSERT INTO {TABLE} ({_columns()}) {_select_from_resident('1')}")
    for ddl in _INDEX_DDL:
        conn.exec_driver_sql(ddl)
    for ddl in _GRAM_DDL:
        conn.exec_driver_sql(ddl)
    conn.exec_driver_sql(
        f"INSERT OR IGNORE INTO {GRAMS} (gram, rid) SELECT substr(s.name, p.i, 1), s.rid FROM {TABLE} s "
        f"JOIN {_POSITIONS} p ON p.i <= length(s.name) UNION ALL SELECT substr(s.name, p.i, 2), s.rid "
        f"FROM {TABLE} s JOIN {_POSITIONS} p ON p.i < length(s.name)")
    for ddl in _gram_triggers():
        conn.exec_driver_sql(ddl)
    if use_fts:
        conn.exec_driver_sql(_fts_ddl())
        conn.exec_driver_sql(f"INSERT INTO {FTS} ({FTS}) VALUES ('rebuild')")
        for ddl in _fts_triggers():
            conn.exec_driver_sql(ddl)
    for ddl in _resident_triggers():
        conn.exec_driver_sql(ddl)
    resident_mark, household_mark = _marks(conn)
    conn.exec_driver_sql(f"INSERT INTO {META} (key, value) VALUES (?, ?), (?, ?)",
                         (_RESIDENT_MARK, resident_mark, _HOUSEHOLD_MARK, household_mark))
    return use_fts


# -- keeping up -------------------------------------------------------------------------------


def _stored_marks(conn: Connection) -> tuple[int, int]:
    values = dict(conn.exec_driver_sql(f"SELECT key, value FROM {META}").all())
    return int(values.get(_RESIDENT_MARK, 0)), int(values.get(_HOUSEHOLD_MARK, 0))


def behind(conn: Connection) -> bool:
    """True when rows were added since the last catch-up (two max(rowid) lookups: ~10 µs)."""
    return _marks(conn) != _stored_marks(conn)


def _catch_up_locked(conn: Connection) -> int:
    """Index residents and household numbers added since the watermarks; in the caller's transaction."""
    resident_mark, household_mark = _stored_marks(conn)
    new_resident, new_household = _marks(conn)
    added = 0
    if new_resident != resident_mark:
        # Also when the max went *down* (rows removed): everything above the new max is gone.
        result = conn.exec_driver_sql(_upsert_from_resident("r.rowid > ?"), (min(resident_mark, new_resident),))
        added = max(result.rowcount or 0, 0)
    if new_household != household_mark:
        # Residents that arrived before their household (sync pages) get its number now.
        conn.exec_driver_sql(
            f"UPDATE {TABLE} SET household_no = coalesce(h.household_no, '') FROM household h "
            f"WHERE h.rowid > ? AND {TABLE}.household_id = h.id AND {TABLE}.household_no IS NOT h.household_no",
            (min(household_mark, new_household),))
    conn.exec_driver_sql(f"UPDATE {META} SET value = ? WHERE key = ?", (new_resident, _RESIDENT_MARK))
    conn.exec_driver_sql(f"UPDATE {META} SET value = ? WHERE key = ?", (new_household, _HOUSEHOLD_MARK))
    return added


def catch_up(conn: Connection) -> int:
    """Index what bulk writers added; returns the number of residents indexed.

    Writers that add many residents (demo, roster import, an initial sync) may call this at
    the end of their own transaction so the first search does not pay for it.
    """
    if not behind(conn):
        return 0
    return _catch_up_locked(conn)


_process_lock = threading.Lock()
#: engine → monotonic time before which no catch-up is tried again (a writer was busy).
_busy_until: "weakref.WeakKeyDictionary[Engine, float]" = weakref.WeakKeyDictionary()
BUSY_BACKOFF_S = 2.0


def refresh(engine: Engine, *, wait_ms: int = 100) -> int:
    """Catch up if behind, as a short write of its own; never blocks a search for long.

    If another writer holds the database (a long batch), give up after ``wait_ms``, and for the
    next BUSY_BACKOFF_S try without waiting: the search runs on the index as it is. Residents saved
    through the registry are indexed in their own transaction, so only rows of a bulk writer
    that did not call ``catch_up`` can be missing, until the writer is done. Returns the
    number of residents indexed, or -1 if skipped.
    """
    with engine.connect() as conn:
        if not behind(conn):
            return 0
    if time.monotonic() < _busy_until.get(engine, 0.0):
        wait_ms = 0  # busy a moment ago: try without waiting, so no keystroke of a busy spell waits
    with _process_lock, engine.connect() as conn:
        raw = conn.connection.driver_connection
        previous = raw.execute("PRAGMA busy_timeout").fetchone()[0]
        raw.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        try:
            with conn.begin():
                added = catch_up(conn)
        except OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            logger.info("search index catch-up skipped: database busy")
            _busy_until[engine] = time.monotonic() + BUSY_BACKOFF_S
            return -1
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(previous)}")
    if added:
        logger.info("search index: %d new residents indexed", added)
    return added


def reindex_residents(conn: Connection, ids: Iterable[str]) -> int:
    """Refresh these residents' index rows from ``resident``, in the caller's transaction.

    The triggers and ``catch_up`` normally make this unnecessary; it is for a writer that had
    to bypass both. A row whose resident no longer exists is dropped from the index.
    """
    ids = list(ids)
    done = 0
    for start in range(0, len(ids), 400):
        chunk = ids[start:start + 400]
        marks = ",".join("?" for _ in chunk)
        conn.exec_driver_sql(f"DELETE FROM {TABLE} WHERE resident_id IN ({marks}) AND resident_id NOT IN "
                             f"(SELECT id FROM resident WHERE id IN ({marks}))", tuple(chunk) * 2)
        result = conn.exec_driver_sql(_upsert_from_resident(f"r.id IN ({marks})"), tuple(chunk))
        done += max(result.rowcount or 0, 0)
    return done


# -- checking ---------------------------------------------------------------------------------


def problems(conn: Connection) -> list[str]:
    """What is wrong with the index (empty when whole): missing objects, rows not indexed."""
    found = {name for (name,) in conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE name LIKE ?", (PREFIX + "%",)).all()}
    if not {TABLE, META, GRAMS, _POSITIONS} <= found:
        return ["missing table"]
    columns = [row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({TABLE})").all()]
    if columns != [c.name for c in search_table.columns]:
        return ["columns differ from this version's"]
    issues = [f"missing trigger {t}" for t in sorted(trigger_names(FTS in found) - found)]
    issues += [f"missing index {i}" for i in sorted({d.split()[2] for d in _INDEX_DDL} - found)]
    if not issues:  # same objects: also the same definitions as this version's
        expected = _INDEX_DDL + _resident_triggers() + _gram_triggers() + (_fts_triggers() if FTS in found else ())
        stored = schema_sql(conn)
        issues += [f"{d.split()[2]} differs" for d in expected if stored.get(d.split()[2]) != " ".join(d.split())]
    residents = conn.exec_driver_sql("SELECT count(*) FROM resident").scalar()
    indexed = conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar()
    if residents != indexed and not behind(conn):
        issues.append(f"{indexed} indexed rows for {residents} residents")
    return issues


_checked: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def ensure(engine: Engine) -> None:
    """Once per engine and process: reinstall the index if it is damaged (~5 ms to check)."""
    if engine in _checked:
        return
    with _process_lock:
        if engine in _checked:
            return
        with engine.connect() as conn:
            issues = problems(conn)
        if issues:
            logger.warning("resident search index incomplete (%s); rebuilding", "; ".join(issues))
            rebuild(engine)
        _checked.add(engine)


def rebuild(engine: Engine) -> bool:
    """Rebuild the whole index in its own transaction (also the repair of a damaged one)."""
    with engine.begin() as conn:
        return install(conn)


def schema_sql(conn: Connection) -> dict[str, str]:
    """name → CREATE statement of every index object (tests compare a migrated and a rebuilt file)."""
    return {name: " ".join(sql.split()) for name, sql in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE name LIKE ? AND sql IS NOT NULL",
        (PREFIX + "%",)).all()}
