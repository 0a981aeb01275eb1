"""The background-task helper: results and errors arrive on the main thread; fake pool runs inline."""

from __future__ import annotations

import threading

from station_app.ui.tasks import FakeThreadPool, TaskManager


def test_synchronous_manager_runs_inline(tasks):
    seen = []
    tasks.run_read(lambda: 41 + 1, seen.append)
    assert seen == [42]
    assert tasks.pending_count == 0
    assert isinstance(tasks.pool("write"), FakeThreadPool)


def test_error_goes_to_on_error(tasks):
    errors = []
    tasks.run_write(lambda: 1 / 0, lambda _v: None, errors.append)
    assert isinstance(errors[0], ZeroDivisionError)


def test_results_come_back_on_the_main_thread(qtbot, threaded_tasks):
    seen = []

    def work():
        return threading.current_thread() is threading.main_thread()

    for kind in ("read", "write", "network"):
        threaded_tasks.run(kind, work, lambda ran_on_main: seen.append(
            (ran_on_main, threading.current_thread() is threading.main_thread())))
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=30_000)
    assert seen == [(False, True)] * 3  # worked off the main thread, delivered on it


def test_writer_pool_has_one_thread(threaded_tasks):
    assert threaded_tasks.pool("write").maxThreadCount() == 1
    assert threaded_tasks.pool("network").maxThreadCount() == 1


def test_unhandled_error_reaches_excepthook(qtbot, tasks, monkeypatch):
    import sys

    caught = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: caught.append(exc[1]))
    tasks.run_read(lambda: [][1])
    assert isinstance(caught[0], IndexError)


def test_busy_count_signal(qtbot):
    manager = TaskManager.synchronous()
    counts = []
    manager.busy_changed.connect(counts.append)
    manager.run_read(lambda: None)
    assert counts == [1, 0]


def test_outcome_for_a_deleted_owner_is_dropped(qtbot, threaded_tasks):
    import shiboken6
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    seen = []
    threaded_tasks.run_read(lambda: "late", lambda v: seen.append(label.setText(v)), owner=label)
    shiboken6.delete(label)  # the window closed before the answer came
    qtbot.waitUntil(lambda: threaded_tasks.pending_count == 0, timeout=30_000)
    assert seen == []


def test_handled_errors_are_logged_once_with_id_numbers_masked(tasks, caplog):
    from station_app.log import RedactingFilter

    caplog.handler.addFilter(RedactingFilter())
    shown = []
    tasks.run_write(lambda: (_ for _ in ()).throw(RuntimeError("UNIQUE failed: 11010519491231002X")),
                    None, shown.append, name="save")
    assert len(shown) == 1
    records = [r for r in caplog.records if "background task save failed" in r.getMessage()]
    assert len(records) == 1
    assert "11010519491231002X" not in caplog.text
    assert "110105********002X" in caplog.text


def test_domain_errors_are_not_logged_as_failures(tasks, caplog):
    from station_app.domain.errors import ValidationError

    def refuse():
        raise ValidationError("请输入姓名。")

    shown = []
    tasks.run_write(refuse, None, shown.append)
    assert shown[0].message == "请输入姓名。"
    assert "failed" not in caplog.text
