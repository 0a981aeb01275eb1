"""What every page shares: the text a user reads for a failure, progress across threads, typing pace."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from station_app.domain.errors import DomainError

logger = logging.getLogger(__name__)

#: Typing pauses this long before a search-as-you-type list asks again (one pace everywhere).
SEARCH_DELAY_MS = 200
#: The calm line shown for a failure that is not the domain's own (details go to the log).
FAILED_TEXT = "操作失败，未做任何修改；问题已记录在日志中。"


def error_text(error: BaseException, fallback: str = FAILED_TEXT) -> str:
    """The domain's Chinese message, or ``fallback``; never a raw exception in front of a user."""
    if isinstance(error, DomainError):
        return error.message
    logger.error("task failed: %r", error)
    return fallback


class ProgressRelay(QObject):
    """Created on the main thread; a worker emits, the slot runs on the main thread (queued)."""

    progress = Signal(int, int, str)
