"""The 4134 figures per village, kept current as pushes arrive; townships and the county add them up.

The dashboard never scans the synced rows on a page view: it reads ``place_aggregate`` (one
JSON document of counts per village, township and county), the place and its children only.
``refresh`` looks at the rows changed since the last refresh (the ``seq`` index, one range
read), recomputes only the villages they belong to, sums their townships again from their
villages and the county from its townships, and moves the watermark; with nothing new it costs
one read of the counter. The console calls it
before a page and a background thread calls it every few seconds while the server runs.

The definitions are the station's own (sync_protocol.domain, shared with the station): 参保率 and 困难群众参保率 as in
``services.enrollment.enrollment_kpis``, 卡月使用率 as ``domain.chronic.monthly_usage``,
医疗救助落实率 as ``services.entitlement`` defines it (docs/FIGURES.md): the county's rules over the
救助对象's settlements, through ``domain.entitlement.person_dues``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, defaultdict
from datetime import date
from typing import Any, Iterable

from sqlalchemy import Engine, delete, insert, select, update

from sync_protocol.domain import entitlement as ent
from sync_protocol.domain.assistance import payout_rate as ent_payout
from sync_protocol.domain.chronic import HeldCard, monthly_usage, month_key, months_ending
from sync_protocol.domain.enums import HARDSHIP_GROUPS, EnrollmentStatus, SpecialGroup
from sync_protocol.domain.kpi import Ratio

from ..models import Counter as SeqCounter
from ..models import CountySetting, Place, PlaceAggregate, SyncRow, utcnow

logger = logging.getLogger(__name__)

T_ROW = SyncRow.__table__
T_AGG = PlaceAggregate.__table__
T_SET = CountySetting.__table__
#: Tables whose rows feed the figures.
SOURCE_TABLES = ("resident", "enrollment", "chronic_card", "card_usage", "assistance_case", "service_entry",
                 "settlement", "settlement_review")
WATERMARK_KEY = "aggregate_seq"
MONTH_KEY = "aggregate_month"
#: Months of 卡月使用率 kept per village (the dashboard shows the last 12).
USAGE_MONTHS = 24
NO_RECORD = "none"
_HARDSHIP = frozenset(g.value for g in HARDSHIP_GROUPS)
_REGISTERED = "registered"
_refresh_lock = threading.Lock()


def _rows(conn, village: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for table, row_id, cols, vals in conn.execute(
            select(T_ROW.c.table_name, T_ROW.c.row_id, T_ROW.c.cols, T_ROW.c.vals).where(
                T_ROW.c.scope_code == village, T_ROW.c.stream == "data", T_ROW.c.deleted.is_(False),
                T_ROW.c.table_name.in_(SOURCE_TABLES))):
        yield table, row_id, dict(zip(json.loads(cols), json.loads(vals)))


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def compute_village(conn, village: str, today: date) -> dict[str, Any]:
    """Every figure of one village, as counts (rates are computed when shown, and summed upward)."""
    by_table: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for table, row_id, data in _rows(conn, village):
        by_table[table].append((row_id, data))
    registered: dict[str, bool] = {}  # resident id → in a hardship group
    for row_id, data in by_table["resident"]:
        if data.get("status", _REGISTERED) == _REGISTERED:
            groups = set((data.get("special_groups") or "").split(","))
            registered[row_id] = bool(groups & _HARDSHIP)
    enrol: dict[str, Counter] = defaultdict(Counter)
    hard: dict[str, Counter] = defaultdict(Counter)
    for _row_id, data in by_table["enrollment"]:
        rid = data.get("resident_id")
        if rid not in registered or data.get("year") is None:
            continue
        year = str(data["year"])
        enrol[year][data.get("status") or NO_RECORD] += 1
        if registered[rid]:
            hard[year][data.get("status") or NO_RECORD] += 1
    cards = []
    for row_id, data in by_table["chronic_card"]:
        if data.get("status") in ("issued", "cancelled"):
            cards.append(HeldCard(row_id, data.get("resident_id") or row_id, _date(data.get("benefit_start")),
                                  _date(data.get("cancelled_date"))))
    used = [(d.get("card_id"), d.get("month")) for _r, d in by_table["card_usage"] if d.get("used")]
    months = months_ending(month_key(today), USAGE_MONTHS)
    usage = {m.month: [m.used, m.holders] for m in monthly_usage(cards, used, months)}
    assist: dict[str, Counter] = defaultdict(Counter)
    for _r, data in by_table["assistance_case"]:
        applied = _date(data.get("applied_date"))
        if applied:
            assist[str(applied.year)][data.get("status") or ""] += 1
    fulfilment = _fulfilment(conn, by_table)
    kinds: dict[str, Counter] = defaultdict(Counter)
    doctors: dict[str, Counter] = defaultdict(Counter)
    for _r, data in by_table["service_entry"]:
        day = _date(data.get("service_date"))
        if day:
            kinds[str(day.year)][data.get("kind") or ""] += 1
            doctors[str(day.year)][data.get("doctor_username") or ""] += 1
    return {
        "residents": len(registered), "hardship": sum(registered.values()),
        "enrollment": {y: dict(c) for y, c in enrol.items()},
        "hardship_enrollment": {y: dict(c) for y, c in hard.items()},
        "usage": usage, "usage_month": month_key(today),
        "assistance": {y: dict(c) for y, c in assist.items()},
        "fulfilment": fulfilment,
        "services": {y: dict(c) for y, c in kinds.items()},
        "doctors": {y: dict(c) for y, c in doctors.items()},
    }


def _group_class(special_groups: str) -> int | None:
    labels = []
    for code in (special_groups or "").split(","):
        if code:
            try:
                labels.append(SpecialGroup(code).label)
            except ValueError:
                labels.append(code)
    return ent.class_of_groups(labels)


def _rules(conn) -> dict[int, dict[tuple[int, str], ent.AssistanceRule]]:
    """The county's 医疗救助 rules from the reference stream, by year."""
    out: dict[int, dict[tuple[int, str], ent.AssistanceRule]] = defaultdict(dict)
    for cols, vals in conn.execute(select(T_ROW.c.cols, T_ROW.c.vals).where(
            T_ROW.c.table_name == "assistance_rule", T_ROW.c.stream == "ref", T_ROW.c.deleted.is_(False))):
        d = dict(zip(json.loads(cols), json.loads(vals)))
        out[int(d["year"])][(int(d["subject_class"]), d["kind"])] = ent.AssistanceRule(
            int(d["subject_class"]), d["kind"], d.get("deductible_fen") or 0, d["ratio_pct"],
            d.get("self_referred_ratio_pct", d["ratio_pct"]), d["annual_limit_fen"], d.get("tilt_threshold_fen") or 0,
            d.get("tilt_ratio_pct") or 0, d.get("tilt_limit_fen") or 0, d.get("validity_months") or 0)
    return out


