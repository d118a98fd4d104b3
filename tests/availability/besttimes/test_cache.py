"""The profile cache (in process): one build per workstream per snapshot slot however many ask, on the org's clock,
with bounded reads; what a failing table leaves."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from availability.besttimes.cache import FIELDS, RETRY_AFTER_FAILURE, ProfileCache
from availability.errors import UpstreamTimeout, UpstreamUnavailable
from availability.snapshots import Snapshot
from tests.availability.scenario import BUSY_LINE, CHAT, Q_OPEN, at

SCHEDULE = "0 */5 * * * *"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Store:
    """Stands for the snapshot table: answers history reads from a list, counting them; may fail or be slow."""

    def __init__(self, rows: list[Snapshot] | None = None) -> None:
        self.rows = rows or []
        self.reads: list[tuple] = []
        self.fail = False
        self.delay = 0.0
        self._lock = threading.Lock()

    def history(self, query, *, deadline=None, fields=()):
        with self._lock:
            self.reads.append((query, tuple(fields)))
        time.sleep(self.delay)
        if self.fail:
            raise UpstreamUnavailable(message="Table storage could not be reached.")
        return [row for row in self.rows if row.workstream_id == query.workstream_id
                and query.start <= row.captured_at <= query.end][:query.limit]


def rows(end: datetime, weeks: int) -> list[Snapshot]:
    found = []
    moment = end - timedelta(weeks=weeks)
    while moment < end:
        found.append(Snapshot(workstream_id=CHAT, captured_at=moment, queue_id=Q_OPEN, status="available",
                              within_operating_hours=True, representatives_available=True, average_wait_seconds=30))
        moment += timedelta(minutes=30)
    return found


NOW = at("2026-11-23T10:02:00Z")


def cache(store: Store, clock: Clock, **options) -> ProfileCache:
    return ProfileCache(store, schedule=SCHEDULE, schedule_zone=UTC, zone_name="UTC", clock=clock, **options)


def test_a_thousand_requests_at_once_cost_one_build():
    store, clock = Store(rows(NOW, 3)), Clock(NOW)
    store.delay = 0.2  # the build takes a while: the others must wait for it, not start their own
    profiles = cache(store, clock)
    with ThreadPoolExecutor(50) as pool:
        got = list(pool.map(lambda _: profiles.profile(CHAT, deadline=time.monotonic() + 10), range(1000)))
    assert len(store.reads) == 1 and profiles.builds == 1
    assert all(profile is got[0] for profile in got) and got[0].weeks == 3


def test_one_read_of_the_last_eight_weeks_with_only_the_fields_needed():
    store, clock = Store(rows(NOW, 10)), Clock(NOW)
    profile = cache(store, clock).profile(CHAT)
    (query, fields), = store.reads
    assert (query.workstream_id, query.start, query.end) == (CHAT, NOW - timedelta(weeks=8), NOW)
    assert query.limit == 8 * 7 * 1440  # at most one row a minute
    assert fields == FIELDS == ("status", "averageWaitSeconds", "queueId")
    assert profile.weeks == 8 and profile.end == NOW and profile.queues == {Q_OPEN}


def test_rebuilt_once_the_next_slot_begins_and_not_before():
    store, clock = Store(rows(NOW, 3)), Clock(NOW)
    profiles = cache(store, clock)
    first = profiles.profile(CHAT)
    clock.now = at("2026-11-23T10:04:59Z")  # still the 10:00 slot
    assert profiles.profile(CHAT) is first and len(store.reads) == 1
    clock.now = at("2026-11-23T10:05:00Z")
    assert profiles.profile(CHAT) is not first and len(store.reads) == 2
    assert profiles.profile(BUSY_LINE) is not None and len(store.reads) == 3  # each workstream its own


def test_a_clock_set_back_is_another_slot():
    store, clock = Store(rows(NOW, 3)), Clock(NOW)
    profiles = cache(store, clock)
    profiles.profile(CHAT)
    clock.now = NOW - timedelta(days=400)  # the org's clock moved (a sandbox's): its history is another
    assert profiles.profile(CHAT).weeks == 0 and len(store.reads) == 2


def test_a_failed_build_is_an_error_and_the_next_request_tries_again():
    store, clock = Store(rows(NOW, 3)), Clock(NOW)
    profiles = cache(store, clock)
    store.fail = True
    with pytest.raises(UpstreamUnavailable):
        profiles.profile(CHAT)
    store.fail = False
    assert profiles.profile(CHAT).weeks == 3 and len(store.reads) == 2


def test_a_failed_rebuild_serves_the_profile_before_for_a_while():
    store, clock = Store(rows(NOW, 3)), Clock(NOW)
    profiles = cache(store, clock)
    before = profiles.profile(CHAT)
    store.fail = True
    clock.now = NOW + timedelta(minutes=5)
    assert profiles.profile(CHAT) is before and len(store.reads) == 2
    clock.now += RETRY_AFTER_FAILURE - timedelta(seconds=1)
    assert profiles.profile(CHAT) is before and len(store.reads) == 2  # not asked again at once
    clock.now += timedelta(seconds=1)
    store.fail = False
    assert profiles.profile(CHAT) is not before and len(store.reads) == 3


def test_a_request_waits_for_a_build_no_longer_than_its_deadline_and_the_build_goes_on():
    store, clock = Store(rows(NOW, 3)), Clock(NOW)
    store.delay = 1.0
    profiles = cache(store, clock)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        profiles.profile(CHAT, deadline=time.monotonic() + 0.2)  # a web page's short wait
    assert time.monotonic() - started < 0.6
    assert profiles.profile(CHAT).weeks == 3  # the read was not cut short: the next caller gets its profile
    assert len(store.reads) == 1 and profiles.builds == 1


def test_the_least_recently_asked_profiles_are_dropped():
    store, clock = Store(rows(NOW, 1)), Clock(NOW)
    profiles = cache(store, clock, size=2)
    profiles.profile(CHAT)
    profiles.profile(BUSY_LINE)
    profiles.profile(CHAT)
    profiles.profile("22222222-0000-4000-8000-000000000009")  # drops BUSY_LINE, the least recently asked
    reads = len(store.reads)
    profiles.profile(CHAT)
    assert len(store.reads) == reads
    profiles.profile(BUSY_LINE)
    assert len(store.reads) == reads + 1
