"""户号 that two stations working offline can never both take (issue 18.4).

A number is ``<last 6 digits of the village code>-<station code>-<serial>``: station codes are
unique county-wide (the county server registers each one once), and only the station whose code
is in the number hands out its serials, so a township and a village station registering
households in the same village offline cannot collide. The serial follows the highest this
station has given in that village (not a count of rows: rows of other stations, or deleted
ones, do not shift it).

Numbers from before this rule (``<village6><count+1>``) may already be duplicated; the
duplicates are renumbered (migration 0020, and after every sync for rows from stations still on
an older version): among the live households sharing a number in one village, the one with
the smallest id keeps it and every other gets ``<village6>-R<first 8 hex of its id>`` — the
same value on every station that does it, so the renumbering itself never conflicts.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only, sessionmaker

from station_app.services.workspace import STATION_CODE_KEY
from station_app.store.models import AppSetting, Household


def _station_code(session: Session) -> str:
    actor = session.info.get("actor")
    code = getattr(actor, "station_code", "") or ""
    if not code:
        setting = session.get(AppSetting, STATION_CODE_KEY)
        code = setting.value if setting is not None else ""
    return code or "X"


def station_prefix(village_code: str, station_code: str) -> str:
    return f"{village_code[-6:]}-{station_code}-"


def allocate_household_numbers(session: Session, village_code: str, count: int = 1) -> list[str]:
    """``count`` new 户号 in ``village_code`` from this station's own series."""
    prefix = station_prefix(village_code, _station_code(session))
    taken = session.scalars(select(Household.household_no).where(
        Household.village_code == village_code, Household.household_no.like(prefix.replace("_", r"\_") + "%",
                                                                             escape="\\")))
    top = 0
    for number in taken:
        tail = (number or "")[len(prefix):]
        if tail.isdigit():
            top = max(top, int(tail))
    return [f"{prefix}{top + i:04d}" for i in range(1, count + 1)]


#: What renumbering loads of a household (a migration runs this with the models of a later
#: version, whose household may have columns the database does not have yet).
_LOADED = (Household.id, Household.village_code, Household.household_no, Household.deleted,
           Household.row_version, Household.updated_hlc)


def renumbered(household_id: str, village_code: str) -> str:
    return f"{village_code[-6:]}-R{household_id.replace('-', '')[:8].upper()}"


def renumber_duplicates(session: Session, villages: set[str] | None = None) -> int:
    """Give every live household sharing a 户号 in its village but the first (smallest id) a
    new, deterministic number. ORM writes: the caller's unit of work records audit and outbox."""
    dupes = session.execute(
        select(Household.village_code, Household.household_no)
        .where(Household.deleted.is_(False), Household.household_no != "")
        .group_by(Household.village_code, Household.household_no)
        .having(func.count() > 1)).all()
    if not dupes:
        return 0
    wanted = defaultdict(set)
    for village, number in dupes:
        if villages is None or village in villages:
            wanted[village].add(number)
    changed = 0
    for village, numbers in wanted.items():
        rows = session.scalars(select(Household).options(load_only(*_LOADED)).where(
            Household.village_code == village, Household.household_no.in_(numbers),
            Household.deleted.is_(False)).order_by(Household.household_no, Household.id)).all()
        seen: set[str] = set()
        for row in rows:
            if row.household_no not in seen:
                seen.add(row.household_no)
                continue
            row.household_no = renumbered(row.id, village)
            changed += 1
    return changed


def renumber_duplicate_households(ws) -> int:
    """Renumber duplicates in the station's villages in one unit of work (after a sync brought
    rows of stations still numbering the old way). Rows outside its scope are left to the
    stations that may write them (the server would refuse the edit)."""
    from station_app.services.changes import Actor
    from station_app.services.scope import villages_in_scope

    if ws.station is None:
        return 0
    actor = Actor("system", "系统", "township_clerk", ws.station.place_code, ws.station.code)
    with ws.read() as session:
        if not session.execute(
                select(Household.village_code).where(Household.deleted.is_(False), Household.household_no != "")
                .group_by(Household.village_code, Household.household_no).having(func.count() > 1)
                .limit(1)).first():
            return 0
    with ws.unit_of_work(actor, "renumber_duplicate_household") as session:
        return renumber_duplicates(session, villages_in_scope(session, actor))


def renumber_in_migration(conn) -> int:
    """Migration 0020: renumber existing duplicates, recorded like any edit (audit + outbox,
    stamped by the station's clock) so the new numbers reach the server and every station."""
    from sync_protocol.hlc import HybridLogicalClock
    from station_app.services.changes import (
        ChangeRecorder,
        SharedClock,
        load_clock_state,
        system_actor,
    )

    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint")
    with factory() as session:
        setting = session.get(AppSetting, STATION_CODE_KEY)
        node = setting.value if setting is not None else "unset"
        clock = SharedClock(HybridLogicalClock(node, last=load_clock_state(session)))
    # This revision's sync_outbox has no username column yet (0071 adds it).
    ChangeRecorder(clock, node, outbox_user=False).install(factory)
    with factory() as session:
        session.info.update(actor=system_actor(node if setting is not None else ""),
                            action="renumber_duplicate_household")
        changed = renumber_duplicates(session)
        session.commit()
    return changed
