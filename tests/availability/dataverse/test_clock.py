"""The org's clock (`OrgClock`), the offset an answer carries, and where the product reads one or the other: in
process, with fake clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from availability.answer import Availability
from availability.dataverse import wire
from availability.dataverse.clock import JUMP_SECONDS, OrgClock, jumped
from availability.notifications.changes import status_since

NOW = datetime(2030, 5, 6, 7, 59, 50, tzinfo=UTC)  # any moment: nothing here reads the real calendar


class Clocks:
    def __init__(self) -> None:
        self.wall, self.monotonic = NOW.timestamp(), 100.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic += seconds


def test_the_offset_is_learnt_from_each_date_and_followed_when_it_jumps():
    clocks = Clocks()
    clock = OrgClock(wall=lambda: clocks.wall, monotonic=lambda: clocks.monotonic)
    assert clock.offset == 0.0 and clock.age() == float("inf")
    ahead = NOW + timedelta(days=400)
    clock.observe(ahead)  # a Date of 400 days ahead, received now
    assert abs(clock.now() - (ahead + timedelta(seconds=0.5))) < timedelta(milliseconds=1)
    assert clock.to_local(ahead + timedelta(seconds=10)) == pytest.approx(clocks.wall + 9.5)
    clocks.advance(3)
    assert clock.age() == 3
    behind = NOW - timedelta(days=400)
    clock.observe(behind, received=clocks.wall)
    assert clock.now().date() == behind.date() and jumped(400 * 86400.5, clock.offset)


def test_the_org_is_asked_only_when_the_offset_is_older_than_asked_and_not_again_at_once_after_a_failure():
    clocks, asked = Clocks(), []

    def sync() -> None:
        asked.append(clocks.monotonic)
        if len(asked) == 2:
            raise ConnectionError("the org is down")
        clock.observe(NOW + timedelta(hours=1), received=clocks.wall)

    clock = OrgClock(sync=sync, wall=lambda: clocks.wall, monotonic=lambda: clocks.monotonic)
    clock.refresh(5)
    assert len(asked) == 1 and abs(clock.offset - 3600.5) < 1e-6
    clock.refresh(5)  # learnt just now
    clocks.advance(6)
    clock.refresh(5)  # too old: asked, and it fails
    assert len(asked) == 2 and abs(clock.offset - 3600.5) < 1e-6  # the offset as last learnt
    clock.refresh(5)  # tried just now: not again at once
    assert len(asked) == 2
    clock.refresh(0)  # a timer run reads it anew
    assert len(asked) == 3


def test_drift_is_not_a_jump():
    assert not jumped(0.4, 0.4 + JUMP_SECONDS - 1) and jumped(0.4, 0.4 + JUMP_SECONDS + 1)


def answer(status: str, at: datetime, offset: timedelta, transition: datetime | None) -> Availability:
    """An answer received at `at` (the gateway's clock) from an org whose clock is `offset` ahead."""
    return Availability(queue_id="q", within_operating_hours=status != "closed",
                        representatives_available=status == "available", available_representatives=None,
                        position_in_queue=None, average_wait_seconds=None, next_transition_time=transition,
                        next_opening_time=None, next_closing_time=None, retrieved_at=at, org_time=at + offset)


@pytest.mark.parametrize("offset", [timedelta(days=-400), timedelta(0), timedelta(days=400)])
def test_a_change_is_dated_on_the_orgs_clock(offset):
    opening = NOW + offset + timedelta(seconds=10)  # on the org's clock
    closed = answer("closed", NOW, offset, opening)
    opened = answer("available", NOW + timedelta(seconds=14), offset, None)
    assert status_since(closed, opened, known=closed.org_retrieved_at) == opening  # the opening itself
    assert status_since(None, closed, known=None) == NOW + offset  # first seen: when, on the org's clock
    # A transition the two answers do not straddle (the clock was moved past it): when the change was seen.
    moved = answer("available", NOW + timedelta(seconds=14), offset + timedelta(days=2), None)
    assert status_since(closed, moved, known=closed.org_retrieved_at) == moved.org_retrieved_at


def test_a_retry_after_date_is_measured_on_the_orgs_clock():
    org_now = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers = {"Date": "Thu, 02 Jan 2031 03:04:05 GMT", "Retry-After": "Thu, 02 Jan 2031 03:04:35 GMT"}
    assert wire.retry_after(headers, now=org_now + timedelta(days=-900)) == 30  # not the gateway's clock
