"""The lazy table model fetches only the pages the view asks for, and keeps the cache bounded."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import Qt

from station_app.ui.models.lazy_table import ID_ROLE, VALUE_ROLE, Column, LazyTableModel

IDS = [f"id-{i:05d}" for i in range(60_000)]


def make_model(requested: list[list[str]], **kwargs) -> LazyTableModel:
    def fetch(ids):
        requested.append(list(ids))
        return {i: {"name": f"名{i[-5:]}", "born": date(1950, 1, 1), "paid": True} for i in ids}

    columns = [Column("name", "姓名"), Column("born", "出生日期"), Column("paid", "已缴", sort_key=None)]
    model = LazyTableModel(columns, fetch, page_size=100, **kwargs)
    model.set_ids(IDS)
    return model


def test_only_visible_pages_are_fetched():
    requested: list[list[str]] = []
    model = make_model(requested)
    assert model.rowCount() == 60_000 and requested == []
    assert model.data(model.index(12_345, 0)) == "名12345"
    assert model.data(model.index(12_399, 1)) == "1950-01-01"
    assert model.data(model.index(12_300, 2)) == "是"
    assert requested == [IDS[12_300:12_400]]  # one page, fetched once
    assert model.data(model.index(5, 0), ID_ROLE) == "id-00005"
    assert model.data(model.index(5, 1), VALUE_ROLE) == date(1950, 1, 1)


def test_cache_is_bounded_and_refresh_refetches():
    requested: list[list[str]] = []
    model = make_model(requested, max_cached_pages=3)
    for page in range(5):
        model.data(model.index(page * 100, 0))
    assert len(requested) == 5
    model.data(model.index(0, 0))  # page 0 was evicted
    assert len(requested) == 6
    model.data(model.index(450, 0))  # page 4 still cached
    assert len(requested) == 6
    changed = []
    model.dataChanged.connect(lambda top, bottom: changed.append((top.row(), bottom.row())))
    model.refresh_ids(["id-00450"])
    assert changed == [(450, 450)]
    model.data(model.index(450, 0))
    assert requested[-1] == IDS[400:500]


def test_sorting_is_delegated_to_the_owner():
    requested: list[list[str]] = []
    model = make_model(requested)
    asked = []
    model.on_sort = lambda key, ascending: asked.append((key, ascending))
    model.sort(0, Qt.SortOrder.DescendingOrder)
    model.sort(2)  # not sortable
    assert asked == [("name", False)]
    assert model.row_of("id-59999") == 59_999
