"""The demo township's 待落实 and 医疗救助落实率, recomputed independently from the rules and the rows.

The recomputation below uses plain SQL and its own arithmetic (docs/FIGURES.md's definition),
not ``domain.entitlement``: if either drifts from the documented definition, they disagree.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from station_app.services import entitlement
from station_app.services.changes import system_actor
from station_app.services.demo import DEFAULT_TODAY, build_demo
from station_app.services.workspace import Workspace
from station_app.store.encryption import connect_known

#: 一至三类 by special-group code (DOMAIN_FACTS_zh.md §3), written out again on purpose.
CLASS_OF_CODE = {"tekun": 1, "orphan": 1, "dibao": 2, "fanpin": 2, "dibao_edge": 3, "unstable": 3, "edge_poor": 3,
                 "sudden": 3, "monitor": 3}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_entitlement")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STATION_APP_DATA_DIR", str(root / "userdata"))
        build_demo(root / "demo.db", villages=3, residents=4000, seed=3)
    return root / "demo.db"


def recompute(path, year: int) -> dict:
    db = connect_known(path)  # the demo database is encrypted like any station's
    rules = {(c, k): dict(zip(("ded", "ratio", "self_ratio", "limit", "tilt_at", "tilt_pct", "tilt_limit"), rest))
             for c, k, *rest in db.execute(
                 "SELECT subject_class, kind, deductible_fen, ratio_pct, self_referred_ratio_pct, annual_limit_fen,"
                 " tilt_threshold_fen, tilt_ratio_pct, tilt_limit_fen FROM assistance_rule"
                 " WHERE year = ? AND deleted = 0", (year,))}
    groups = dict(db.execute("SELECT id, special_groups FROM resident WHERE special_groups != ''"))
    cases: dict[str, tuple[str, int]] = {}
    for sid, status, amount in db.execute(
            "SELECT settlement_id, status, assistance_fen FROM assistance_case"
            " WHERE settlement_id IS NOT NULL AND deleted = 0 ORDER BY applied_date"):
        if sid not in cases or cases[sid][0] != "paid":
            cases[sid] = (status, amount)
    reviewed = {r[0] for r in db.execute("SELECT settlement_id FROM settlement_review WHERE deleted = 0")}
    rows = db.execute(
        "SELECT id, resident_id, village_code, kind, route, policy_self_pay_fen FROM settlement"
        " WHERE deleted = 0 AND settled_on BETWEEN ? AND ? ORDER BY resident_id, settled_on, settlement_no",
        (f"{year}-01-01", f"{year}-12-31")).fetchall()
    people: dict[str, list] = defaultdict(list)
    for row in rows:
        people[row[1]].append(row)
    out = dict(people=0, paid_people=0, entitled=0, paid=0, pending=0, pending_fen=0)
    by_village: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rid, visits in people.items():
        classes = [CLASS_OF_CODE[c] for c in groups.get(rid, "").split(",") if c in CLASS_OF_CODE]
        if not classes:
            continue
        klass = min(classes)
        ded_used = used = burden = tilt_used = 0
        due = []
        for sid, _rid, village, kind, route, base in visits:
            r = rules[(klass, kind)]
            taken = min(base, max(0, r["ded"] - ded_used))
            ratio = r["self_ratio"] if route == "self_referred" else r["ratio"]
            regular = min(((base - taken) * ratio + 50) // 100, max(0, r["limit"] - used))
            new_burden = burden + base - regular
            tilt = 0
            if r["tilt_at"] and r["tilt_pct"]:
                over = max(0, new_burden - r["tilt_at"]) - max(0, burden - r["tilt_at"])
                tilt = min((over * r["tilt_pct"] + 50) // 100, max(0, r["tilt_limit"] - tilt_used))
            suggested = regular + tilt
            case = cases.get(sid)
            granted = case[1] if case and case[0] != "refused" else suggested
            if case and case[0] != "refused" and granted != suggested:
                granted = max(0, min(granted, base))
                regular, tilt = min(granted, regular), granted - min(granted, regular)
                new_burden = burden + base - granted
            else:
                new_burden -= tilt
            ded_used, used, burden, tilt_used = ded_used + taken, used + regular, new_burden, tilt_used + tilt
            if suggested <= 0 or sid in reviewed:
                continue
            due.append((suggested, case, village))
        if not due:
            continue
        out["people"] += 1
        paid_all = all(c is not None and c[0] == "paid" for _s, c, _v in due)
        out["paid_people"] += paid_all
        by_village[due[0][2]][0] += 1
        by_village[due[0][2]][1] += paid_all
        for suggested, case, _v in due:
            out["entitled"] += suggested
            if case is not None and case[0] == "paid":
                out["paid"] += min(case[1], suggested)
            if case is None:
                out["pending"] += 1
                out["pending_fen"] += suggested
    out["villages"] = {v: tuple(n) for v, n in by_village.items()}
    db.close()
    return out


def test_pending_and_fulfilment_match_an_independent_recomputation(demo_db):
    year = DEFAULT_TODAY.year
    expected = recompute(demo_db, year)
    ws = Workspace.open(demo_db)
    try:
        actor = system_actor(ws.station.code)
        figures = entitlement.year_entitlements(ws, actor, year)
        pending = entitlement.pending_list(ws, actor, year)
    finally:
        ws.close()
    total = figures.total
    assert (total.people, total.people_paid, total.entitled_fen, total.paid_fen, total.pending, total.pending_fen) == (
        expected["people"], expected["paid_people"], expected["entitled"], expected["paid"], expected["pending"],
        expected["pending_fen"])
    assert {v: (f.people, f.people_paid) for v, f in figures.villages.items()} == expected["villages"]
    assert len(pending) == expected["pending"]
    # The demo is a realistic township: most entitled people assisted, some items still open.
    assert expected["people"] > 20 and 0 < expected["pending"] < expected["people"]
    assert 0.3 < figures.rate.value < 1.0


def test_cli_prints_the_figures_by_village_and_the_pending_list(demo_db, capsys):
    from station_app.cli.main import main

    year = DEFAULT_TODAY.year
    expected = recompute(demo_db, year)
    assert main(["assistance-figures", "--db", str(demo_db), "--year", str(year)]) == 0
    out = capsys.readouterr().out.splitlines()
    total = out[-2].split("\t")
    assert total[0] == "合计" and (int(total[1]), int(total[2])) == (expected["people"], expected["paid_people"])
    assert main(["pending-assistance", "--db", str(demo_db), "--year", str(year)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith(f"—— 待落实 {expected['pending']} 笔")
    assert all("********" in line for line in out[:-1])  # ID numbers masked