def _fulfilment(conn, by_table: dict[str, list[tuple[str, dict[str, Any]]]]) -> dict[str, dict[str, int]]:
    """医疗救助落实率 counts per year: people due / fully paid, amounts due / paid, 待落实 items."""
    if not by_table["settlement"]:
        return {}
    classes = {row_id: _group_class(d.get("special_groups") or "") for row_id, d in by_table["resident"]}
    cases: ent.CaseLinks = {}
    for row_id, d in sorted(by_table["assistance_case"], key=lambda r: r[1].get("applied_date") or ""):
        sid = d.get("settlement_id")
        if sid and (sid not in cases or cases[sid][1] != "paid"):
            cases[sid] = (row_id, d.get("status") or "", d.get("assistance_fen") or 0)
    reviewed = {d.get("settlement_id") for _r, d in by_table["settlement_review"]}
    visits: dict[tuple[str, int], list] = defaultdict(list)
    for row_id, d in by_table["settlement"]:
        day, rid = _date(d.get("settled_on")), d.get("resident_id")
        if day is None or classes.get(rid) is None:
            continue
        visits[(rid, day.year)].append((row_id, day, d.get("kind") or "", d.get("route") or "in_county",
                                        d.get("policy_self_pay_fen") or 0, d.get("settlement_no") or ""))
    rules = _rules(conn)
    out: dict[str, Counter] = defaultdict(Counter)
    for (rid, year), rows in visits.items():
        rows.sort(key=lambda v: (v[1], v[5]))
        year_rules = rules.get(year, {})
        dues, _na = ent.person_dues(classes[rid], [v[:5] for v in rows],
                                    lambda klass, kind: year_rules.get((klass, kind)), cases, reviewed)
        if not dues:
            continue
        c = out[str(year)]
        c["people"] += 1
        c["people_paid"] += all(d.fulfilled for d in dues)
        for d in dues:
            c["entitled_fen"] += d.entitled_fen
            c["paid_fen"] += d.paid_fen
            c["pending"] += d.pending
            c["pending_fen"] += d.entitled_fen if d.pending else 0
    return {y: dict(c) for y, c in out.items()}


def _setting(conn, key: str) -> str | None:
    return conn.execute(select(T_SET.c.value).where(T_SET.c.key == key)).scalar()


