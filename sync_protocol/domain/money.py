"""Money is kept in 分 (int) everywhere; this is how it is shown in 元."""

from __future__ import annotations


def yuan(fen: int | None, *, thousands: bool = False) -> str:
    """40000 → "400.00" ("400.00" / "12,300.00" with ``thousands``); None → ""."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}" if thousands else f"{sign}{whole}.{cents:02d}"
