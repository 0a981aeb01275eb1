"""The county console over real HTTP: sign-in, lock-out, CSRF, roles, audit, dashboard, stations, reference data."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import requests
from sqlalchemy import select

from county_server.console import aggregates
from county_server.models import ConsoleAudit, PlaceAggregate
from station_app.store.models import CountyYearSetting, Enrollment

from tests.conftest import TOWNSHIP, VILLAGE_A, VILLAGE_B
from ..sync.helpers import household, member
from .conftest import ADMIN, PAST_YEAR, VIEWER


def _audit_actions(console) -> list[tuple[str, str]]:
    with console.store.engine.connect() as conn:
        return [(r.username, r.action) for r in conn.execute(select(ConsoleAudit).order_by(ConsoleAudit.id))]


def test_pages_need_sign_in_and_station_tokens_do_not_open_them(console):
    r = requests.get(console.url + "/", allow_redirects=False)
    assert r.status_code == 303 and "/console/login" in r.headers["location"]
    token = console.county.tokens["VA"]
    r = requests.get(console.url + "/stations", headers={"Authorization": f"Bearer {token}"}, allow_redirects=False)
    assert r.status_code == 303  # a station token is not a console session


def test_wrong_passwords_lock_the_account(console):
    s = requests.Session()
    for attempt in range(5):
        csrf = console.csrf(s, console.url + "/login")
        r = s.post(console.url + "/login", data={"csrf": csrf, "username": ADMIN[0], "password": "wrong-one"})
        assert r.status_code == 401
    assert "锁定" in r.text
    csrf = console.csrf(s, console.url + "/login")
    r = s.post(console.url + "/login", data={"csrf": csrf, "username": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 401 and "锁定" in r.text  # even the right password waits out the lock
    assert ("chief", "sign_in_failed") in _audit_actions(console)
    # unknown user: the same words as a wrong password
    csrf = console.csrf(s, console.url + "/login")
    r = s.post(console.url + "/login", data={"csrf": csrf, "username": "nobody", "password": "x" * 10})
    assert "用户名或密码不正确" in r.text


def test_login_without_its_csrf_cookie_is_refused(console):
    r = requests.post(console.url + "/login", data={"csrf": "forged", "username": ADMIN[0], "password": ADMIN[1]},
                      allow_redirects=False)
    assert r.status_code == 400 and "页面已过期" in r.text


def test_a_change_without_the_session_csrf_token_is_refused(console):
    s = console.session()
    r = s.post(console.url + "/settings", data={"target_card_usage": "70"})
    assert r.status_code == 403
    r = s.post(console.url + "/settings", data={"csrf": "forged", "target_card_usage": "70"})
    assert r.status_code == 403


def test_viewer_sees_everything_and_changes_nothing(console):
    s = console.session(VIEWER)
    for path in ("/", "/stations", "/reference", "/reference/county_year_setting", "/settings", "/audit"):
        assert s.get(console.url + path).status_code == 200, path
    page = s.get(console.url + "/stations").text
    assert 'id="add-station"' not in page and "重新生成令牌" not in page
    csrf = console.csrf(s, console.url + "/settings")
    settings = {"csrf": csrf, "target_enrollment": "90", "target_hardship": "100", "target_card_usage": "50",
                "target_assistance": "100", "silent_days": "7"}
    assert s.post(console.url + "/settings", data=settings).status_code == 403
    assert s.post(console.url + "/stations/add", data={"csrf": csrf, "code": "X1", "name": "x", "scope": "village",
                                                       "place_code": VILLAGE_A}).status_code == 403
    assert s.post(console.url + "/stations/VA/disable", data={"csrf": csrf}).status_code == 403
    assert s.post(console.url + "/reference/disease", data={"csrf": csrf, "code": "MB9", "name": "x"}).status_code == 403
    assert console.store.station_ctx("X1") is None
    assert all(action != "settings" for _u, action in _audit_actions(console))


def test_targets_are_county_settings_and_changes_are_audited(console):
    s = console.session()
    assert "目标 80%" in s.get(console.url + "/").text  # seed 003's 卡月使用率 target, a default
    csrf = console.csrf(s, console.url + "/settings")
    data = {"csrf": csrf, "target_enrollment": "96", "target_hardship": "100", "target_card_usage": "85",
            "target_assistance": "100", "silent_days": "3"}
    assert s.post(console.url + "/settings", data=data).status_code == 200
    assert "目标 85%" in s.get(console.url + "/").text
    bad = dict(data, target_card_usage="180")
    r = s.post(console.url + "/settings", data=bad)
    assert r.status_code == 400 and "0–100" in r.text
    assert ("chief", "settings") in _audit_actions(console)


def _enrol(station, resident_id: str, village: str, year: int, status: str) -> None:
    with station.ws.unit_of_work(station.actor, "test_enrol") as session:
        session.add(Enrollment(resident_id=resident_id, year=year, status=status, village_code=village))


def test_dashboard_drills_down_from_figures_kept_current_by_pushes(console, stations):
    (ts,) = stations(console.county, "TS")
    year = date.today().year + 1 if date.today().month >= 9 else date.today().year
    hid, head = household(ts, VILLAGE_A, "张大山")
    _enrol(ts, head, VILLAGE_A, year, "paid")
    _enrol(ts, member(ts, hid, "张小山"), VILLAGE_A, year, "unpaid")
    _hid_b, head_b = household(ts, VILLAGE_B, "李四海", special_groups=["tekun"])
    _enrol(ts, head_b, VILLAGE_B, year, "subsidised")
    ts.sync()

    s = console.session()
    page = s.get(console.url + f"/?year={year}").text
    assert "汉阴县" in page and "漩涡镇" in page
    kpi = re.search(r'id="kpi-enrollment".*?class="value">([^<]+)<.*?class="detail">([^<]+)<', page, re.S)
    assert kpi.group(1) == "66.7%" and kpi.group(2).startswith("2 / 3")
    assert re.search(r'id="kpi-hardship".*?class="value">100.0%', page, re.S)
    assert re.search(r'id="kpi-unpaid".*?class="value">1<', page, re.S)
    township = s.get(console.url + f"/?place={TOWNSHIP}&year={year}").text
    assert "群英村" in township and "堰坪村" in township
    village = s.get(console.url + f"/?place={VILLAGE_A}&year={year}").text
    assert re.search(r'id="kpi-enrollment".*?class="value">50.0%', village, re.S)
    listing = s.get(console.url + f"/list/unpaid?place={VILLAGE_A}&year={year}").text
    assert "张*山" in listing or "张" in listing
    assert "张大山" not in listing and "张小山" not in listing  # names masked (PIPL)

    # Only the village a push touched is recomputed; the other keeps its row as it was.
    with console.store.engine.connect() as conn:
        before = dict(conn.execute(select(PlaceAggregate.place_code, PlaceAggregate.seq)).all())
    _enrol(ts, household(ts, VILLAGE_A, "王五")[1], VILLAGE_A, year, "paid")
    ts.sync()
    assert aggregates.refresh(console.store.engine) == 1
    with console.store.engine.connect() as conn:
        after = dict(conn.execute(select(PlaceAggregate.place_code, PlaceAggregate.seq)).all())
    assert after[VILLAGE_B] == before[VILLAGE_B] and after[VILLAGE_A] > before[VILLAGE_A]
    assert after[TOWNSHIP] > before[TOWNSHIP]  # the township and county rows are summed again
    assert aggregates.refresh(console.store.engine) == 0  # nothing new: nothing recomputed
    assert re.search(r'id="kpi-enrollment".*?class="value">66.7%',
                     s.get(console.url + f"/?place={VILLAGE_A}&year={year}").text, re.S)


def test_month_report_exports_as_xlsx(console):
    from openpyxl import load_workbook

    s = console.session()
    r = s.get(console.url + "/report.xlsx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][:3] == ["地区", "级别", "参保率"]
    assert values[2][0] == "汉阴县（合计）" and any(v and v[0] == "漩涡镇" for v in values)
    assert ("chief", "export_report") in _audit_actions(console)


def test_station_add_shows_token_once_with_qr_and_setup_file_and_rotation(console):
    s = console.session()
    csrf = console.csrf(s, console.url + "/stations")
    r = s.post(console.url + "/stations/add", data={
        "csrf": csrf, "code": "NEW1", "name": "新村卫生室", "scope": "village", "place_code": VILLAGE_B,
        "admin_username": "doc", "admin_display_name": "王医生", "admin_password": "doc-pass-12"})
    assert r.status_code == 200
    token = re.search(r'id="token">([^<]+)<', r.text).group(1)
    assert token.startswith("ybs_") and "<svg" in r.text and 'download="NEW1.ybsetup.json"' in r.text
    assert console.store.authenticate(token).code == "NEW1"
    assert token not in s.get(console.url + "/stations").text  # shown once
    r = s.post(console.url + "/stations/NEW1/rotate", data={"csrf": csrf})
    new = re.search(r'id="token">([^<]+)<', r.text).group(1)
    assert new != token and console.store.authenticate(new).code == "NEW1"
    with pytest.raises(Exception):
        console.store.authenticate(token)
    s.post(console.url + "/stations/NEW1/disable", data={"csrf": csrf})
    with pytest.raises(Exception):
        console.store.authenticate(new)
    actions = [a for _u, a in _audit_actions(console)]
    assert {"add_station", "rotate_token", "disable_station"} <= set(actions)
    # bad input: a Chinese message, nothing added
    r = s.post(console.url + "/stations/add", data={"csrf": csrf, "code": "bad code!", "name": "x",
                                                     "scope": "village", "place_code": VILLAGE_B})
    assert r.status_code == 400 and "站点编码" in r.text


def test_station_list_shows_sync_health_and_flags_silent_ones(console, stations):
    (va,) = stations(console.county, "VA")
    household(va, VILLAGE_A)
    va.sync()
    console.store.flush_marks()
    s = console.session()
    page = s.get(console.url + "/stations").text
    row = re.search(r'data-code="VA">(.*?)</tr>', page, re.S).group(1)
    from station_app import __version__

    assert __version__ in row and "秒" in row  # app version and clock drift noted at the push
    assert "从未" not in row and "未同步" not in row
    silent = re.search(r'data-code="VB">(.*?)</tr>', page, re.S).group(1)
    assert "从未" in silent and "天未同步" in silent


def test_reference_edit_is_validated_versioned_and_reaches_a_station(console, stations):
    (va,) = stations(console.county, "VA")
    va.sync()
    s = console.session()
    from county_server.console.refdata import rows_of

    years = {r.data["year"]: r for r in rows_of(console.store.engine, "county_year_setting")}
    target_year = max(years)
    row = years[target_year]
    csrf = console.csrf(s, console.url + "/reference/county_year_setting")
    form = {"csrf": csrf, "row_id": row.row_id, "premium_fen": "420", "collection_start": row.data["collection_start"],
            "deadline": row.data["deadline"], "fiscal_subsidy_fen": ""}
    r = s.post(console.url + "/reference/county_year_setting", data=form)
    assert r.status_code == 200 and "v2" in r.text, r.text  # redirected to the list, version 2
    # invalid: a negative premium, a window ending before it opens
    r = s.post(console.url + "/reference/county_year_setting", data=dict(form, premium_fen="-1"))
    assert r.status_code == 400 and "金额" in r.text
    r = s.post(console.url + "/reference/county_year_setting", data=dict(form, deadline="2000-01-01"))
    assert r.status_code == 400 and "不能晚于" in r.text
    # a past year is never rewritten
    past = years[PAST_YEAR]
    r = s.post(console.url + "/reference/county_year_setting", data=dict(form, row_id=past.row_id))
    assert r.status_code == 400 and "往年" in r.text
    assert rows_of(console.store.engine, "county_year_setting")[0].data["premium_fen"] == 38000
    # the station gets the new premium with its next sync
    va.sync()
    with va.ws.read() as session:
        setting = session.scalar(select(CountyYearSetting).where(CountyYearSetting.year == target_year))
    assert setting.premium_fen == 42000
    audit = _audit_actions(console)
    assert ("chief", "edit_reference") in audit


def test_a_new_catalogue_entry_is_added_and_a_duplicate_refused(console):
    s = console.session()
    csrf = console.csrf(s, console.url + "/reference/disease")
    data = {"csrf": csrf, "code": "MB077", "name": "慢性阻塞性肺疾病", "category": "呼吸类", "annual_limit_fen": "3000",
            "active": "1"}
    assert s.post(console.url + "/reference/disease", data=data).status_code == 200
    assert "慢性阻塞性肺疾病" in s.get(console.url + "/reference/disease").text
    r = s.post(console.url + "/reference/disease", data=data)
    assert r.status_code == 400 and "已有相同" in r.text


@pytest.mark.postgres
def test_dashboard_and_reference_edit_on_postgresql(pg_console, stations):
    (va,) = stations(pg_console.county, "VA")
    year = date.today().year + 1 if date.today().month >= 9 else date.today().year
    _enrol(va, household(va, VILLAGE_A, "周一")[1], VILLAGE_A, year, "paid")
    va.sync()
    s = pg_console.session()
    page = s.get(pg_console.url + f"/?place={VILLAGE_A}&year={year}").text
    assert re.search(r'id="kpi-enrollment".*?class="value">100.0%', page, re.S)
    csrf = pg_console.csrf(s, pg_console.url + "/reference/assistance_type")
    from county_server.console.refdata import rows_of

    row = rows_of(pg_console.store.engine, "assistance_type")[0]
    r = s.post(pg_console.url + "/reference/assistance_type", data={"csrf": csrf, "row_id": row.row_id,
                                                                    "name": "住院医疗救助", "active": "1"})
    assert r.status_code == 200
    va.sync()
    from station_app.store.models import AssistanceType

    with va.ws.read() as session:
        assert session.scalar(select(AssistanceType.name).where(AssistanceType.code == row.data["code"])) == "住院医疗救助"
