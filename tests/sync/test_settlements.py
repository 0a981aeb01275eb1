"""结算 from the county: server-authored, delivered to the resident's village stations, read-only there."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from station_app.domain.errors import PermissionDenied, ValidationError
from sync_protocol.hlc import Timestamp
from county_server.settlements import parse_row
from station_app.store.models import Resident, Settlement
from sync_protocol.protocol import Reason

from .helpers import household
from tests.conftest import VILLAGE_A


def settlement(id_number: str, number: str = "JS20260503000001", **changes) -> dict:
    raw = {"settlement_no": number, "id_number": id_number, "settled_on": "2026-05-03",
           "admitted_on": "2026-04-25", "hospital": "汉阴县人民医院", "hospital_level": "county",
           "kind": "inpatient", "route": "in_county", "total_yuan": 12000, "basic_insurance_yuan": 7000,
           "serious_illness_yuan": 0, "policy_self_pay_yuan": 4000, **changes}
    return parse_row(raw, 1)


def test_settlements_reach_the_residents_village_and_township_only(county, stations):
    village, other, township = stations(county, "VA", "VB", "TS")
    _hid, head = household(village, VILLAGE_A, "王大明")
    village.sync()
    with village.ws.read() as session:
        id_number = session.get(Resident, head).id_number
    counts = county.store.load_settlements([settlement(id_number), settlement("11010519491231002X", "JS2")])
    assert counts == {"inserted": 1, "updated": 0, "unchanged": 0, "unknown": 1}
    # Loading the same file again changes nothing; a corrected row is updated.
    assert county.store.load_settlements([settlement(id_number)])["unchanged"] == 1
    assert county.store.load_settlements([settlement(id_number, policy_self_pay_yuan=4500)])["updated"] == 1
    for station in (village, other, township):
        station.sync()
    rows = {}
    for station in (village, other, township):
        with station.ws.read() as session:
            rows[station] = list(session.scalars(select(Settlement)))
    assert [(r.resident_id, r.policy_self_pay_fen, r.village_code) for r in rows[village]] == [
        (head, 450_000, VILLAGE_A)]
    assert len(rows[township]) == 1 and rows[other] == []


def test_a_station_cannot_write_a_settlement(county, stations):
    (village,) = stations(county, "VA")
    with pytest.raises(PermissionDenied, match="结算数据由县医保局下发"):
        with village.ws.unit_of_work(village.actor, "tamper") as session:
            session.add(Settlement(settlement_no="X1", resident_id=str(uuid.uuid4()), village_code=VILLAGE_A,
                                   settled_on=date(2026, 5, 3), kind="inpatient"))


def test_the_server_refuses_a_pushed_settlement(county):
    ctx = county.store.station_ctx("VA")
    op = {"op_id": str(uuid.uuid4()), "t": "settlement", "id": str(uuid.uuid4()), "k": "insert",
          "f": {"settlement_no": "X1", "resident_id": str(uuid.uuid4()), "village_code": VILLAGE_A,
                "settled_on": "2026-05-03", "kind": "inpatient"}, "bv": 0,
          "h": Timestamp(1_800_000_000_000, 0, "VA").pack()}
    answer = county.store.push(ctx, {"batch_id": str(uuid.uuid4()), "ops": [op]})
    assert answer["results"][0]["status"] == "rejected"
    assert answer["results"][0]["reason"] == Reason.SERVER_AUTHORED
    assert "结算数据由县医保局下发" in answer["results"][0]["message"]


def test_a_bad_settlement_file_row_says_why_in_chinese():
    with pytest.raises(ValidationError, match="身份证号不正确"):
        settlement("123")
    with pytest.raises(ValidationError, match="超过总费用"):
        settlement("11010519491231002X", basic_insurance_yuan=20000)
    with pytest.raises(ValidationError, match="inpatient"):
        settlement("11010519491231002X", kind="x")


def test_the_county_console_figures_use_the_new_fulfilment_rate(county, stations):
    """Issue 16: the county's 医疗救助落实率 counts 救助对象 with settlements due, not cases applied."""
    from dataclasses import replace

    from county_server.console import aggregates
    from station_app.services import assistance, entitlement

    from tests.conftest import COUNTY

    county.store.load_reference({"county": {"code": COUNTY, "name": "汉阴县"}, "assistance_rules": [
        {"year": 2026, "subject_class": 2, "kind": "inpatient", "ratio_pct": 70, "annual_limit_yuan": 20000}]})
    (village,) = stations(county, "VA")
    _hid, head = household(village, VILLAGE_A, "王秀英", special_groups=("dibao",))
    village.sync()
    with village.ws.read() as session:
        id_number = session.get(Resident, head).id_number
    county.store.load_settlements([settlement(id_number, total_yuan=16000, policy_self_pay_yuan=8000)])
    aggregates.refresh(county.store.engine, today=date(2026, 11, 23), full=True)
    fig = aggregates.total(aggregates.village_figures(county.store.engine, None).values())
    assert aggregates.assistance_ratio(fig, 2026) == entitlement_ratio(0, 1)
    assert aggregates.assistance_pending(fig, 2026) == 1
    # The village opens a case for it and pays it: the county's figure follows after sync.
    village.sync()
    data = entitlement.settlement_case_input(village.ws, village.actor, entitlement.pending_list(
        village.ws, village.actor, 2026)[0].due.settlement_id)
    case = assistance.create_case(village.ws, village.actor, replace(
        data, assistance_fen=560_000, self_pay_fen=data.self_pay_fen - 560_000), today=date(2026, 11, 23))
    assistance.review_case(village.ws, village.actor, case, today=date(2026, 11, 23))
    assistance.pay_case(village.ws, village.actor, case, today=date(2026, 11, 23))
    village.sync()
    aggregates.refresh(county.store.engine, today=date(2026, 11, 23))
    fig = aggregates.total(aggregates.village_figures(county.store.engine, None).values())
    assert aggregates.assistance_ratio(fig, 2026) == entitlement_ratio(1, 1)
    assert aggregates.assistance_pending(fig, 2026) == 0
    assert fig["fulfilment"]["2026"]["paid_fen"] == fig["fulfilment"]["2026"]["entitled_fen"] == 560_000


def entitlement_ratio(paid: int, people: int):
    from station_app.domain.kpi import Ratio

    return Ratio(paid, people)


def test_load_settlements_cli(tmp_path, capsys):
    import json

    from county_server.cli import main

    url = f"sqlite:///{tmp_path / 'county.db'}"
    good = tmp_path / "s.json"
    good.write_text(json.dumps({"settlements": [{
        "settlement_no": "JS1", "id_number": "11010519491231002X", "settled_on": "2026-05-03",
        "hospital_level": "county", "kind": "inpatient", "total_yuan": 100, "policy_self_pay_yuan": 30}]}),
        encoding="utf-8")
    assert main(["--db-url", url, "load-settlements", str(good)]) == 0
    assert "1 条找不到参保居民（未下发）" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"settlement_no": "JS2", "id_number": "123"}]), encoding="utf-8")
    assert main(["--db-url", url, "load-settlements", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "身份证号不正确" in err and "Traceback" not in err
