"""The county server's tables: stations, places, the merged row state, events, push answers.

Design (see docs/SYNC_PROTOCOL.md): one generic ``sync_row`` per synced row holding the merged
field values as JSON text plus per-field HLCs and versions, instead of a copy of every station
table. The server never needs a migration when a station table gains a column (an older
station keeps working, failure mode 12), and a pull page is built by splicing stored JSON text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.utcnow().replace(microsecond=0)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Station(Base):
    """A station (or the county admin) and its credential; the token itself is never stored."""

    __tablename__ = "station"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(12))  # village | township | county
    place_code: Mapped[str] = mapped_column(String(20), default="")
    #: sha256 of the bearer token (256 random bits: a slow KDF would add nothing but latency).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: HMAC key of the station's USB bundles, derived from the token (see bundle.py).
    bundle_key: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: The data cursor this station last reported as applied (tombstone bookkeeping).
    pulled_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Optional end of the token's validity (``add-station/rotate-token --expires-days``).
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime)


class Place(Base):
    """County → township → village → group, from the county's reference data (scopes use it)."""

    __tablename__ = "place"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(String(20), index=True)


class SyncRow(Base):
    """The merged state of one synced row (data stream) or one reference row (ref stream)."""

    __tablename__ = "sync_row"
    __table_args__ = (
        Index("ix_sync_row_scope_seq", "scope_code", "seq"),
        Index("ix_sync_row_stream_seq", "stream", "seq"),
        UniqueConstraint("table_name", "natural_key"),
    )

    row_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40))
    stream: Mapped[str] = mapped_column(String(4))  # data | ref
    #: The village (or township, for station rows) that scopes the row; NULL for reference rows.
    scope_code: Mapped[str | None] = mapped_column(String(20))
    #: Server change sequence of the row's latest change: the pull cursor.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    row_version: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: HLC of the insert; every field has it unless ``fh`` says otherwise.
    h0: Mapped[str] = mapped_column(String(64))
    fh: Mapped[str] = mapped_column(Text, default="{}")  # JSON {field: hlc} of later writes
    fv: Mapped[str] = mapped_column(Text, default="{}")  # JSON {field: row_version of last write}
    #: JSON {field: username} of who wrote each field ("" key: the insert), when the station
    #: said (op key ``u``): named beside a conflict at the station whose value lost.
    fu: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    #: Field names (sorted JSON array) and values (JSON array, same order), kept apart so a pull
    #: page splices them into its blocks without parsing anything.
    cols: Mapped[str] = mapped_column(Text)
    vals: Mapped[str] = mapped_column(Text)
    natural_key: Mapped[str | None] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(32), default="")  # station of the latest change
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: Set when an old tombstone's payload was purged (only its key and natural key remain).
    compacted: Mapped[bool] = mapped_column(Boolean, default=False)


class SyncEvent(Base):
    """A conflict for one station to review, or a row leaving a village (its stations update it)."""

    __tablename__ = "sync_event"
    __table_args__ = (
        Index("ix_sync_event_scope_seq", "scope_code", "seq"),
        Index("ix_sync_event_station_seq", "station_code", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(10))  # conflict | exit
    scope_code: Mapped[str | None] = mapped_column(String(20))
    station_code: Mapped[str | None] = mapped_column(String(32))
    table_name: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[str] = mapped_column(String(36))
    body: Mapped[str] = mapped_column(Text)  # JSON sent as is in pull pages
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PushBatch(Base):
    """The answer given to one pushed batch: a replay of (station, batch_id) gets it again."""

    __tablename__ = "push_batch"

    station_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    answer: Mapped[str] = mapped_column(Text)
    #: sha256 of the batch's ops: the same batch id with other ops is refused (409), not replayed.
    digest: Mapped[str | None] = mapped_column(String(64))
    op_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PushOp(Base):
    """What became of one op: the same op in another batch (restored backup, bundle) is a no-op."""

    __tablename__ = "push_op"

    #: Op ids are the station's: another station reusing one is a different op (issue 9).
    station_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    op_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(24), default="")
    row_id: Mapped[str] = mapped_column(String(36))
    row_version: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Counter(Base):
    """The change sequence. Its row is locked for the whole push transaction, so seqs are
    handed out in commit order and a pull can never skip a change committed late (mode 13)."""

    __tablename__ = "counter"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class BundleImport(Base):
    """A USB bundle imported here (audit; importing it again is harmless anyway)."""

    __tablename__ = "bundle_import"

    bundle_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_code: Mapped[str] = mapped_column(String(32))
    imported_by: Mapped[str] = mapped_column(String(32), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    summary: Mapped[str] = mapped_column(Text, default="")


# ---------------------------------------------------------------------------- county console
# The 医保局's web console (county_server/console/): its staff, sessions, audit, settings,
# what the server learns about each station, and the pre-aggregated 4134 figures per place.


class ConsoleUser(Base):
    """County staff signing in to the console (not a station: stations have tokens)."""

    __tablename__ = "console_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(40), default="")
    role: Mapped[str] = mapped_column(String(16))  # county_admin | viewer
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


class ConsoleSession(Base):
    """A signed-in browser: the cookie holds a random id, only its sha256 is stored."""

    __tablename__ = "console_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class ConsoleAudit(Base):
    """Every change made in the console (and sign-ins), who and when."""

    __tablename__ = "console_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class CountySetting(Base):
    """County settings kept by the console: targets (卡月使用率 80 %), days before a station is flagged silent."""

    __tablename__ = "county_setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class StationInfo(Base):
    """What the server learns about a station as it syncs: app version, clock drift, its first users."""

    __tablename__ = "station_info"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_version: Mapped[str] = mapped_column(String(32), default="")
    clock_drift_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_push_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: JSON list of users the station is set up with ({username, display_name, role, password_hash}).
    users: Mapped[str] = mapped_column(Text, default="[]")


class PlaceAggregate(Base):
    """The 4134 figures of one place (JSON counts): a village's recomputed when its rows change,
    then its township's and the county's summed from the levels below."""

    __tablename__ = "place_aggregate"

    place_code: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: The change seq the figures are computed at.
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
class QuarantinedRow(Base):
    """A row (or some fields of it) that ``county-server repair`` took out of the merged state
    because it breaks the rules of the protocol boundary (left by an older version)."""

    __tablename__ = "quarantined_row"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    row_id: Mapped[str] = mapped_column(Text)
    table_name: Mapped[str] = mapped_column(Text)
    scope_code: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    #: "row": the whole row was removed; "tombstone": it was turned into one; "fields": only
    #: some fields were removed (cols/vals keep the row as it was).
    action: Mapped[str] = mapped_column(String(12))
    cols: Mapped[str] = mapped_column(Text)
    vals: Mapped[str] = mapped_column(Text)
    seq: Mapped[int] = mapped_column(BigInteger)
    quarantined_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
