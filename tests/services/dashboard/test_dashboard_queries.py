"""The 工作台's two 参保率 (collection year and year in force) come from ONE pass over the residents.

bench/bench_dashboard.py measured the second 参保率 query as the largest part of the slow-down
after the year in force was added; the figures must stay what ``enrollment_kpis`` gives per year.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import event

from station_app.services import enrollment as en
from station_app.services.dashboard import load_dashboard

from ..enrollment.town import TODAY, YEAR, build_town


def _two_years(township_ws):
    ws, admin = township_ws
    town = build_town(ws, admin)  # 周老汉 died 2026-10-01: a resident of 2026, not of 2027
    en.start_new_year(ws, admin, YEAR)
    en.start_new_year(ws, admin, YEAR - 1)
    en.mark_paid(ws, admin, [town["赵六"]], YEAR - 1, paid_on=date(2025, 10, 20), channel="wechat", today=TODAY)
    en.mark_paid(ws, admin, [town["张大山"], town["刘桂兰"]], YEAR, paid_on=date(2026, 10, 20), channel="wechat",
                 today=TODAY)
    return ws, admin, town


def test_kpis_of_two_years_in_one_query_equal_each_year_alone(township_ws):
    ws, admin, town = _two_years(township_ws)
    both = en.enrollment_kpis_of_years(ws, admin, [YEAR, YEAR - 1])
    assert both[YEAR] == en.enrollment_kpis(ws, admin, YEAR)
    assert both[YEAR - 1] == en.enrollment_kpis(ws, admin, YEAR - 1)
    assert both[YEAR] != both[YEAR - 1]  # the years differ: 周老汉 counts in one only, payments differ
    doctor = town.doctor()
    scoped = en.enrollment_kpis_of_years(ws, doctor, [YEAR, YEAR - 1])
    assert scoped[YEAR - 1] == en.enrollment_kpis(ws, doctor, YEAR - 1)


def test_dashboard_reads_both_years_rates_in_one_resident_pass(township_ws):
    ws, admin, _town = _two_years(township_ws)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()).lower())

    event.listen(ws.engine, "before_cursor_execute", record)
    try:
        board = load_dashboard(ws, admin, today=TODAY)
    finally:
        event.remove(ws.engine, "before_cursor_execute", record)
    assert (board.year, board.in_force_year) == (YEAR, YEAR - 1)
    assert board.kpis == en.enrollment_kpis(ws, admin, YEAR)
    assert board.in_force_kpis == en.enrollment_kpis(ws, admin, YEAR - 1)
    rate_passes = [s for s in statements if s.startswith("select resident.village_code, resident.group_code, "
                                                         "resident.special_groups")]
    assert len(rate_passes) == 1, rate_passes
