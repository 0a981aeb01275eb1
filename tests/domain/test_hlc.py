"""Hybrid logical clock: monotonic, packs in order, refuses to be dragged into the future."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from sync_protocol.hlc import MAX_COUNTER, HybridLogicalClock, Timestamp

T0 = 1_700_000_000_000  # Nov 2023, in ms
DAY = 24 * 3600 * 1000
MAX_DRIFT = 5 * 60 * 1000


class FakeWall:
    """A wall clock the test sets by hand."""

    def __init__(self, ms: int = T0):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def make_clock(node="st-a", ms=T0, **kwargs):
    wall = FakeWall(ms)
    return HybridLogicalClock(node, wall_clock=wall, **kwargs), wall


# -- Timestamp ---------------------------------------------------------------------------------

def test_pack_format_and_parse():
    ts = Timestamp(T0, 5, "610921-st1")
    assert ts.pack() == "1700000000000-000005-610921-st1"
    assert Timestamp.parse(ts.pack()) == ts
    assert Timestamp(0, 0, "n").pack() == "0000000000000-000000-n"


@pytest.mark.parametrize(
    "text",
    ["", "1700000000000-5-st1", "170000000000-000005-st1", "1700000000000-000005-",
     "1700000000000-000005-a b", "1700000000000_000005_st1", "１700000000000-000005-st1"],
)
def test_parse_rejects_malformed(text):
    with pytest.raises(ValueError):
        Timestamp.parse(text)


@pytest.mark.parametrize("args", [(-1, 0, "n"), (10**13, 0, "n"), (T0, -1, "n"), (T0, MAX_COUNTER + 1, "n"),
                                  (T0, 0, ""), (T0, 0, "a b")])
def test_timestamp_rejects_out_of_range(args):
    with pytest.raises(ValueError):
        Timestamp(*args)


nodes = st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=12)
timestamps = st.builds(Timestamp, st.integers(0, 10**13 - 1), st.integers(0, MAX_COUNTER), nodes)


@settings(max_examples=200, deadline=None)
@given(a=timestamps, b=timestamps)
def test_pack_order_equals_tuple_order(a, b):
    assert (a < b) == (a.pack() < b.pack())
    assert (a == b) == (a.pack() == b.pack())
    assert (a < b) == ((a.wall_ms, a.counter, a.node) < (b.wall_ms, b.counter, b.node))
    # SQLite compares TEXT as UTF-8 bytes.
    assert (a < b) == (a.pack().encode() < b.pack().encode())


@settings(max_examples=200, deadline=None)
@given(ts=timestamps)
def test_pack_parse_round_trip(ts):
    assert Timestamp.parse(ts.pack()) == ts


# -- now() ---------------------------------------------------------------------------------------

def test_counter_increments_with_frozen_wall_clock():
    clock, _ = make_clock()
    stamps = [clock.now() for _ in range(4)]
    assert [(s.wall_ms, s.counter) for s in stamps] == [(T0, 0), (T0, 1), (T0, 2), (T0, 3)]
    assert all(s.node == "st-a" for s in stamps)
    assert clock.last == stamps[-1]


def test_wall_clock_advance_resets_counter():
    clock, wall = make_clock()
    clock.now(), clock.now()
    wall.ms += 1
    assert clock.now() == Timestamp(T0 + 1, 0, "st-a")


def test_monotonic_across_backward_jump():
    clock, wall = make_clock()
    before = clock.now()
    wall.ms = T0 - 60_000  # NTP or the user sets the clock back a minute
    after = [clock.now() for _ in range(3)]
    assert before < after[0] < after[1] < after[2]
    assert all(s.wall_ms == T0 for s in after)
    assert clock.skew_warnings == []  # within drift: nothing to tell the user
    wall.ms = T0 + 10
    assert clock.now() == Timestamp(T0 + 10, 0, "st-a")


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.integers(-3 * DAY, 3 * DAY), min_size=1, max_size=50))
def test_monotonic_under_any_wall_clock(steps):
    clock, wall = make_clock()
    previous = clock.now()
    for step in steps:
        wall.ms = max(0, wall.ms + step)
        ts = clock.now()
        assert ts > previous
        assert ts.pack() > previous.pack()
        assert ts.wall_ms >= wall.ms  # never behind the wall clock either
        previous = ts


def test_restart_from_persisted_last_stays_monotonic_and_warns():
    saved = Timestamp(T0 + 3 * DAY, 7, "st-a")  # saved while the clock was 3 days fast
    clock, _ = make_clock(last=saved)
    first = clock.now()
    assert first > saved
    second = clock.now()
    assert second > first
    warnings = clock.skew_warnings
    assert len(warnings) == 1  # said once, not on every tick
    assert warnings[0].kind == "local_behind_last"
    assert warnings[0].skew_ms == 3 * DAY


def test_counter_overflow_borrows_next_millisecond():
    clock, _ = make_clock(last=Timestamp(T0, MAX_COUNTER, "st-a"))
    ts = clock.now()
    assert ts == Timestamp(T0 + 1, 0, "st-a")
    assert len(ts.pack()) == len(Timestamp(T0, MAX_COUNTER, "st-a").pack())


# -- receive() -----------------------------------------------------------------------------------

def test_receive_remote_slightly_ahead_is_adopted():
    clock, _ = make_clock()
    remote = Timestamp(T0 + 2_000, 4, "st-b")
    ts = clock.receive(remote)
    assert ts == Timestamp(T0 + 2_000, 5, "st-a")
    assert ts > remote
    assert clock.now() > ts
    assert clock.skew_warnings == []


def test_receive_remote_behind_uses_own_clock():
    clock, wall = make_clock()
    wall.ms = T0 + 10_000
    ts = clock.receive(Timestamp(T0, 9, "st-b"))
    assert ts == Timestamp(T0 + 10_000, 0, "st-a")


def test_receive_same_wall_takes_max_counter():
    clock, _ = make_clock()
    clock.now(), clock.now()  # last = (T0, 1)
    assert clock.receive(Timestamp(T0, 8, "st-b")) == Timestamp(T0, 9, "st-a")
    assert clock.receive(Timestamp(T0, 3, "st-b")) == Timestamp(T0, 10, "st-a")


def test_remote_three_days_ahead_is_clamped_and_flagged():
    clock, wall = make_clock()
    remote = Timestamp(T0 + 3 * DAY, 0, "st-skewed")
    ts = clock.receive(remote)  # must not raise
    assert ts.wall_ms == T0
    assert ts < remote
    wall.ms += 1_000
    later = [clock.now() for _ in range(3)]
    assert all(t.wall_ms < T0 + MAX_DRIFT for t in later)
    assert later[0] == Timestamp(T0 + 1_000, 0, "st-a")
    assert clock.clamped_count == 1
    [warning] = clock.skew_warnings
    assert warning.kind == "remote_ahead"
    assert warning.source == "st-skewed"
    assert warning.skew_ms == 3 * DAY
    assert clock.take_warnings() == [warning]
    assert clock.skew_warnings == []


def test_remote_just_within_drift_is_adopted():
    clock, _ = make_clock()
    ts = clock.receive(Timestamp(T0 + MAX_DRIFT, 0, "st-b"))
    assert ts.wall_ms == T0 + MAX_DRIFT
    assert clock.skew_warnings == []


def test_warnings_are_bounded():
    clock, _ = make_clock()
    for i in range(1_000):
        clock.receive(Timestamp(T0 + DAY + i, 0, "st-b"))
    assert clock.clamped_count == 1_000
    assert len(clock.skew_warnings) <= 100


# -- server time -----------------------------------------------------------------------------------

def test_observe_server_time_sets_and_clears_suspect():
    clock, wall = make_clock()
    assert clock.observe_server_time(T0 - 1_000) == 1_000
    assert not clock.clock_suspect
    assert clock.observe_server_time(T0 - 10 * 60_000) == 10 * 60_000  # we are 10 minutes fast
    assert clock.clock_suspect
    assert clock.skew_warnings[-1].kind == "server_skew"
    assert clock.observe_server_time(T0 + 3 * DAY) == -3 * DAY  # we are 3 days slow
    assert clock.clock_suspect
    wall.ms = T0 + 3 * DAY
    assert clock.observe_server_time(T0 + 3 * DAY) == 0
    assert not clock.clock_suspect
    assert clock.server_skew_ms == 0


def test_clock_rejects_bad_node():
    with pytest.raises(ValueError):
        HybridLogicalClock("")
