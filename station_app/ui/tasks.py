"""The one background-task helper: run a function on a pool, get its result back on the main thread.

Why this shape (after picard's ``util/thread.py`` and anki's ``taskman.py``):

* A task is a plain function that takes no widget: it calls services, and each service call
  opens its own Session, so nothing database-bound crosses threads.
* The worker never calls back into the UI. It emits ``TaskSignals.finished(Outcome)`` from its
  own thread; the signals object was created on the main thread, so Qt queues the emission
  there and ``on_done`` / ``on_error`` run on the main thread, where widgets may be touched.
* Three pools: reads for views (a few threads), writes (exactly one thread, so two saves never
  race for SQLite's single writer lock) and network (sync; one thread, slow and retried).
* The pools are injectable. ``TaskManager.synchronous()`` uses ``FakeThreadPool`` whose
  ``start()`` runs the task at once on the calling thread; the finished signal is then a
  direct call, so a test sees the result as soon as ``run_*`` returns.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from station_app.domain.errors import DomainError

logger = logging.getLogger(__name__)

READ, WRITE, NETWORK = "read", "write", "network"


@dataclass(frozen=True)
class Outcome:
    """What a task ended with: its return value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class TaskSignals(QObject):
    """Lives on the main thread; emitted from the worker, delivered on the main thread."""

    finished = Signal(object)  # Outcome


class Task(QRunnable):
    """Runs ``fn()`` and reports its Outcome; never touches a widget."""

    def __init__(self, fn: Callable[[], Any], name: str = ""):
        super().__init__()
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "task")
        self.signals = TaskSignals()
        self.setAutoDelete(False)  # the manager keeps it until the outcome is delivered

    def run(self) -> None:
        try:
            outcome = Outcome(value=self.fn())
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, never lost
            outcome = Outcome(error=error)  # logged on delivery, once
        self.signals.finished.emit(outcome)


def log_error(log: logging.Logger, message: str, error: BaseException) -> None:
    """Log an exception with its traceback inside the message text.

    The log's RedactingFilter masks ID numbers in the message but not in ``exc_info``; an
    exception text (an SQL error with its parameters) may hold one.
    """
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    log.error("%s\n%s", message, details.rstrip())


class FakeThreadPool:
    """A stand-in for QThreadPool in tests: ``start()`` runs the task immediately."""

    def __init__(self) -> None:
        self.started = 0

    def start(self, runnable: QRunnable, priority: int = 0) -> None:
        self.started += 1
        runnable.run()

    def waitForDone(self, msecs: int = -1) -> bool:  # noqa: N802 - QThreadPool's name
        return True

    def setMaxThreadCount(self, count: int) -> None:  # noqa: N802
        pass

    def maxThreadCount(self) -> int:  # noqa: N802
        return 1


def _pool(max_threads: int, name: str) -> QThreadPool:
    pool = QThreadPool()
    pool.setObjectName(name)
    pool.setMaxThreadCount(max_threads)
    return pool


class TaskManager(QObject):
    """Owns the pools; ``run_read`` / ``run_write`` / ``run_network`` schedule a function.

    ``on_done(value)`` and ``on_error(exception)`` run on the main thread. Without ``on_error``
    the exception goes to ``sys.excepthook`` (the app logs it and shows a dialog), so a failed
    task is never silent.
    """

    #: Number of tasks scheduled and not yet delivered (for a busy indicator).
    busy_changed = Signal(int)
    #: The database may have changed: a write or network task ended (either way), or a page
    #: saved something itself (``notify_changed``). The status bar listens instead of polling.
    data_changed = Signal(str)

    def __init__(self, *, read_pool=None, write_pool=None, network_pool=None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._pools = {
            READ: read_pool if read_pool is not None else _pool(2, "read"),
            WRITE: write_pool if write_pool is not None else _pool(1, "write"),
            NETWORK: network_pool if network_pool is not None else _pool(1, "network"),
        }
        self._pending: dict[int, tuple[Task, Callable | None, Callable | None, QObject | None]] = {}
        self._kinds: dict[int, str] = {}

    @classmethod
    def synchronous(cls, parent: QObject | None = None) -> "TaskManager":
        """Every task runs inline (tests, scripts)."""
        return cls(read_pool=FakeThreadPool(), write_pool=FakeThreadPool(),
                   network_pool=FakeThreadPool(), parent=parent)

    def pool(self, kind: str):
        return self._pools[kind]

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    # -- scheduling -------------------------------------------------------------------------

    def run(self, kind: str, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None, *, name: str = "",
            owner: QObject | None = None) -> Task:
        """Schedule ``fn`` on the ``kind`` pool.

        ``owner``: the widget the callbacks update; if Qt has deleted it by the time the task
        ends (its window was closed), the outcome is dropped instead of touching a dead widget.
        """
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("tasks are scheduled from the main thread only")
        task = Task(fn, name)
        self._pending[id(task.signals)] = (task, on_done, on_error, owner)
        self._kinds[id(task.signals)] = kind
        # A bound slot of this main-thread object: delivery is queued onto the main thread.
        task.signals.finished.connect(self._deliver)
        self.busy_changed.emit(len(self._pending))
        self._pools[kind].start(task)
        return task

    def run_read(self, fn, on_done=None, on_error=None, *, name: str = "", owner=None) -> Task:
        return self.run(READ, fn, on_done, on_error, name=name, owner=owner)

    def run_write(self, fn, on_done=None, on_error=None, *, name: str = "", owner=None) -> Task:
        return self.run(WRITE, fn, on_done, on_error, name=name, owner=owner)

    def run_network(self, fn, on_done=None, on_error=None, *, name: str = "", owner=None) -> Task:
        return self.run(NETWORK, fn, on_done, on_error, name=name, owner=owner)

    @Slot(object)
    def _deliver(self, outcome: Outcome) -> None:
        entry = self._pending.pop(id(self.sender()), None)
        kind = self._kinds.pop(id(self.sender()), READ)
        if entry is None:
            return
        task, on_done, on_error, owner = entry
        self.busy_changed.emit(len(self._pending))
        try:
            self._deliver_outcome(task, on_done, on_error, owner, outcome)
        finally:
            if kind != READ:
                self.data_changed.emit(task.name)

    def notify_changed(self, what: str = "") -> None:
        """A page wrote without a task (a quick settings save): tell the listeners."""
        self.data_changed.emit(what)

    def _deliver_outcome(self, task: Task, on_done, on_error, owner, outcome: Outcome) -> None:
        error = outcome.error
        if error is not None and on_error is not None and not isinstance(error, DomainError):
            # on_error shows the user a short message; the traceback belongs in the log.
            log_error(logger, f"background task {task.name} failed", error)
        if owner is not None and not shiboken6.isValid(owner):
            if error is not None and on_error is None:
                log_error(logger, f"background task {task.name} failed after its window closed", error)
            return
        if error is None:
            if on_done is not None:
                on_done(outcome.value)
        elif on_error is not None:
            on_error(error)
        else:
            sys.excepthook(type(error), error, error.__traceback__)

    # -- shutdown ---------------------------------------------------------------------------

    def wait_for_done(self, msecs: int = 10_000) -> bool:
        """Let running writes finish before the database closes (on quit)."""
        return all(pool.waitForDone(msecs) for pool in self._pools.values())
