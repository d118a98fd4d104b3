"""`TableState`: what every instance of the app must agree on, shared through one Table Storage table, with a
`MemoryState` in front (its own, not inherited) so that a cache hit never leaves memory.

All rows of one org live in one partition (`o` + a digest of the org URL and client id), so that one query reads
a check's row and the org's throttle row together:
- `a<hex>` per check, keyed by the service's blake2b digest of the check (never the caller's text): the last
  answer (`Answer`, JSON; an answer holds no secret), `FreshUntil` and `StaleUntil`, the lease of the instance
  fetching it now (`LeaseUntil`, `Owner`), and `ExpiresAt`, after which the row is worth nothing and is purged.
- `throttle`: the org's `Retry-After` (`RetryUntil`, `Recovering`, and the lease of the one probe after it,
  `ProbeUntil`/`Prober`) and the calls budget's count of calls per second of the last minute (`Calls`).
Times are epoch seconds: the instances share no monotonic clock.

A miss of a check this instance has not answered lately (most misses) puts one storage request on the caller's
path: an insert of the check's row holding this instance's lease, which succeeds only when no instance holds an
answer or a lease for it. Otherwise one query reads the check's row with the throttle row (in Azure an `or` of two
row keys scans the partition, which holds only the last `AVAILABILITY_STALE_SECONDS` of keys), and then a fresh
answer is used (no call), a live lease is polled for the answer within the request's own deadline, or one
conditional update on the row's ETag takes the lease. The answer is written in the background a moment after the
caller has it. A call goes by the throttle row as read at most 0.25 s ago, else it reads it first (for 2 s after
each call a keeper thread reads it every 0.2 s, so a busy instance's calls do not wait for it). Another instance's
first `Retry-After` holds this one within that time; from then on it is exact, as the probe after it is taken with
a conditional update, and so is each call's room in the budget (also refused during a Retry-After). Every
conditional write that loses a race reads again and decides again.

Storage never costs a request its answer: each storage request gets at most 0.25 s to connect and 0.5 s to read,
a request's storage work at most 1 s in all (waiting for another instance's answer is bounded by the request's
own deadline, like any follower's); when storage fails the instance goes on with its own state, logs a warning at
most once a minute and tries storage again 5 s later. Expired rows are deleted in the background, at most every
minute per instance and a few hundred rows at a time, so the table holds roughly the keys of the last
`AVAILABILITY_STALE_SECONDS`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from ..answer import Availability
from ..errors import StorageUnavailable, UpstreamTimeout
from .base import Call, Lifetime
from .memory import MAX_ENTRIES, MemoryState
from .rows import MAX_LEASE_SECONDS, Allowance, Conflict, Health, KeyRow, Lease, Rows, Spent, encode, row_key
from .throttle import Keeper, SharedBudget, SharedGate, SharedStorage

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = logging.getLogger(__name__)

FIRST_POLL, MAX_POLL = 0.03, 0.25  # a follower's reads of the row while the leader fetches
PURGE_EVERY_SECONDS, PURGE_PAGES = 60.0, 3  # pages of at most 100 rows, one transaction each
MAX_BACKGROUND = 1000  # writes waiting for the background workers; past it, answers stay in memory only
# A background write waits this long after it was queued, so that it does not compete with the response to the
# request that queued it for the interpreter.
BACKGROUND_DELAY = 0.01

# Storage work done after the caller has its answer, within an allowance of its own.
Work = Callable[[Allowance], None]


class TableState:
    """A `State` whose misses, Retry-After and calls budget go through Table Storage for all instances, with this
    instance's `MemoryState` in front of it (hits, calls in flight, and what storage cannot give).

    :param table: an `azure.data.tables.TableClient` (the table is created on first use).
    :param partition: the org's partition (`partition_for`).
    :keyword max_calls_per_minute: the calls budget of all instances together (0: none).
    :keyword max_entries: answers kept in memory, least recently stored dropped first.
    """

    def __init__(self, table: TableClient, partition: str, *, max_calls_per_minute: int = 0,
                 max_entries: int = MAX_ENTRIES, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.memory = MemoryState(max_calls_per_minute=max_calls_per_minute, max_entries=max_entries,
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
        self.rows = Rows(table, partition)
        self.health = Health(self.table_name, monotonic)
        self.storage = SharedStorage(self.rows, self.health, monotonic=monotonic, wall=wall, sleep=sleep)
        self.throttle = self.storage.throttle
        self.keeper = Keeper(self.throttle, self.storage.refresh, monotonic)
        self.gate = SharedGate(self.storage, self.memory.gate, self.keeper)
        self.budget = SharedBudget(self.storage, self.memory.budget)
        self._background_lock = threading.Lock()
        self._pending = 0
        self._workers: ThreadPoolExecutor | None = None
        self._purged_at = monotonic()
        self.dropped = 0  # answers not shared because the background was full (for telemetry)

    # -- a miss --
    def fetch(self, key: bytes, deadline: float | None, call: Call, lifetime: Lifetime) -> tuple[Availability, bool]:
        """Another instance's fresh answer, or the answer this instance fetches under the check's lease."""
        if not self.health.usable():
            return self.memory.fetch(key, deadline, call, lifetime)
        row = row_key(key)
        allowance = Allowance(self.monotonic)
        with self.storage.serving(allowance):  # the gate and the budget spend it too
            claim: Availability | Lease | None
            try:
                claim = self._claim(row, key, deadline, allowance)
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
        fresh_for, stale_for = lifetime(answer)
        self.memory.remember(key, answer, fresh_for, stale_for)
        if lease is not None or self.health.usable():
            at = self.wall()
            self._background(lambda allowance: self._share(row, answer, at, fresh_for, stale_for, lease, allowance))
        return answer, False

    def _claim(self, key: str, digest: bytes, deadline: float | None, allowance: Allowance) -> Availability | Lease:
        end = deadline if deadline is not None else self.monotonic() + MAX_LEASE_SECONDS
        if self.memory.held(digest) is None:
            # A check this instance has not answered lately most often has no row at all: one insert takes the
            # lease, and proves no instance holds an answer or a lease for it (rows outlive both).
            until = self.wall() + min(max(0.0, end - self.monotonic()), MAX_LEASE_SECONDS) + 1.0
            try:
                return Lease(self.rows.create({"RowKey": key, "LeaseUntil": until, "Owner": self.storage.owner,
                                               "ExpiresAt": until}, allowance), until)
            except Conflict:
                pass  # another instance fetched it, or is fetching it: read its row
        begun = self.monotonic()
        entity, throttle = self.rows.lookup(key, allowance)
        self.throttle.seen(throttle, begun)
        row = KeyRow.of(entity)
        pause = FIRST_POLL
        while True:
            now = self.wall()
            if row is not None:
                if row.answer is not None and row.fresh_until > now:
                    self._keep(digest, row)
                    return replace(row.answer, source="cache")
                if row.answer is not None and row.stale_until > now:
                    self._keep(digest, row)  # served if this instance's own call fails
                if row.lease_until > now and row.owner != self.storage.owner:
                    # Another instance is fetching this answer: wait for it as a follower would, within our deadline.
                    if self.monotonic() + pause >= end:
                        raise UpstreamTimeout(message="Dynamics 365 did not answer within the time budget.")
                    self.sleep(pause)
                    pause = min(pause * 1.5, MAX_POLL)
                    try:
                        row = KeyRow.of(self.rows.read(key, allowance))
                    except Spent:  # followed as long as this request may use storage: as past its deadline
                        raise UpstreamTimeout(message="Dynamics 365 did not answer within the time budget.") from None
                    continue
            until = now + min(max(0.0, end - self.monotonic()), MAX_LEASE_SECONDS) + 1.0
            lease = {"RowKey": key, "LeaseUntil": until, "Owner": self.storage.owner,
                     "ExpiresAt": max(until, row.stale_until if row else 0.0)}
            try:
                if row is None:
                    return Lease(self.rows.create(lease, allowance), until)
                return Lease(self.rows.update(lease, row.etag, allowance, merge=True), until)
            except Conflict:
                row = KeyRow.of(self.rows.read(key, allowance))  # another instance came first: look again

    def _keep(self, digest: bytes, row: KeyRow) -> None:
        """Another instance's answer into this instance's memory, with the same windows (unless ours is newer)."""
        assert row.answer is not None
        local = self.memory.held(digest)
        if local is not None and local.retrieved_at >= row.answer.retrieved_at:
            return
        now = self.wall()
        self.memory.remember(digest, row.answer, row.fresh_until - now, row.stale_until - now)

    def _share(self, key: str, answer: Availability, at: float, fresh_for: float, stale_for: float,
               lease: Lease | None, allowance: Allowance) -> None:
        """Write `answer`, had at wall time `at`, fresh and stale from then (not from when it is written)."""
        if fresh_for <= 0 and stale_for <= 0:
            if lease is not None:
                self._release(key, lease, allowance)
            return
        stale_until = at + max(0.0, stale_for)
        entity = {"RowKey": key, "Answer": encode(answer), "FreshUntil": at + max(0.0, fresh_for),
                  "StaleUntil": stale_until}
        if lease is not None:
            try:
                self.rows.update({**entity, "LeaseUntil": 0.0, "Owner": "", "ExpiresAt": stale_until},
                                 lease.etag, allowance, merge=False)
                return
            except Conflict:
                pass  # the lease ran out and another instance took it: leave its lease, share the answer
        # Another instance's lease may be on the row: it is kept until that lease could have run out.
        self.rows.merge({**entity, "ExpiresAt": max(stale_until, self.wall() + MAX_LEASE_SECONDS + 1.0)}, allowance)

    def _release(self, key: str, lease: Lease, allowance: Allowance) -> None:
        """The leader's call failed: followers may try theirs now rather than when the lease runs out."""
        try:
            self.rows.update({"RowKey": key, "LeaseUntil": 0.0, "Owner": ""}, lease.etag, allowance, merge=True)
        except Conflict:
            pass

    # -- the background: answers written after the caller has them, and the purge --
    def _background(self, work: Work) -> None:
        with self._background_lock:
            if self._pending >= MAX_BACKGROUND:
                self.dropped += 1
                return
            self._pending += 1
            if self._workers is None:
                self._workers = ThreadPoolExecutor(2, thread_name_prefix="shared-state")
            workers = self._workers
        workers.submit(self._run, work, self.monotonic() + BACKGROUND_DELAY)

    def _run(self, work: Work, not_before: float) -> None:
        try:
            wait = not_before - self.monotonic()
            if wait > 0:  # past it when writes queue up: then no wait at all
                time.sleep(wait)
            if self.health.usable():
                work(Allowance(self.monotonic))
                self._purge_now_and_then()
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

    def _purge_now_and_then(self) -> None:
        with self._background_lock:
            if self.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
                return
            self._purged_at = self.monotonic()
        self.purge()

    def purge(self) -> int:
        """Delete expired rows of the org's partition, a few pages at most; returns how many."""
        deleted = 0
        for _ in range(PURGE_PAGES):
            allowance = Allowance(self.monotonic)
            rows = self.rows.expired(self.wall(), allowance)
            if not rows:
                break
            try:
                self.rows.delete_all(rows, allowance)
                deleted += len(rows)
            except Conflict:
                break  # a row was refreshed meanwhile: the next purge will see the rest
            if len(rows) < 100:
                break
        return deleted

    def close(self) -> None:
        """Let the writes already queued finish (each is bounded), then stop the workers and the keeper."""
        self.keeper.close()
        with self._background_lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=True)
