"""Hybrid logical clock: orders writes to the same field for last-writer-wins sync."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

logger = logging.getLogger(__name__)

WALL_DIGITS = 13  # ms since epoch fits 13 digits until the year 2286
COUNTER_DIGITS = 6
MAX_WALL_MS = 10**WALL_DIGITS - 1
MAX_COUNTER = 10**COUNTER_DIGITS - 1
DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000
#: Warnings kept for the UI; a pull full of future stamps must not grow memory without end.
MAX_WARNINGS = 100

_PACKED = re.compile(rf"([0-9]{{{WALL_DIGITS}}})-([0-9]{{{COUNTER_DIGITS}}})-(\S+)", re.ASCII)


def wall_clock_ms() -> int:
    """Milliseconds since the Unix epoch from the system clock."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, order=True)
class Timestamp:
    """(wall ms, counter, node); compares as that tuple, node last as the tie-breaker."""

    wall_ms: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        # The packed form is fixed-width only inside these bounds; outside them string order
        # and tuple order would part ways and merges would pick the wrong winner.
        if not 0 <= self.wall_ms <= MAX_WALL_MS:
            raise ValueError(f"wall_ms out of range: {self.wall_ms}")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError(f"counter out of range: {self.counter}")
        if not self.node or any(c.isspace() or not c.isprintable() for c in self.node):
            raise ValueError(f"node must be non-empty printable text without spaces: {self.node!r}")

    def pack(self) -> str:
        """Fixed-width text that sorts (as a string, or as UTF-8 bytes in SQLite) like the tuple."""
        return f"{self.wall_ms:0{WALL_DIGITS}d}-{self.counter:0{COUNTER_DIGITS}d}-{self.node}"

    @classmethod
    def parse(cls, text: str) -> "Timestamp":
        match = _PACKED.fullmatch(text or "")
        if not match:
            raise ValueError(f"not a packed HLC timestamp: {text!r}")
        return cls(int(match[1]), int(match[2]), match[3])


@dataclass(frozen=True)
class SkewWarning:
    """A clock anomaly worth telling the user about (clock settings, not data, are wrong)."""

    kind: str  # "remote_ahead" | "server_skew" | "local_behind_last"
    skew_ms: int  # positive: the other side (remote, server, last stamp) is ahead of our wall clock
    local_wall_ms: int
    source: str = ""  # remote node, "server", or our own node


class HybridLogicalClock:
    """One per station database; ``last`` is persisted so restarts stay monotonic."""

    def __init__(
        self,
        node: str,
        wall_clock: Callable[[], int] = wall_clock_ms,
        last: Timestamp | None = None,
        max_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
    ):
        Timestamp(0, 0, node)  # validates the node name early
        self.node = node
        self._wall_clock = wall_clock
        self._last = last
        self.max_drift_ms = max_drift_ms
        self._warnings: deque[SkewWarning] = deque(maxlen=MAX_WARNINGS)
        self.clamped_count = 0
        #: Set by ``observe_server_time``: our wall clock disagrees with the server's.
        self.clock_suspect = False
        self.server_skew_ms: int | None = None
        self._behind_last = False
        # Services share one clock between the write thread and the sync thread.
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------

    @property
    def last(self) -> Timestamp | None:
        """The latest timestamp issued or received; persist it and pass it back on start."""
        return self._last

    @property
    def skew_warnings(self) -> list[SkewWarning]:
        return list(self._warnings)

    def take_warnings(self) -> list[SkewWarning]:
        """Return and forget the pending warnings (once the UI has shown them)."""
        with self._lock:
            taken = list(self._warnings)
            self._warnings.clear()
            return taken

    # -- ticking -------------------------------------------------------------------------

    def now(self) -> Timestamp:
        """A timestamp greater than every one issued or received before, whatever the wall clock does."""
        with self._lock:
            return self._tick(self._read_wall())

    def receive(self, remote: Timestamp) -> Timestamp:
        """Merge a remote timestamp (standard HLC), except one too far in the future.

        A remote wall time more than ``max_drift_ms`` ahead of our wall clock is not adopted:
        otherwise one station with a wrong clock would drag every clock forward and win every
        later conflict by skew alone. We tick on our own clock and record a warning instead.
        """
        with self._lock:
            pt = self._read_wall()
            ahead = remote.wall_ms - pt
            if ahead > self.max_drift_ms:
                self.clamped_count += 1
                self._warn(SkewWarning("remote_ahead", ahead, pt, remote.node))
                logger.warning("Clamped a timestamp from node %s that is %d ms ahead of our clock", remote.node, ahead)
                return self._tick(pt)

            last = self._last
            lw = last.wall_ms if last else -1
            wall = max(lw, remote.wall_ms, pt)
            if wall == lw and wall == remote.wall_ms:
                counter = max(last.counter, remote.counter) + 1  # type: ignore[union-attr]
            elif wall == lw:
                counter = last.counter + 1  # type: ignore[union-attr]
            elif wall == remote.wall_ms:
                counter = remote.counter + 1
            else:
                counter = 0
            return self._issue(wall, counter)

    def observe_server_time(self, server_ms: int) -> int:
        """Record the server's clock from a sync answer; returns skew = local − server in ms."""
        with self._lock:
            local = self._read_wall()
            skew = local - int(server_ms)
            self.server_skew_ms = skew
            # Cleared again once the user fixes the clock, so the warning does not stick.
            self.clock_suspect = abs(skew) > self.max_drift_ms
            if self.clock_suspect:
                self._warn(SkewWarning("server_skew", -skew, local, "server"))
                logger.warning("Local clock differs from the server by %d ms", skew)
            return skew

    # -- internals -----------------------------------------------------------------------

    def _read_wall(self) -> int:
        return int(self._wall_clock())

    def _tick(self, pt: int) -> Timestamp:
        last = self._last
        if last is None or pt > last.wall_ms:
            self._behind_last = False
            return self._issue(pt, 0)
        ahead = last.wall_ms - pt
        if ahead > self.max_drift_ms and not self._behind_last:
            # Stay monotonic (a later edit here must beat an earlier one), but say so once:
            # the wall clock went back a lot, or ``last`` was saved while the clock was wrong.
            self._behind_last = True
            self._warn(SkewWarning("local_behind_last", ahead, pt, self.node))
            logger.warning("Wall clock is %d ms behind the last HLC timestamp", ahead)
        return self._issue(last.wall_ms, last.counter + 1)

    def _issue(self, wall: int, counter: int) -> Timestamp:
        if counter > MAX_COUNTER:
            # A million stamps in one millisecond only happens when stuck ahead of the wall
            # clock; borrowing the next millisecond keeps the order and the fixed width.
            wall, counter = wall + 1, 0
        ts = Timestamp(wall, counter, self.node)
        self._last = ts
        return ts

    def _warn(self, warning: SkewWarning) -> None:
        self._warnings.append(warning)
