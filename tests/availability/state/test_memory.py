"""One instance's answers on a clock the tests move: a hot answer is refreshed a little before it stops being fresh
(one refresh at a time, at a moment drawn per answer), and while a call for it is on its way an answer no longer
fresh is served as `stale` for a short grace, never past its stale window (its transition)."""

from __future__ import annotations

from datetime import UTC, datetime

from availability.answer import Availability
from availability.state.memory import GRACE_SECONDS, REFRESH_LEAD_SECONDS, MemoryState
from tests.clock import FakeClock

KEY = b"k" * 20


def answer() -> Availability:
    return Availability("q", True, True, 1, 1, 30, None, None, None, datetime.now(UTC))


def test_a_hit_near_the_end_of_the_window_leads_one_refresh_and_is_still_served() -> None:
    clock = FakeClock()
    state = MemoryState(monotonic=clock.monotonic)
    state.remember(KEY, answer(), 15.0, 300.0)
    refreshes = []
    while clock.now < 1_000 + 15:
        hit, _, leader = state.begin(KEY)
        assert hit is not None and hit.source == "cache"  # served all along
        if leader:
            refreshes.append(clock.now)
        clock.advance(0.05)
    assert len(refreshes) == 1  # the refresh on its way: no second one
    assert 1_000 + 15 - REFRESH_LEAD_SECONDS <= refreshes[0] <= 1_000 + 15 - REFRESH_LEAD_SECONDS / 2


def test_the_moment_of_the_refresh_differs_from_answer_to_answer() -> None:
    moments = set()
    for _ in range(50):
        clock = FakeClock()
        state = MemoryState(monotonic=clock.monotonic)
        state.remember(KEY, answer(), 15.0, 300.0)
        while not state.begin(KEY)[2]:
            clock.advance(0.01)
        moments.add(round(clock.now, 2))
    assert len(moments) > 10


def test_a_refresh_that_renewed_nothing_is_tried_again_a_little_later() -> None:
    clock = FakeClock()
    state = MemoryState(monotonic=clock.monotonic)
    state.remember(KEY, answer(), 15.0, 300.0)
    while not state.begin(KEY)[2]:
        clock.advance(0.01)
    first = clock.now
    state.end(KEY)  # it ended without a new answer (another instance's call was on its way)
    while not state.begin(KEY)[2]:
        clock.advance(0.01)
    assert 0.5 <= clock.now - first <= 1.0


def test_while_a_call_is_on_its_way_an_answer_past_its_window_is_served_stale_for_a_short_grace() -> None:
    clock = FakeClock()
    state = MemoryState(monotonic=clock.monotonic)
    state.remember(KEY, answer(), 15.0, 300.0)
    clock.advance(15.5)
    hit, future, leader = state.begin(KEY)
    assert hit is None and leader  # the first after the window asks the org
    clock.advance(1.0)
    served, waited, led = state.begin(KEY)  # another caller meanwhile
    assert served is not None and served.source == "stale" and waited is None and not led
    clock.advance(GRACE_SECONDS)  # past the grace: it waits for the call like any follower
    assert state.begin(KEY) == (None, future, False)


def test_no_grace_without_a_call_on_its_way_nor_past_the_stale_window() -> None:
    clock = FakeClock()
    state = MemoryState(monotonic=clock.monotonic)
    state.remember(KEY, answer(), 15.0, 16.0)  # a transition comes 16 s after it was had
    clock.advance(15.5)
    assert state.begin(KEY)[2]  # no call on its way: this caller leads one, nothing is served
    clock.advance(1.0)  # past the transition: not even while the call is on its way
    assert state.begin(KEY)[0] is None
    state = MemoryState(monotonic=clock.monotonic)
    state.remember(KEY, answer(), 2.0, 300.0)
    clock.advance(2.5)
    state.begin(KEY)
    clock.advance(1.6)  # the grace is never longer than the fresh window
    assert state.begin(KEY)[0] is None


def test_another_instances_call_on_its_way_gives_the_same_grace() -> None:
    clock = FakeClock()
    state = MemoryState(monotonic=clock.monotonic)
    state.remember(KEY, answer(), 15.0, 300.0)
    clock.advance(15.5)
    state.follow(KEY, clock.now + 3)
    served = state.begin(KEY)[0]
    assert served is not None and served.source == "stale"
    clock.advance(3.1)
    assert state.begin(KEY)[2]  # that call's lease is over: this caller leads
