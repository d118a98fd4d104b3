"""The org's `Retry-After` and the calls budget for every instance together, in the partition's throttle row.

`Throttle` is the row: the `Retry-After` (`RetryUntil`, `Recovering`), the lease of the one probe after it
(`ProbeUntil`/`Prober`) and the calls of the last minute counted per second (`Calls`). `ThrottleRow` is the row as
this instance knows it, changed only on its ETag, and the `Keeper` reads it again in the background while the
instance calls the org. `SharedStorage` is this instance's way to the row; on it, `SharedGate` and `SharedBudget`
are the `Gate` and `Budget` of every instance together, and fall back to this instance's own `RetryAfterGate` and
`CallsBudget` while storage fails.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

from ..dataverse.throttle import BUDGET_SPENT, THROTTLED, Budget, CallsBudget, Gate, RetryAfterGate
from ..errors import StorageUnavailable, UpstreamThrottled
from .rows import MAX_LEASE_SECONDS, THROTTLE_ROW, Allowance, Conflict, Health, Row, RowStore, Spent, as_number

T = TypeVar("T")

# The throttle row as read at most MAX_AGE ago is good enough for a call, else the call reads it first. For
# KEEP_FRESH seconds after each call, the `Keeper` reads it again whenever it is older than REFRESH_AFTER, so that
# the calls of a busy instance do not wait for it.
THROTTLE_MAX_AGE, THROTTLE_REFRESH_AFTER, KEEP_FRESH_SECONDS = 0.25, 0.2, 2.0
CALL_MARGIN = 0.2  # of a call's budget, kept for the call when the gate waits
BUDGET_WINDOW = 62  # one-second buckets a call's room is counted over (see `Throttle.wait_for_room`)


@dataclass
class Throttle:
    """The throttle row as last read or written."""

    retry_until: float = 0.0
    recovering: bool = False
    probe_until: float = 0.0
    prober: str = ""
    calls: dict[int, int] = dataclasses.field(default_factory=dict)  # epoch second -> calls sent in it
    etag: str | None = None  # None: no such row yet

    @classmethod
    def of(cls, row: Row | None) -> Throttle:
        """The row as read (None: there is none yet)."""
        if row is None:
            return cls()
        values = row.values
        calls: dict[int, int] = {}
        for item in str(values.get("Calls") or "").split(","):
            second, _, count = item.partition(":")
            if second.isdigit() and count.isdigit():
                calls[int(second)] = int(count)
        return cls(as_number(values.get("RetryUntil")), bool(values.get("Recovering")),
                   as_number(values.get("ProbeUntil")), str(values.get("Prober") or ""), calls, row.etag)

    def entity(self) -> dict[str, object]:
        """The row's properties as written."""
        return {"RowKey": THROTTLE_ROW, "RetryUntil": float(self.retry_until), "Recovering": self.recovering,
                "ProbeUntil": float(self.probe_until), "Prober": self.prober,
                "Calls": ",".join(f"{second}:{count}" for second, count in sorted(self.calls.items()))}

    def wait_for_room(self, per_minute: int, now: float) -> float:
        """Seconds until a call fits `per_minute` in any 60 s, counting calls in one-second buckets.

        A call counted at second b is allowed while buckets b-61..b hold fewer than `per_minute`, so no 62
        consecutive buckets ever hold more. A call reaches the org a moment after it is counted, and the
        instances' clocks disagree a little: as long as the two together stay under a second, the calls of any
        60 s at the org were counted within 61 s, which lie within 62 buckets. A call waits at most a second
        longer than an exact count would make it wait.
        """
        current = int(now)
        window = sorted((second, count) for second, count in self.calls.items() if second > current - BUDGET_WINDOW)
        total = sum(count for _, count in window)
        for second, count in window:
            if total < per_minute:
                break
            total -= count
            if total < per_minute:
                return second + BUDGET_WINDOW - now
        return 0.0 if total < per_minute else 60.0

    def count_call(self, now: float) -> None:
        """One call sent at `now` (epoch seconds); buckets out of the window are dropped."""
        current = int(now)
        self.calls = {second: count for second, count in self.calls.items() if second > current - BUDGET_WINDOW}
        self.calls[current] = self.calls.get(current, 0) + 1


