"""Logging: a rotating file in the user log folder; ID numbers are masked before any write."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys

from station_app import paths

# An 18-char number (last may be X) or an old 15-digit one, not part of a longer number.
_ID_PATTERN = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9Xx])")


def redact(text: str) -> str:
    """Mask anything shaped like a resident ID number (PIPL: never in a log in clear)."""
    return _ID_PATTERN.sub(lambda m: m.group(0)[:6] + "*" * (len(m.group(0)) - 10) + m.group(0)[-4:], text)


class RedactingFilter(logging.Filter):
    """Masks ID numbers in the message and in an attached traceback (SQL errors quote parameters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # the formatter would render it again, unmasked
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_station_app", False) for h in root.handlers):
        return
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        file_handler = logging.handlers.RotatingFileHandler(
            paths.logs_dir() / "station-app.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8")
        file_handler.setFormatter(formatter)
        file_handler.addFilter(RedactingFilter())
        file_handler._station_app = True  # type: ignore[attr-defined]
        root.addHandler(file_handler)
    except OSError:
        pass  # a read-only profile must not stop the app from starting
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(formatter)
    console.addFilter(RedactingFilter())
    console._station_app = True  # type: ignore[attr-defined]
    root.addHandler(console)
