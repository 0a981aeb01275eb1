"""Domain errors that carry a message fit to show a Chinese-speaking user as is."""

from __future__ import annotations


class DomainError(ValueError):
    """A rule was broken; ``message`` is Simplified Chinese, ready for the UI."""

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def __str__(self) -> str:  # the UI shows str(error)
        return self.message


class ValidationError(DomainError):
    """Input that cannot be saved; nothing was written."""


class PermissionDenied(DomainError):
    """The signed-in user may not do this."""


class NotFound(DomainError):
    """The record asked for does not exist (or was deleted)."""
