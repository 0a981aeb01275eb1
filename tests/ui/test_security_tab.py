"""设置 → 安全: pinning the county's self-signed certificate (real TLS server, real certificate) and
making a new recovery key, shown once, with the old one retired — driven through the widgets."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from station_app.domain.errors import PermissionDenied
from station_app.services.changes import Actor
from station_app.services.workspace import Workspace
from station_app.store.keys import WrongPassword
from station_app.store.models import AuditEntry
from station_app.sync.client import SyncClient, SyncError
from station_app.sync.settings import format_fingerprint, set_server, set_tls_pin, tls_pin, tls_transport
from station_app.ui.dialogs.recovery_key_dialog import RecoveryKeyDialog
from station_app.ui.sections.security_tab import NOT_PINNED
from station_app.ui.sections.settings_page import SettingsPage
from tests.conftest import ADMIN_PASSWORD, VILLAGE_A
from tests.sync.test_tls import _certificate, https_server  # noqa: F401 - the real self-signed server

TOKEN = "t" * 32


def _health(ws: Workspace, url: str) -> dict:
    return SyncClient(url, TOKEN, transport=tls_transport(ws), max_attempts=1).health()


def _page(qtbot, ws, actor, tasks, tmp_path) -> SettingsPage:
    page = SettingsPage(ws, actor, tasks=tasks, backups_dir=tmp_path / "b")
    qtbot.addWidget(page)
    page.show()
    return page


def _audit(ws: Workspace, action: str) -> list[AuditEntry]:
    with ws.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_pem_file_pinned_from_settings_trusts_the_county_and_removing_it_refuses_again(
        qtbot, township_ws, tasks, tmp_path, https_server, monkeypatch):  # noqa: F811
    ws, admin = township_ws
    url, cert_path, fingerprint = https_server
    box = _page(qtbot, ws, admin, tasks, tmp_path).security_tab.certificate_box
    assert box.state_label.text() == NOT_PINNED and not box.remove_button.isEnabled()
    with pytest.raises(SyncError) as refused:
        _health(ws, url)
    assert refused.value.code == "tls_untrusted" and "设置 → 安全" in refused.value.message

    box.pin_file(cert_path)
    assert format_fingerprint(fingerprint) in box.state_label.text()
    assert tls_pin(ws).kind == "file" and box.remove_button.isEnabled()
    assert _health(ws, url) == {"ok": True}
    assert fingerprint.upper()[:2] in _audit(ws, "sync_tls_pin")[-1].summary

    monkeypatch.setattr(box, "confirm_remove", lambda: True)
    box.remove_button.click()
    assert box.state_label.text() == NOT_PINNED and not tls_pin(ws).pinned
    with pytest.raises(SyncError, match="证书"):
        _health(ws, url)  # verification was never off: without the pin the server is refused


def test_the_server_certificate_is_read_shown_and_pinned_only_once_confirmed(
        qtbot, township_ws, tasks, tmp_path, https_server, monkeypatch):  # noqa: F811
    ws, admin = township_ws
    url, _cert_path, fingerprint = https_server
    set_server(ws, admin, url, TOKEN)
    box = _page(qtbot, ws, admin, tasks, tmp_path).security_tab.certificate_box
    shown = []
    monkeypatch.setattr(box, "confirm_certificate", lambda info: shown.append(info) or False)
    box.fetch_button.click()
    assert shown and shown[0].fingerprint == fingerprint and shown[0].self_signed
    assert not tls_pin(ws).pinned  # not confirmed: nothing trusted
    with pytest.raises(SyncError):
        _health(ws, url)

    monkeypatch.setattr(box, "confirm_certificate", lambda info: True)
    box.fetch_button.click()
    assert tls_pin(ws).kind == "fingerprint" and tls_pin(ws).fingerprint == fingerprint
    assert format_fingerprint(fingerprint) in box.state_label.text()
    assert _health(ws, url) == {"ok": True}


def test_a_typed_fingerprint_of_another_certificate_does_not_trust_the_server(
        qtbot, township_ws, tasks, tmp_path, https_server):  # noqa: F811
    ws, admin = township_ws
    url, _cert_path, _fingerprint = https_server
    _other, _key, other_fp = _certificate(tmp_path, "impostor")
    page = _page(qtbot, ws, admin, tasks, tmp_path)
    box = page.security_tab.certificate_box
    box.fingerprint_edit.setText("12:34")
    box.fingerprint_button.click()
    assert not tls_pin(ws).pinned and "64 位十六进制" in page.state_label.text()
    box.fingerprint_edit.setText(other_fp)
    box.fingerprint_button.click()
    assert tls_pin(ws).fingerprint == other_fp
    with pytest.raises(SyncError, match="证书"):
        _health(ws, url)


def test_a_village_doctor_sees_the_pin_but_cannot_change_it(qtbot, township_ws, tasks, tmp_path, https_server):  # noqa: F811
    from station_app.services.auth import login
    from station_app.services.users import add_user

    ws, admin = township_ws
    _url, cert_path, fingerprint = https_server
    set_tls_pin(ws, admin, fingerprint=fingerprint)
    add_user(ws, admin, username="cy01", display_name="李医生", role="village_doctor", place_code=VILLAGE_A,
             password="doctor-pass-1")
    doctor = login(ws, "cy01", "doctor-pass-1")
    tab = _page(qtbot, ws, doctor, tasks, tmp_path).security_tab
    assert format_fingerprint(fingerprint) in tab.certificate_box.state_label.text()
    assert not tab.certificate_box.file_button.isVisible() and not tab.certificate_box.remove_button.isVisible()
    assert tab.recovery_box is None
    with pytest.raises(PermissionDenied):
        set_tls_pin(ws, doctor, ca_file=str(cert_path))


# -- the recovery key ------------------------------------------------------------------------


@pytest.fixture
def shown_keys(monkeypatch):
    """RecoveryKeyDialog.exec records the dialog instead of waiting for a person."""
    shown: list[RecoveryKeyDialog] = []

    def exec_(self):
        shown.append(self)
        return 1

    monkeypatch.setattr(RecoveryKeyDialog, "exec", exec_)
    return shown


def test_an_admin_makes_a_new_recovery_key_shown_once_and_the_old_one_stops_working(
        qtbot, township_ws, tasks, tmp_path, monkeypatch, shown_keys):
    ws, admin = township_ws
    old = ws.pending_recovery_key  # made at set-up
    assert old
    box = _page(qtbot, ws, admin, tasks, tmp_path).security_tab.recovery_box
    monkeypatch.setattr(box, "confirm", lambda: True)
    box.password_edit.setText(ADMIN_PASSWORD)
    box.new_button.click()
    assert len(shown_keys) == 1
    new = shown_keys[0].recovery
    assert new != old and new in shown_keys[0].key_label.text()
    assert "只显示这一次" in shown_keys[0].warning.text() and "打印" in shown_keys[0].warning.text()
    assert box.password_edit.text() == "" and box.dialog is None

    with pytest.raises(WrongPassword):
        Workspace.open(ws.db_path, recovery_key=old)
    with Workspace.open(ws.db_path, recovery_key=new) as opened:
        assert opened.is_set_up
    entries = _audit(ws, "recovery_key")
    assert len(entries) == 1 and entries[0].username == "admin"
    assert new not in entries[0].summary and new.replace("-", "") not in entries[0].summary


def test_a_wrong_password_makes_no_new_recovery_key(qtbot, township_ws, tasks, tmp_path, monkeypatch, shown_keys):
    ws, admin = township_ws
    old = ws.pending_recovery_key
    page = _page(qtbot, ws, admin, tasks, tmp_path)
    box = page.security_tab.recovery_box
    monkeypatch.setattr(box, "confirm", lambda: True)
    box.password_edit.setText("not-the-password")
    box.new_button.click()
    assert not shown_keys and "密码错误" in page.state_label.text()
    assert box.new_button.isEnabled()
    with Workspace.open(ws.db_path, recovery_key=old) as opened:
        assert opened.is_set_up
    assert not _audit(ws, "recovery_key")


def test_only_an_administrator_makes_a_recovery_key(township_ws):
    from station_app.services.recovery import new_recovery_key

    ws, _admin = township_ws
    clerk = Actor("zg01", "王专干", "township_clerk", "610921103000", "XW-TS")
    with pytest.raises(PermissionDenied):
        new_recovery_key(ws, clerk, "whatever")


def test_the_recovery_key_dialog_closes_only_once_written_down(qtbot):
    dialog = RecoveryKeyDialog("ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2", station_name="漩涡镇医保服务中心")
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.close_button.isEnabled()
    dialog.reject()  # Esc before ticking: still open
    assert dialog.isVisible()
    dialog.confirm.setChecked(True)
    assert dialog.close_button.isEnabled()
    text = dialog.document().toPlainText()
    assert "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2" in text and "漩涡镇医保服务中心" in text
    dialog.close_button.click()
    assert dialog.result() == RecoveryKeyDialog.DialogCode.Accepted


def test_the_first_run_setup_shows_the_recovery_key_once(qapp, workspace, monkeypatch, shown_keys):
    """Set-up in the GUI, then sign-in: the recovery key appears exactly once and it opens the file."""
    from PySide6.QtWidgets import QApplication

    from station_app.services.reference import load_reference
    from station_app.ui import app as app_module
    from station_app.ui.setup_dialog import SetupDialog
    from tests.conftest import SMALL_REFERENCE, TOWNSHIP

    load_reference(workspace, SMALL_REFERENCE)

    def run_setup(self):
        self.code_edit.setText("XW-TS")
        self.name_edit.setText("漩涡镇医保服务中心")
        self.place_edit.setText(TOWNSHIP)
        self.scope_combo.setCurrentIndex(self.scope_combo.findData("township"))
        self.username_edit.setText("admin")
        self.password_edit.setText("secret-1")
        self.password_again_edit.setText("secret-1")
        self.submit()
        return self.result()

    windows = []
    real_build = app_module.build_main_window
    monkeypatch.setattr(SetupDialog, "exec", run_setup)
    monkeypatch.setattr(app_module, "build_main_window",
                        lambda *a, **k: windows.append(real_build(*a, **k)) or windows[-1])
    monkeypatch.setattr(QApplication, "exec", lambda self=None: 0)
    monkeypatch.setenv(app_module.AUTOLOGIN_ENV, "admin:secret-1")
    tasks = app_module.TaskManager.synchronous()
    assert app_module._run_signed_in(qapp, workspace, tasks, None) == 0
    assert len(shown_keys) == 1 and workspace.pending_recovery_key is None
    assert windows and windows[0].actor.username == "admin"
    windows[0].close()
    with Workspace.open(workspace.db_path, recovery_key=shown_keys[0].recovery) as opened:
        assert opened.station.name == "漩涡镇医保服务中心"