class ThrottleRow:
    """The throttle row as this instance knows it, and changes to it written on its ETag."""

    def __init__(self, rows: RowStore, monotonic: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._rows = rows
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one read at a time: concurrent callers take its result
        self._known = Throttle()
        self._read_at = -math.inf
        self._written_at = -math.inf  # when this instance's last write of the row was done

    def seen(self, row: Row | None, begun: float) -> None:
        """The row as a read begun at `begun` (monotonic) found it (None: there is none yet).

        Ignored when this instance wrote the row after that read began: the read may predate the write.
        """
        with self._lock:
            if begun >= self._written_at:
                # As fresh as the moment the read began: the row may have changed during the read.
                self._known, self._read_at = Throttle.of(row), begun

    def _read(self, allowance: Allowance) -> None:
        begun = self._monotonic()
        self.seen(self._rows.read(THROTTLE_ROW, allowance), begun)

    def current(self, max_age: float, allowance: Allowance) -> Throttle:
        """The row as read at most `max_age` ago, else read now."""
        asked = self._monotonic()
        with self._lock:
            if asked - self._read_at <= max_age:
                return dataclasses.replace(self._known, calls=dict(self._known.calls))
        with allowance.holding(self._reading):
            with self._lock:
                fresh = self._read_at >= asked  # read by another caller while this one waited
            if not fresh:
                self._read(allowance)
        return self.current(math.inf, allowance)

    def age(self) -> float:
        """Seconds since the row was last read or written (infinite before the first time)."""
        with self._lock:
            return self._monotonic() - self._read_at

    def refresh(self, allowance: Allowance, older_than: float = THROTTLE_REFRESH_AFTER) -> None:
        """Read the row again if it was read more than `older_than` ago (off the callers' path)."""
        with allowance.holding(self._reading):  # a caller reading it meanwhile reads it for this too
            with self._lock:
                if self._monotonic() - self._read_at <= older_than:
                    return
            self._read(allowance)

    def change(self, mutate: Callable[[Throttle], bool], allowance: Allowance) -> Throttle | None:
        """Apply `mutate` to the latest row and write it if unchanged meanwhile; None when `mutate` declined."""
        max_age = THROTTLE_MAX_AGE
        for _ in range(20):
            row = self.current(max_age, allowance)
            if not mutate(row):
                return None
            begun = self._monotonic()
            try:
                if row.etag is None:
                    etag = self._rows.create(row.entity(), allowance)
                else:
                    etag = self._rows.update(row.entity(), row.etag, allowance, merge=False)
            except Conflict:
                max_age = -1.0  # read it again
                self._sleep(random.uniform(0, 0.01))
                continue
            row.etag = etag
            with self._lock:
                # Known as of when the write began (it applied to the row as read); later reads may be older.
                self._known, self._read_at, self._written_at = row, begun, self._monotonic()
            return row
        raise Spent()  # contention beyond reason: this call goes on with this instance's own state


def _start_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name="throttle-row", daemon=True)
    thread.start()
    return thread


class Keeper:
    """Keeps the throttle row at most `THROTTLE_REFRESH_AFTER` old, in a thread of its own, for
    `KEEP_FRESH_SECONDS` after each call of this instance, so that a call seldom reads the row on its caller's path.

    A quiet instance reads nothing: its first call after a quiet spell reads the row first. A busy one reads it at
    most five times a second, however many calls it makes. The thread starts with the first call and stops on
    `close()` (a later call starts it again).

    :param row: the throttle row as this instance knows it.
    :param read: reads the row again when it is older than `THROTTLE_REFRESH_AFTER`, storage failures handled.
    :param monotonic: the clock `KEEP_FRESH_SECONDS` and the row's age are counted on.
    :keyword wait: waits on the keeper's condition for at most the seconds given (None: until notified), as
        `threading.Condition.wait` does; with `spawn`, how a clock other than the system's runs the keeper.
    :keyword spawn: runs the keeper's loop (by default in a new daemon thread, which it returns).
    """

    def __init__(self, row: ThrottleRow, read: Callable[[], None], monotonic: Callable[[], float], *,
                 wait: Callable[[threading.Condition, float | None], bool] = threading.Condition.wait,
                 spawn: Callable[[Callable[[], None]], threading.Thread | None] = _start_thread) -> None:
        self._row = row
        self._read = read
        self._monotonic = monotonic
        self._wait = wait
        self._spawn = spawn
        self._wake = threading.Condition()
        self._busy_until = -math.inf
        self._generation = 0  # a thread runs while the generation it started with is current
        self._running = False
        self._idle = False
        self._thread: threading.Thread | None = None

    def calling(self) -> None:
        """This instance is about to call the org: keep the row fresh for the next `KEEP_FRESH_SECONDS`."""
        with self._wake:
            self._busy_until = self._monotonic() + KEEP_FRESH_SECONDS
            if not self._running:
                self._running, self._idle = True, False
                generation = self._generation
                self._thread = self._spawn(lambda: self._run(generation))
            elif self._idle:
                self._idle = False
                self._wake.notify_all()  # a thread of an earlier generation may be waiting too: it ends

    def close(self) -> None:
        """Stop the thread (after the read it may be doing, at most a second); a later call starts it again."""
        with self._wake:
            self._generation += 1
            self._running = False
            self._wake.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def _run(self, generation: int) -> None:
        try:
            self._keep(generation)
        finally:
            with self._wake:
                if generation == self._generation:  # ended by something unforeseen: the next call starts anew
                    self._running = False

    def _keep(self, generation: int) -> None:
        while True:
            with self._wake:
                while generation == self._generation and self._monotonic() >= self._busy_until:
                    self._idle = True
                    self._wait(self._wake, None)
                if generation != self._generation:
                    return
                wait = THROTTLE_REFRESH_AFTER - self._row.age()
                if wait > 0:
                    self._wait(self._wake, wait)
                    continue
            self._read()
            if self._row.age() >= THROTTLE_REFRESH_AFTER:  # storage could not be read: not again at once
                with self._wake:
                    self._wait(self._wake, THROTTLE_REFRESH_AFTER)


