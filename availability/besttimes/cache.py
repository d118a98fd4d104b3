"""Each workstream's profile, built from the snapshot table at most once per snapshot slot, on this instance.

A profile is the last `HISTORY_WEEKS` weeks of one workstream's snapshots by hour of the week: one range query on
one partition (about 17 page requests for 8 weeks at 5-minute slots, only the fields it needs), never a call to
the org. It can only change when the snapshot timer writes a new row, so it is kept until the next slot of
`SNAPSHOT_SCHEDULE` begins (on the org's clock, as the slots are): however many requests ask for a workstream
meanwhile, they share one build, and requests arriving while it is built wait for that one. A build runs on a
thread of its own with its own time budget, so a caller that can wait only briefly (a web page's answer) gives up
waiting without cutting the read short for the callers after it.

Per instance: each instance builds its own, so N instances read a workstream's history N times per slot at most
(reads of one partition, far below its limits), which spares the shared state a profile of several kilobytes per
workstream and the coordination it would need. A failed rebuild serves the profile built before, if any.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from .. import telemetry
from ..errors import AvailabilityError, UpstreamTimeout
from ..localtime import utc, zone
from ..snapshots import HistoryQuery, Profile, Snapshot, next_slot, schedule_slot

log = logging.getLogger(__name__)

HISTORY_WEEKS = 8  # long enough for a sure bound, short enough to follow a change of shifts within two months
MAX_PROFILES = 256  # workstreams kept, the least recently asked for dropped first
FIELDS = ("status", "averageWaitSeconds", "queueId")  # the slot comes from the RowKey
RETRY_AFTER_FAILURE = timedelta(seconds=30)  # a profile that could not be rebuilt is served that long before a retry
BUILD_BUDGET = 20.0  # seconds a build's reads may take, whoever is waiting for it


class HistoryReader(Protocol):
    """Where the profiles' rows come from: a `SnapshotStore`."""

    def history(self, query: HistoryQuery, *, deadline: float | None = None,
                fields: Sequence[str] = ...) -> list[Snapshot]: ...


@dataclass(frozen=True)
class _Entry:
    profile: Profile
    slot: datetime  # the schedule slot it was built in
    until: datetime  # the next slot: rebuilt from then on


class ProfileCache:
    """Profiles of workstreams, each built at most once per snapshot slot (thread-safe).

    :param store: where the snapshots are.
    :keyword schedule: `SNAPSHOT_SCHEDULE`, evaluated in `schedule_zone`: its slots decide when a profile is due.
    :keyword zone_name: the IANA zone whose hours of the week the profiles count in.
    :keyword clock: the org's clock (`OrgClock.now`): the slots and the history are on it.
    """

    def __init__(self, store: HistoryReader, *, schedule: str, schedule_zone: tzinfo, zone_name: str,
                 clock: Callable[[], datetime], weeks: int = HISTORY_WEEKS, size: int = MAX_PROFILES,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._schedule = schedule
        self._schedule_zone = schedule_zone
        self.zone_name = zone_name
        self.zone = zone(zone_name)
        self._clock = clock
        self.weeks = weeks
        self._size = size
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._building: dict[str, Future[Profile]] = {}
        self._builds = 0

    @property
    def builds(self) -> int:
        """Profiles built (or tried) since this cache was made."""
        return self._builds

    def now(self) -> datetime:
        """The org's clock now, as the profiles are dated."""
        return utc(self._clock())

    def profile(self, workstream_id: str, *, deadline: float | None = None) -> Profile:
        """The workstream's profile as of the current slot, built now if due.

        :keyword deadline: `monotonic()` time until which to wait for it (`UpstreamTimeout` after; the build goes on
            for the callers after).
        :raises AvailabilityError: the snapshot table could not be read and no profile was built before.
        """
        now = self.now()
        with self._lock:
            entry = self._entries.get(workstream_id)
            if entry is not None and entry.slot <= now < entry.until:
                self._entries.move_to_end(workstream_id)
                return entry.profile
            pending = self._building.get(workstream_id)
            if pending is None:
                pending = self._building[workstream_id] = Future()
                self._builds += 1
                threading.Thread(target=self._build, name="profile-build", daemon=True,
                                 args=(workstream_id, now, pending, entry)).start()
        left = None if deadline is None else deadline - self._monotonic()
        try:
            return pending.result(timeout=None if left is None else max(0.0, left))
        except FutureTimeout:
            raise UpstreamTimeout(message="Table storage did not return the history in time.") from None

    def _build(self, workstream_id: str, now: datetime, pending: Future[Profile], before: _Entry | None) -> None:
        """Read the history and settle `pending` with the profile, the one before, or the error (never raises)."""
        started = self._monotonic()
        deadline = started + BUILD_BUDGET
        try:
            slot = schedule_slot(self._schedule, now, self._schedule_zone)
            start = now - timedelta(weeks=self.weeks)
            # At most one row a minute: bounds the read even with a very tight schedule.
            query = HistoryQuery(start=start, end=now, limit=self.weeks * 7 * 1440, workstream_id=workstream_id)
            rows = self._store.history(query, deadline=deadline, fields=FIELDS)
            profile = Profile.from_rows(workstream_id, rows, zone_name=self.zone_name, zone=self.zone, start=start,
                                        end=now)
        except AvailabilityError as error:
            telemetry.count_profile_build("error")
            with self._lock:
                del self._building[workstream_id]
            if before is None:
                pending.set_exception(error)
                return
            log.warning("The profile of workstream %s could not be rebuilt (%s): serving the one of %s",
                        workstream_id, error.code, before.slot.isoformat())
            with self._lock:
                self._entries[workstream_id] = _Entry(before.profile, before.slot, now + RETRY_AFTER_FAILURE)
            pending.set_result(before.profile)
            return
        except Exception as error:  # a bug: the waiters get it (an internal error), the next request tries again
            log.exception("Building the profile of workstream %s failed unexpectedly", workstream_id)
            with self._lock:
                del self._building[workstream_id]
            pending.set_exception(error)
            return
        telemetry.count_profile_build("ok")
        with self._lock:
            self._entries[workstream_id] = _Entry(profile, slot, next_slot(self._schedule, slot, self._schedule_zone))
            self._entries.move_to_end(workstream_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
            del self._building[workstream_id]
        pending.set_result(profile)
        log.info("Profile of workstream %s built from %d snapshots (%d weeks) in %.0f ms", workstream_id,
                 profile.snapshots, profile.weeks, (self._monotonic() - started) * 1000)