def _put_setting(conn, key: str, value: str) -> None:
    if conn.execute(update(T_SET).where(T_SET.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(insert(T_SET).values(key=key, value=value))


def _villages(conn) -> list[str]:
    return list(conn.execute(select(Place.code).where(Place.level == "village")).scalars())


def refresh(engine: Engine, *, today: date | None = None, full: bool = False) -> int:
    """Recompute the villages whose rows changed since the last refresh; returns how many."""
    today = today or date.today()
    with _refresh_lock, engine.connect() as conn:
        horizon = conn.execute(select(SeqCounter.value).where(SeqCounter.name == "seq")).scalar() or 0
        mark = int(_setting(conn, WATERMARK_KEY) or 0)
        month = _setting(conn, MONTH_KEY)
        if not full and mark == horizon and month == month_key(today):
            return 0
        if full or month != month_key(today):
            # A new month shifts every village's 12 months: recompute all of them once.
            villages = set(_villages(conn))
        else:
            villages = set(conn.execute(select(T_ROW.c.scope_code).distinct().where(
                T_ROW.c.stream == "data", T_ROW.c.seq > mark, T_ROW.c.seq <= horizon,
                T_ROW.c.table_name.in_(SOURCE_TABLES))).scalars())
            villages.discard(None)
        parents = dict(conn.execute(select(Place.code, Place.parent_code).where(
            Place.level.in_(("county", "township", "village")))).all())
        conn.rollback()
        for village in sorted(villages):
            with engine.begin() as write:
                _store(write, village, compute_village(write, village, today), horizon)
        # Roll up: each township touched from its villages, then each county from its children.
        upper = {parents.get(v) for v in villages} - {None}
        while upper:
            with engine.begin() as write:
                for code in sorted(upper):
                    children = [c for c, p in parents.items() if p == code]
                    _store(write, code, total(figures_of(write, children).values()), horizon)
            upper = {parents.get(c) for c in upper} - {None}
        with engine.begin() as write:
            _put_setting(write, WATERMARK_KEY, str(horizon))
            _put_setting(write, MONTH_KEY, month_key(today))
    return len(villages)


def _store(conn, code: str, figures: dict[str, Any], seq: int) -> None:
    data = json.dumps(figures, ensure_ascii=False, separators=(",", ":"))
    conn.execute(delete(T_AGG).where(T_AGG.c.place_code == code))
    conn.execute(insert(T_AGG).values(place_code=code, seq=seq, data=data, updated_at=utcnow()))


def figures_of(conn, codes: list[str] | None) -> dict[str, dict[str, Any]]:
    query = select(T_AGG.c.place_code, T_AGG.c.data)
    if codes is not None:
        query = query.where(T_AGG.c.place_code.in_(codes))
    return {code: json.loads(data) for code, data in conn.execute(query)}


class Refresher:
    """A daemon thread refreshing the aggregates every ``interval`` seconds while the server runs."""

    def __init__(self, engine: Engine, interval: float = 5.0):
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="aggregates")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                refresh(self.engine)
            except Exception:  # noqa: BLE001 - the next round tries again; pages refresh too
                logger.warning("aggregate refresh failed", exc_info=True)


# ------------------------------------------------------------------------------- reading


def _add(into: dict, data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        elif isinstance(value, list):
            have = into.setdefault(key, [0] * len(value))
            for i, v in enumerate(value):
                have[i] += v
        elif isinstance(value, int):
            into[key] = into.get(key, 0) + value
        else:
            into[key] = value


def village_figures(engine: Engine, villages: list[str] | None) -> dict[str, dict[str, Any]]:
    """village → its figures (None: every village; townships and the county left out)."""
    with engine.connect() as conn:
        if villages is None:
            villages = list(conn.execute(select(Place.code).where(Place.level == "village")).scalars())
        return figures_of(conn, villages)


def place_figures(engine: Engine, codes: list[str] | None) -> dict[str, dict[str, Any]]:
    """place → its figures (None: every place)."""
    with engine.connect() as conn:
        return figures_of(conn, codes)


def total(figures: Iterable[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in figures:
        _add(out, item)
    return out


def enrollment_ratio(fig: dict[str, Any], year: int, *, hardship: bool = False) -> Ratio:
    """参保率 (or 困难群众参保率) of the year: covered / registered residents who must enroll."""
    people = fig.get("hardship" if hardship else "residents", 0)
    counts = fig.get("hardship_enrollment" if hardship else "enrollment", {}).get(str(year), {})
    covered = sum(n for s, n in counts.items() if s in EnrollmentStatus._value2member_map_
                  and EnrollmentStatus(s).is_covered)
    not_required = counts.get(EnrollmentStatus.NOT_REQUIRED.value, 0)
    return Ratio(covered, max(covered, people - not_required))


def unpaid_count(fig: dict[str, Any], year: int) -> int:
    counts = fig.get("enrollment", {}).get(str(year), {})
    recorded = sum(counts.values())
    return counts.get(EnrollmentStatus.UNPAID.value, 0) + max(0, fig.get("residents", 0) - recorded)


def assistance_ratio(fig: dict[str, Any], year: int) -> Ratio:
    """医疗救助落实率 (issue 16): 救助对象 with qualifying settlements whose every due was paid."""
    counts = fig.get("fulfilment", {}).get(str(year), {})
    return Ratio(counts.get("people_paid", 0), counts.get("people", 0))


def assistance_pending(fig: dict[str, Any], year: int) -> int:
    """待落实 items of the year."""
    return fig.get("fulfilment", {}).get(str(year), {}).get("pending", 0)


def assistance_payout_ratio(fig: dict[str, Any], year: int) -> Ratio:
    """已审核救助发放率 (the old case ratio, under its honest name)."""
    counts = fig.get("assistance", {}).get(str(year), {})
    return ent_payout(counts.get("reviewed", 0), counts.get("paid", 0))


def usage_ratios(fig: dict[str, Any], months: list[str]) -> list[tuple[str, Ratio]]:
    usage = fig.get("usage", {})
    return [(m, Ratio(*usage.get(m, [0, 0]))) for m in months]
