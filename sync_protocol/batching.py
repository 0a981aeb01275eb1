"""Slicing long lists (IN-lists under SQLite's variable limit, insert batches) — one chunker for
the station's store and the county server's."""

from __future__ import annotations

from typing import Iterator, Sequence, TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
