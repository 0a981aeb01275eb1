"""On screen, minimum necessary: the list and the detail panel show masked ID numbers and phones;
「显示」 reveals one record's for a minute and writes an audit entry."""

from __future__ import annotations

from sqlalchemy import select

from station_app.store.models import AuditEntry, Resident


def test_ids_and_phones_are_masked_until_shown_and_showing_is_audited(qtbot, page):
    tab = page.registry
    ws = tab.ctx.ws
    id_col = next(i for i, c in enumerate(tab.model.columns) if c.key == "id_number")
    phone_col = next(i for i, c in enumerate(tab.model.columns) if c.key == "phone")
    with ws.read() as session:
        people = {r.id: (r.id_number, r.phone) for r in session.scalars(select(Resident))}
    for row in range(tab.model.rowCount()):
        full_id, phone = people[tab.model.id_at(row)]
        shown = tab.model.index(row, id_col).data()
        assert full_id not in shown and "*" in shown and shown[:6] == full_id[:6]
        if phone:
            assert phone not in tab.model.index(row, phone_col).data()
    tab.table.selectRow(2)
    qtbot.waitUntil(lambda: tab.panel.resident is not None and tab.panel.resident.id == tab.model.id_at(2),
                    timeout=30_000)
    full_id, phone = people[tab.model.id_at(2)]
    assert full_id not in tab.panel.fields["id_number"].text()
    assert not phone or phone not in tab.panel.fields["phone"].text()

    tab.panel.reveal_button.click()
    qtbot.waitUntil(lambda: tab.panel.fields["id_number"].text() == full_id, timeout=30_000)
    assert not phone or tab.panel.fields["phone"].text() == phone
    with ws.read() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "reveal")).all()
    assert [(e.username, e.row_id) for e in entries] == [("admin", tab.model.id_at(2))]
    assert full_id not in entries[0].summary
    # a minute later (the timer fires) it is masked again; another record starts masked
    assert tab.panel._remask.isActive() and tab.panel._remask.interval() == 60_000
    tab.panel._remask.timeout.emit()
    assert full_id not in tab.panel.fields["id_number"].text()
    tab.panel.reveal_button.click()
    qtbot.waitUntil(lambda: tab.panel.fields["id_number"].text() == full_id, timeout=30_000)
    tab.table.selectRow(3)
    qtbot.waitUntil(lambda: tab.panel.resident.id == tab.model.id_at(3), timeout=30_000)
    assert people[tab.model.id_at(3)][0] not in tab.panel.fields["id_number"].text()
