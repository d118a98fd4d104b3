"""`TableState`: what every instance of the app must agree on, shared through one Table Storage table, with a
`MemoryState` in front (its own, not inherited) so that a cache hit never leaves memory.

Rows (see `Layout` in rows.py for where each lives):
- one per check, keyed by the service's blake2b digest of the check (never the caller's text), in one of 64
  partitions of its generation: the last answer (`Answer`, JSON; an answer holds no secret), `FreshUntil` and
  `StaleUntil`, and the lease of the instance fetching it now (`LeaseUntil`, `LeasedAt`, `Owner`);
- the throttle row in the org's own partition: the org's `Retry-After` and circuit, the calls budget's grants, the
  slots for calls in flight, the count of active instances (throttle.py, gate.py, budget.py);
- one roster row per instance (upkeep.py).
Times are epoch seconds: the instances share no monotonic clock. What is read is bounded by this instance's own
settings (`Bounds`), so that a row written by anyone cannot make it serve an answer longer than they allow.

A lookup is one point read of the check's row (two, in the first minutes of a check's new generation, when the new
one holds nothing yet). A miss of a check this instance has not answered lately (most misses) puts one storage
request on the caller's path once the calls budget admits its call: an insert of the check's row holding this
instance's lease, which succeeds only when no instance holds an answer or a lease for it. Otherwise the point read
decides: a fresh answer is used (no call); a live lease of another instance is followed — with the answer held here
served as `stale` for a short grace if there is one, else the row read again until the answer is there, within the
request's own deadline — or one conditional update on the row's ETag takes the lease. The answer is written in the
background a moment after the caller has it. A hot answer is refreshed a little before it stops being fresh, by the
first instance whose moment comes (memory.py), the others finding the newer answer in the row when theirs comes.

Storage never costs a request its answer: each storage request gets at most 0.25 s to connect and 0.5 s to read,
a request's storage work at most 1 s in all (waiting for another instance's answer is bounded by the request's
own deadline, like any follower's); when storage fails the instance goes on with its own state (the budget and the
cap narrowed to its share), logs a warning at most once a minute and tries storage again 5 s later.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from ..answer import Availability
from ..errors import StorageUnavailable, UpstreamThrottled, UpstreamTimeout
from .base import Admit, Call, Lifetime
from .budget import SharedBudget, SharedSlots
from .gate import SharedGate
from .memory import GRACE_SECONDS, MAX_ENTRIES, MemoryState
from .rows import (
    MAX_LEASE_SECONDS,
    SKEW_SECONDS,
    STORAGE_SECONDS,
    Allowance,
    Bounds,
    Conflict,
    Health,
    KeyRow,
    Layout,
    Lease,
    Rows,
    Spent,
    encode,
    row_key,
)
from .throttle import Keeper, SharedStorage
from .upkeep import BACKGROUND_SECONDS, Purge, Roster

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

# A follower's reads of the row while another instance fetches (no answer held here): soon at first, then less and
# less often, so that followers of a slow org do not read the row many times a second each.
FIRST_POLL, MAX_POLL = 0.03, 1.0
PURGE_EVERY_SECONDS = 60.0  # this instance looks whether old answers are to be deleted at most this often
MAX_BACKGROUND = 1000  # writes waiting for the background workers; past it, answers stay in memory only
# A background write waits this long after it was queued, so that it does not compete with the response to the
# request that queued it for the interpreter.
BACKGROUND_DELAY = 0.01

# Storage work done after the caller has its answer, within an allowance of its own.
Work = Callable[[Allowance], None]


class TableState:
    """A `State` whose misses, Retry-After, circuit, calls budget and cap on calls in flight go through Table
    Storage for all instances, with this instance's `MemoryState` in front of it (hits, calls in flight, and what
    storage cannot give).

    :param table: an `azure.data.tables.TableClient` (the table is created on first use).
    :param partition: the org's own partition (`partition_for`).
    :keyword max_calls_per_minute: the calls budget of all instances together (0: none).
    :keyword max_concurrent_calls: the cap on calls in flight of all instances together (0: none).
    :keyword cache_seconds: how long this instance serves an answer fresh (bounds what rows say).
    :keyword stale_seconds: how long this instance serves an answer stale (bounds what rows say).
    :keyword max_entries: answers kept in memory, least recently stored dropped first.
    """

    def __init__(self, table: TableClient, partition: str, *, max_calls_per_minute: int = 0,
                 max_concurrent_calls: int = 0, cache_seconds: float = 15.0, stale_seconds: float = 300.0,
                 max_entries: int = MAX_ENTRIES, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.memory = MemoryState(max_calls_per_minute=max_calls_per_minute,
                                  max_concurrent_calls=max_concurrent_calls, max_entries=max_entries,
                                  monotonic=monotonic, sleep=sleep)
        # The memory's own methods, not methods that call them: a hit costs no more than with `MemoryState`.
        self.begin = self.memory.begin
        self.fresh = self.memory.fresh
        self.end = self.memory.end
        self.stale = self.memory.stale
        self.clear = self.memory.clear
        self.remember = self.memory.remember
        self.monotonic, self.wall, self.sleep = monotonic, wall, sleep
        self.table_name = table.table_name
        self.bounds = Bounds(cache_seconds, stale_seconds)
        self.layout = Layout(partition, max(cache_seconds, stale_seconds) + MAX_LEASE_SECONDS + 1.0 + SKEW_SECONDS)
        self.rows = Rows(table)
        self.health = Health(self.table_name, monotonic)
        self.storage = SharedStorage(self.rows.of(self.layout.throttle), self.health, monotonic=monotonic, wall=wall,
                                     sleep=sleep)
        self.throttle = self.storage.throttle
        self.keeper = Keeper(self.throttle, self.storage.refresh, monotonic)
        self.gate = SharedGate(self.storage, self.memory.gate, self.keeper)
        self.budget = SharedBudget(self.storage, self.memory.budget)
        self.slots = SharedSlots(self.storage, self.memory.slots, self._later)
        self.roster = Roster(self.rows, self.layout, self.storage)
        self.purger = Purge(self.rows, self.layout, self.storage)
        self._background_lock = threading.Lock()
        self._pending = 0
        self._workers: ThreadPoolExecutor | None = None
        self._upkeep_queued = False
        self._purged_at = -PURGE_EVERY_SECONDS
        self.dropped = 0  # answers not shared because the background was full (for telemetry)

    # -- a miss --
    def fetch(self, key: bytes, deadline: float | None, call: Call, lifetime: Lifetime, *,
              admit: Admit | None = None, refresh: bool = False) -> tuple[Availability, bool]:
        """Another instance's fresh answer, the answer held here while another instance's call is on its way, or
        the answer this instance fetches under the check's lease."""
        if not self.health.usable():
            return self.memory.fetch(key, deadline, call, lifetime)
        self._upkeep_now_and_then()
        row = row_key(key)
        admitted = False

        def admitting() -> None:
            nonlocal admitted
            if admit is not None and not admitted:
                admit()
                admitted = True

        allowance = Allowance(self.monotonic)
        with self.storage.serving(allowance):  # the gate, the budget and the slots spend it too
            try:
                claim: Availability | Lease | None
                try:
                    claim = self._claim(row, key, deadline, allowance, admitting=admitting, refresh=refresh)
                    self.health.succeeded()
                except Spent:
                    claim = None
                except StorageUnavailable as exc:
                    self.health.failed(exc)
                    claim = None
                if isinstance(claim, Availability):
                    return claim, True
                lease = claim
                try:
                    answer = call()
                except BaseException:
                    if lease is not None:
                        self._background(lambda allowance: self._release(row, lease, allowance))
                    raise
            finally:
                if admitted:
                    self.budget.release()  # room admitted and not taken by a call: for the next one
        fresh_for, stale_for = lifetime(answer)
        self.memory.remember(key, answer, fresh_for, stale_for)
        if lease is not None or self.health.usable():
            at = self.wall()
            self._background(lambda allowance: self._share(row, key, answer, allowance, at=at, fresh_for=fresh_for,
                                                           stale_for=stale_for, lease=lease))
        return answer, False

    def _claim(self, row_name: str, key: bytes, deadline: float | None, allowance: Allowance, *,
               admitting: Callable[[], None], refresh: bool) -> Availability | Lease:
        end = deadline if deadline is not None else self.monotonic() + MAX_LEASE_SECONDS
        wall = self.wall()
        generation = self.layout.generation(key, wall)
        partition = self.layout.answers(key, generation)
        overlap = self.layout.overlaps(key, wall)
        held = self.memory.held(key)
        if held is None and not overlap:
            # A check this instance has not answered lately most often has no row at all: one insert takes the
            # lease, and proves no instance holds an answer or a lease for it (rows outlive both). Only once the
            # budget admits the call: a check the org will not be asked for leaves no row behind.
            try:
                admitting()
            except UpstreamThrottled:
                found = self._read(partition, row_name, allowance)  # another instance's answer may stand in
                if found is not None and found.answer is not None and found.fresh_until > self.wall():
                    self._keep(key, found)
                    return replace(found.answer, source="cache")
                if found is not None and found.answer is not None:
                    self._keep(key, found)  # served stale, if it may be
                raise
            until = self.wall() + min(max(0.0, end - self.monotonic()), MAX_LEASE_SECONDS) + 1.0
            try:
                return Lease(self.rows.create(partition, self._lease(row_name, until), allowance), until, partition)
            except Conflict:
                pass  # another instance fetched it, or is fetching it: read its row
        row = self._read(partition, row_name, allowance)
        if row is None and overlap:
            before = self._read(self.layout.answers(key, generation - 1), row_name, allowance)
            if before is not None and before.answer is not None:
                self._keep(key, before)
                if before.fresh_until > self.wall() and not refresh:
                    return replace(before.answer, source="cache")
        pause = FIRST_POLL
        while True:
            now = self.wall()
            if row is not None and row.answer is not None:
                newer = held is None or row.answer.retrieved_at > held.retrieved_at
                if row.fresh_until > now and (newer or not refresh):
                    self._keep(key, row)
                    return replace(row.answer, source="cache")
                if row.stale_until > now:
                    self._keep(key, row)  # served if this instance's own call fails
            if row is not None and row.lease_until > now and row.owner != self.storage.owner:
                # Another instance is fetching this answer: the one held here stands in for a short grace; without
                # one, wait for it as a follower would, within our deadline.
                graced = self.memory.graced(key)
                if graced is not None:
                    self.memory.follow(key, self.monotonic() + min(row.lease_until - now, GRACE_SECONDS))
                    return graced
                if self.monotonic() + pause >= end:
                    raise UpstreamTimeout()
                self.sleep(pause)
                pause = min(pause * 2, MAX_POLL)
                try:
                    row = self._read(row.partition, row_name, allowance)
                except Spent:  # followed as long as this request may use storage: as past its deadline
                    raise UpstreamTimeout() from None
                continue
            admitting()
            until = now + min(max(0.0, end - self.monotonic()), MAX_LEASE_SECONDS) + 1.0
            lease = self._lease(row_name, until)
            try:
                if row is None:
                    return Lease(self.rows.create(partition, lease, allowance), until, partition)
                return Lease(self.rows.update(row.partition, lease, row.etag, allowance, merge=True), until,
                             row.partition)
            except Conflict:
                row = self._read(partition, row_name, allowance)  # another instance came first: look again

    def _lease(self, row_name: str, until: float) -> dict[str, object]:
        return {"RowKey": row_name, "LeaseUntil": until, "LeasedAt": self.wall(), "Owner": self.storage.owner}

    def _read(self, partition: str, row_name: str, allowance: Allowance) -> KeyRow | None:
        """The check's row of `partition` (one point read), within this instance's bounds."""
        return KeyRow.of(self.rows.read(partition, row_name, allowance), partition, self.bounds, self.wall())

    def _keep(self, key: bytes, row: KeyRow) -> None:
        """Another instance's answer into this instance's memory, with the same windows (unless ours is newer)."""
        assert row.answer is not None
        local = self.memory.held(key)
        if local is not None and local.retrieved_at >= row.answer.retrieved_at:
            return
        now = self.wall()
        self.memory.remember(key, row.answer, row.fresh_until - now, row.stale_until - now,
                             window=row.fresh_until - row.answer.retrieved_at.timestamp())

    def _share(self, row_name: str, key: bytes, answer: Availability, allowance: Allowance, *, at: float,
               fresh_for: float, stale_for: float, lease: Lease | None) -> None:
        """Write `answer`, had at wall time `at`, fresh and stale from then (not from when it is written)."""
        if fresh_for <= 0 and stale_for <= 0:
            if lease is not None:
                self._release(row_name, lease, allowance)
            return
        entity = {"RowKey": row_name, "Answer": encode(answer), "FreshUntil": at + max(0.0, fresh_for),
                  "StaleUntil": at + max(0.0, stale_for)}
        if lease is not None:
            try:
                self.rows.update(lease.partition, {**entity, "LeaseUntil": 0.0, "LeasedAt": 0.0, "Owner": ""},
                                 lease.etag, allowance, merge=False)
                return
            except Conflict:
                pass  # the lease ran out and another instance took it: leave its lease, share the answer
        # Another instance's lease may be on the row: merged, it stays.
        partition = lease.partition if lease is not None else self.layout.answers(
            key, self.layout.generation(key, self.wall()))
        self.rows.merge(partition, entity, allowance)

    def _release(self, row_name: str, lease: Lease, allowance: Allowance) -> None:
        """The leader's call failed: followers may try theirs now rather than when the lease runs out."""
        with contextlib.suppress(Conflict):
            self.rows.update(lease.partition, {"RowKey": row_name, "LeaseUntil": 0.0, "Owner": ""}, lease.etag,
                             allowance, merge=True)

    # -- the background: answers written after the caller has them, slots let go, the upkeep --
    def _background(self, work: Work, delay: float = BACKGROUND_DELAY, seconds: float = STORAGE_SECONDS) -> None:
        with self._background_lock:
            if self._pending >= MAX_BACKGROUND:
                self.dropped += 1
                return
            self._pending += 1
            if self._workers is None:
                self._workers = ThreadPoolExecutor(2, thread_name_prefix="shared-state")
            workers = self._workers
        workers.submit(self._run, work, self.monotonic() + delay, seconds)

    def _later(self, work: Work, delay: float) -> None:
        self._background(work, delay)

    def _run(self, work: Work, not_before: float, seconds: float) -> None:
        try:
            wait = not_before - self.monotonic()
            if wait > 0:  # past it when writes queue up: then no wait at all
                time.sleep(wait)
            if self.health.usable():
                work(Allowance(self.monotonic, seconds))
                self.health.succeeded()
        except StorageUnavailable as exc:
            self.health.failed(exc)
        except (Spent, Conflict):
            pass
        except Exception:  # a bug here must not take the worker down; the answer is in memory anyway
            log.exception("Writing the shared state failed")
        finally:
            with self._background_lock:
                self._pending -= 1

    def _upkeep_now_and_then(self) -> None:
        """This instance's roster row when it is due, and the purge when this instance may look for one."""
        with self._background_lock:
            if self._upkeep_queued:
                return
            purge = self.monotonic() - self._purged_at >= PURGE_EVERY_SECONDS and self.purger.due()
            if not (self.roster.due() or purge):
                return
            self._upkeep_queued = True
            if purge:
                self._purged_at = self.monotonic()
        self._background(self._upkeep, seconds=BACKGROUND_SECONDS)

    def _upkeep(self, allowance: Allowance) -> None:
        try:
            if self.roster.due():
                self.roster.beat(allowance)
            if self.purger.due():
                self.purger.run(allowance)
        finally:
            with self._background_lock:
                self._upkeep_queued = False

    def purge(self) -> int:
        """Delete answers past use, if this instance takes the purge; returns how many."""
        return self.purger.run(Allowance(self.monotonic, BACKGROUND_SECONDS))

    def close(self) -> None:
        """Let the writes already queued finish (each is bounded), then stop the workers and the keeper."""
        self.keeper.close()
        with self._background_lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=True)