class SharedStorage:
    """This instance's way to the throttle row: who it is in leases, its clocks, whether storage may be used now,
    and the storage allowance of the request each thread serves.

    :param rows: the org's partition.
    :param health: whether to use storage now, as this instance has found it.
    """

    def __init__(self, rows: RowStore, health: Health, *, monotonic: Callable[[], float],
                 wall: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.owner = uuid.uuid4().hex[:16]  # this instance, in leases
        self.monotonic, self.wall, self.sleep = monotonic, wall, sleep
        self.health = health
        self.throttle = ThrottleRow(rows, monotonic, sleep)
        self._request = threading.local()  # the storage allowance of the request this thread serves

    @contextmanager
    def serving(self, allowance: Allowance) -> Iterator[None]:
        """This thread's storage work within `allowance` (its request's) until the block ends."""
        self._request.allowance = allowance
        try:
            yield
        finally:
            self._request.allowance = None

    def with_storage(self, operation: Callable[[Allowance], T]) -> T | None:
        """`operation` within this request's storage allowance; None when storage cannot be used now (failing, or
        this request's time for it spent)."""
        if not self.health.usable():
            return None
        allowance: Allowance = getattr(self._request, "allowance", None) or Allowance(self.monotonic)
        try:
            result = operation(allowance)
        except Spent:
            return None
        except StorageUnavailable as exc:
            self.health.failed(exc)
            return None
        self.health.succeeded()
        return result

    def refresh(self) -> None:
        """The keeper's read of the throttle row (storage failures count as any request's)."""
        self.with_storage(lambda allowance: self.throttle.refresh(allowance, older_than=THROTTLE_REFRESH_AFTER))


class SharedGate(Gate):
    """The org's `Retry-After` for every instance: noted in the throttle row, and one probe in all after it.

    Falls back to this instance's own `RetryAfterGate` (kept up to date all along) while storage fails.
    """

    def __init__(self, storage: SharedStorage, local: RetryAfterGate, keeper: Keeper) -> None:
        self._storage = storage
        self._local = local
        self._keeper = keeper
        self._lock = threading.Lock()
        self._probing = False  # a thread of this instance holds the probe (or is taking it)

    def note(self, wait: float) -> None:
        self._local.note(wait)
        until = self._storage.wall() + wait
        owner = self._storage.owner

        def mutate(row: Throttle) -> bool:
            row.retry_until, row.recovering = max(row.retry_until, until), True
            if row.prober == owner:  # the probe was answered (with this 429): its lease ends
                row.probe_until, row.prober = 0.0, ""
            return True

        self._storage.with_storage(lambda allowance: self._storage.throttle.change(mutate, allowance))

    def wait(self, deadline: float) -> bool:
        self._keeper.calling()
        result = self._storage.with_storage(lambda allowance: self._wait(deadline, allowance))
        return self._local.wait(deadline) if result is None else result

    def _wait(self, deadline: float, allowance: Allowance) -> bool:
        storage = self._storage
        max_age = THROTTLE_MAX_AGE
        while True:
            row = storage.throttle.current(max_age, allowance)
            now, clock = storage.wall(), storage.monotonic()
            wait = row.retry_until - now
            # Waits must leave the call time for the gate's own reads and writes, and for the call itself.
            if wait > 0:
                if clock + wait + CALL_MARGIN >= deadline:
                    raise UpstreamThrottled(message=THROTTLED, retry_after=max(1, round(wait)))
                storage.sleep(wait)
                max_age = 0.0
                continue
            if not row.recovering:
                return False
            if clock + CALL_MARGIN >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            # Past a Retry-After, one call goes first for all instances: the one that takes the probe's lease.
            with self._lock:
                mine = not self._probing and not (row.probe_until > now and row.prober != storage.owner)
                if mine:
                    self._probing = True
            if mine and self._take_probe(deadline, allowance):
                if storage.monotonic() + CALL_MARGIN / 2 < deadline:
                    return True
                self.end_probe(recovered=False)  # taken too late to be sent: let another instance probe
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            if clock + 0.1 + CALL_MARGIN >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            storage.sleep(0.1)
            max_age = 0.0

    def _take_probe(self, deadline: float, allowance: Allowance) -> bool:
        storage = self._storage
        now = storage.wall()
        lease = now + min(max(0.0, deadline - storage.monotonic()), MAX_LEASE_SECONDS) + 1.0

        def mutate(row: Throttle) -> bool:
            if row.retry_until > now or not row.recovering or (row.probe_until > now and row.prober != storage.owner):
                return False
            row.probe_until, row.prober = lease, storage.owner
            return True

        taken = False
        try:
            taken = storage.throttle.change(mutate, allowance) is not None
        finally:
            if not taken:
                with self._lock:
                    self._probing = False
        return taken

    def end_probe(self, *, recovered: bool) -> None:
        with self._lock:
            self._probing = False
        self._local.end_probe(recovered=recovered)
        owner = self._storage.owner

        def mutate(row: Throttle) -> bool:
            changed = False
            if row.prober == owner:
                row.probe_until, row.prober, changed = 0.0, "", True
            if recovered and row.recovering and row.retry_until <= self._storage.wall():
                row.recovering, changed = False, True
            return changed

        self._storage.with_storage(lambda allowance: self._storage.throttle.change(mutate, allowance))


class SharedBudget(Budget):
    """`AVAILABILITY_MAX_CALLS_PER_MINUTE` for every instance together, counted in the throttle row.

    Each call is also counted in this instance's own `CallsBudget`, which takes over while storage fails. When
    storage works but cannot confirm room within the request's allowance (slow, or many instances taking at
    once), the call is not made: the budget is there to protect the org.
    """

    def __init__(self, storage: SharedStorage, local: CallsBudget) -> None:
        self._storage = storage
        self._local = local
        self.per_minute = local.per_minute

    def wait(self, wait_until: float) -> bool:
        if not self.per_minute:
            return False
        result = self._storage.with_storage(_strict(lambda allowance: self._wait(wait_until, allowance)))
        return self._local.wait(wait_until) if result is None else result

    def _wait(self, wait_until: float, allowance: Allowance) -> bool:
        storage = self._storage
        waited, max_age = False, THROTTLE_MAX_AGE
        while True:
            wait = storage.throttle.current(max_age, allowance).wait_for_room(self.per_minute, storage.wall())
            if wait <= 0:
                return waited
            if storage.monotonic() + wait > wait_until:
                raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=max(1, math.ceil(wait)))
            storage.sleep(wait)
            waited, max_age = True, 0.0

    def take(self) -> bool:
        if not self.per_minute:
            return True

        def mutate(row: Throttle) -> bool:
            now = self._storage.wall()  # each try's own time: the call is counted in the second it is sent
            # A Retry-After noted since the gate looked (the gate may go by a row a moment old): no room either.
            if row.wait_for_room(self.per_minute, now) > 0 or row.retry_until > now:
                return False
            row.count_call(now)
            return True

        taken = self._storage.with_storage(
            _strict(lambda allowance: self._storage.throttle.change(mutate, allowance) is not None))
        if taken is None:
            return self._local.take()
        if taken:
            self._local.take()  # this instance's own count, for when storage fails
        return taken


def _strict(operation: Callable[[Allowance], T]) -> Callable[[Allowance], T]:
    """`operation`, with room it could not confirm in time taken as no room."""

    def strict(allowance: Allowance) -> T:
        try:
            return operation(allowance)
        except Spent:
            raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=1) from None

    return strict

