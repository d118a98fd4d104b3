"""The org's throttle row: what every instance together must keep to, in one row of the org's own partition.

`Throttle` is the row: the org's `Retry-After` (`RetryUntil`, `Recovering`) and its circuit (`Failures`,
`FailingUntil`), the lease of the one probe after either (`ProbeUntil`/`Prober`), the calls budget's grants of the
last minute counted per second (`Calls`), the leases of the slots for calls in flight (`Slots`), how many instances
are active (`Active`, kept by the roster) and how far old generations of answers are deleted (`PurgedThrough`).
Every time in it is read within bounds: a lease no longer than its kind allows from when it was taken, nothing
further ahead than the instances' clocks may disagree, so that no row written by anyone holds calls for long.

`ThrottleRow` is the row as this instance knows it, changed only on its ETag, and the `Keeper` reads it again in the
background while the instance calls the org: about once a second, five times a second for a while after a 429 or
while the org fails. `SharedStorage` is this instance's way to it.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from ..dataverse.throttle import CIRCUIT_MAX_SECONDS, MAX_CALL_SECONDS, MAX_RETRY_AFTER, jitter
from ..errors import StorageUnavailable
from .rows import SKEW_SECONDS, THROTTLE_ROW, Allowance, Conflict, Health, Row, RowStore, Spent, as_number

T = TypeVar("T")

# While this instance calls the org (and for KEEP_FRESH_SECONDS after), the `Keeper` reads the row again once it is
# READ_EVERY old (jittered by a fifth), or READ_EVERY_HURRIED for HURRY_SECONDS after a 429 or a failure of the org;
# a call goes by the row as read MAX_AGE ago at most (MAX_AGE_HURRIED meanwhile), else reads it first.
READ_EVERY, READ_EVERY_HURRIED, HURRY_SECONDS, KEEP_FRESH_SECONDS = 1.0, 0.2, 5.0, 2.0
MAX_AGE, MAX_AGE_HURRIED = 1.5, 0.3
GRANT_SECONDS = 2.0  # calls granted by the budget are sent within this, or not at all
BUDGET_WINDOW = 62 + math.ceil(GRANT_SECONDS)  # one-second buckets a grant's room is counted over
SLOT_LEASE_SECONDS = 45.0  # slots for calls in flight are held this long, renewed while in use
MAX_INSTANCES = 100_000


@dataclass
class Throttle:
    """The throttle row as last read or written (times in epoch seconds)."""

    retry_until: float = 0.0
    retry_noted: float = 0.0  # when the Retry-After was noted: it holds calls MAX_RETRY_AFTER at most from then
    recovering: bool = False
    probe_until: float = 0.0
    probe_taken: float = 0.0
    prober: str = ""
    failures: int = 0  # the org's failures in a row: the circuit is closed at 0
    failing_until: float = 0.0
    failed_at: float = 0.0
    calls: dict[int, int] = dataclasses.field(default_factory=dict)  # epoch second -> calls granted in it
    slots: dict[str, tuple[int, float]] = dataclasses.field(default_factory=dict)  # owner -> (slots, taken at)
    active: int = 0  # instances the roster last counted (0: not known yet)
    joins: int = 0  # instances that joined the roster, ever
    counted_at: float = 0.0  # when the roster was last counted (or is being counted)
    count_joins: int = 0  # `joins` when that count began
    purged_through: int = 0  # answers' generations deleted up to this one
    purge_taken: float = 0.0
    purger: str = ""
    etag: str | None = None  # None: no such row yet

    @classmethod
    def of(cls, row: Row | None, wall: float) -> Throttle:
        """The row as read at `wall` (None: there is none yet), within bounds."""
        if row is None:
            return cls()
        values = row.values
        ahead = wall + SKEW_SECONDS
        calls: dict[int, int] = {}
        for item in str(values.get("Calls") or "").split(","):
            second, _, count = item.partition(":")
            if second.isdigit() and count.isdigit() and int(second) <= ahead:
                calls[int(second)] = int(count)
        slots: dict[str, tuple[int, float]] = {}
        for item in str(values.get("Slots") or "").split(","):
            owner, _, rest = item.partition(":")
            count, _, taken = rest.partition(":")
            if owner and count.isdigit() and _number(taken) <= ahead:
                slots[owner] = (min(int(count), 1000), _number(taken))
        noted = _past(values.get("RetryNoted"), ahead)
        probe_taken = _past(values.get("ProbeTaken"), ahead)
        failed_at = _past(values.get("FailedAt"), ahead)
        failures = as_number(values.get("Failures"))
        return cls(
            retry_until=min(as_number(values.get("RetryUntil")), noted + MAX_RETRY_AFTER),
            retry_noted=noted, recovering=bool(values.get("Recovering")),
            probe_until=min(as_number(values.get("ProbeUntil")), probe_taken + MAX_CALL_SECONDS + 1.0),
            probe_taken=probe_taken, prober=str(values.get("Prober") or ""),
            failures=int(min(max(failures, 0), 64)),
            failing_until=min(as_number(values.get("FailingUntil")), failed_at + CIRCUIT_MAX_SECONDS),
            failed_at=failed_at, calls=calls, slots=slots,
            active=int(min(max(as_number(values.get("Active")), 0), MAX_INSTANCES)),
            joins=int(max(as_number(values.get("Joins")), 0)), counted_at=_past(values.get("CountedAt"), ahead),
            count_joins=int(max(as_number(values.get("CountJoins")), 0)),
            purged_through=int(max(as_number(values.get("PurgedThrough")), 0)),
            purge_taken=_past(values.get("PurgeTaken"), ahead), purger=str(values.get("Purger") or ""),
            etag=row.etag)

    def entity(self) -> dict[str, object]:
        """The row's properties as written."""
        return {"RowKey": THROTTLE_ROW, "RetryUntil": float(self.retry_until), "RetryNoted": float(self.retry_noted),
                "Recovering": self.recovering, "ProbeUntil": float(self.probe_until),
                "ProbeTaken": float(self.probe_taken), "Prober": self.prober, "Failures": self.failures,
                "FailingUntil": float(self.failing_until), "FailedAt": float(self.failed_at),
                "Calls": ",".join(f"{second}:{count}" for second, count in sorted(self.calls.items())),
                "Slots": ",".join(f"{owner}:{count}:{taken:.3f}" for owner, (count, taken) in self.slots.items()),
                "Active": self.active, "Joins": self.joins, "CountedAt": float(self.counted_at),
                "CountJoins": self.count_joins, "PurgedThrough": self.purged_through,
                "PurgeTaken": float(self.purge_taken), "Purger": self.purger}

    # -- the calls budget --
    def granted(self, now: float) -> int:
        """Calls granted within the budget's window before `now`."""
        current = int(now)
        return sum(count for second, count in self.calls.items() if second > current - BUDGET_WINDOW)

    def wait_for_room(self, per_minute: int, now: float) -> float:
        """Seconds until a call fits `per_minute` in any 60 s, counting grants in one-second buckets.

        A call granted at second b is allowed while buckets b-63..b hold fewer than `per_minute`, so no 64
        consecutive buckets ever hold more. A call is sent within `GRANT_SECONDS` of its grant (or never), and the
        instances' clocks disagree a little: as long as that disagreement and the moment a call reaches the org stay
        under a second, the calls of any 60 s at the org were granted within 63 s, which lie within 64 buckets. A
        call waits at most three seconds longer than an exact count would make it wait.
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

    def grant(self, now: float, calls: int = 1) -> None:
        """`calls` granted at `now` (epoch seconds); buckets out of the window are dropped."""
        current = int(now)
        self.calls = {second: count for second, count in self.calls.items() if second > current - BUDGET_WINDOW}
        self.calls[current] = self.calls.get(current, 0) + calls

    # -- slots for calls in flight --
    def slots_of_others(self, owner: str, now: float) -> int:
        """Slots other instances hold at `now`."""
        return sum(count for holder, (count, taken) in self.slots.items()
                   if holder != owner and taken + SLOT_LEASE_SECONDS > now)

    def hold_slots(self, owner: str, count: int, now: float) -> None:
        """`owner` holds `count` slots from `now` (none: let go); leases run out are dropped."""
        self.slots = {holder: held for holder, held in self.slots.items()
                      if holder != owner and held[1] + SLOT_LEASE_SECONDS > now}
        if count:
            self.slots[owner] = (count, now)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.inf
    return value if math.isfinite(value) else math.inf


def _past(value: object, ahead: float) -> float:
    """A moment a row holds, 0 when it is further ahead than `ahead` (no instance's clock is that far ahead)."""
    moment = as_number(value)
    return moment if moment <= ahead else 0.0


class ThrottleRow:
    """The throttle row as this instance knows it, and changes to it written on its ETag."""

    def __init__(self, rows: RowStore, monotonic: Callable[[], float], wall: Callable[[], float],
                 sleep: Callable[[float], None]) -> None:
        self._rows = rows
        self._monotonic = monotonic
        self._wall = wall
        self._sleep = sleep
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one read at a time: concurrent callers take its result
        self._known = Throttle()
        self._read_at = -math.inf
        self._written_at = -math.inf  # when this instance's last write of the row was done
        self._hurried_until = -math.inf

    def seen(self, row: Row | None, begun: float) -> None:
        """The row as a read begun at `begun` (monotonic) found it (None: there is none yet).

        Ignored when this instance wrote the row after that read began: the read may predate the write.
        """
        known = Throttle.of(row, self._wall())
        with self._lock:
            if begun >= self._written_at:
                # As fresh as the moment the read began: the row may have changed during the read.
                self._known, self._read_at = known, begun
        if known.recovering or known.failures:
            self.hurry()

    def _read(self, allowance: Allowance) -> None:
        begun = self._monotonic()
        self.seen(self._rows.read(THROTTLE_ROW, allowance), begun)

    def hurry(self) -> None:
        """Read the row five times a second for a while (the org throttles or fails: its state changes fast)."""
        with self._lock:
            self._hurried_until = self._monotonic() + HURRY_SECONDS

    def hurried(self) -> bool:
        with self._lock:
            return self._monotonic() < self._hurried_until

    def max_age(self) -> float:
        """How old the row may be for a call to go by it."""
        return MAX_AGE_HURRIED if self.hurried() else MAX_AGE

    def known(self) -> Throttle:
        """The row as last read or written, whatever its age (a copy)."""
        with self._lock:
            return dataclasses.replace(self._known, calls=dict(self._known.calls), slots=dict(self._known.slots))

    def current(self, max_age: float, allowance: Allowance) -> Throttle:
        """The row as read at most `max_age` ago, else read now."""
        asked = self._monotonic()
        with self._lock:
            if asked - self._read_at <= max_age:
                return dataclasses.replace(self._known, calls=dict(self._known.calls), slots=dict(self._known.slots))
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

    def refresh(self, allowance: Allowance, older_than: float) -> None:
        """Read the row again if it was read more than `older_than` ago (off the callers' path)."""
        with allowance.holding(self._reading):  # a caller reading it meanwhile reads it for this too
            with self._lock:
                if self._monotonic() - self._read_at <= older_than:
                    return
            self._read(allowance)

    def change(self, mutate: Callable[[Throttle], bool], allowance: Allowance,
               max_age: float | None = None) -> Throttle | None:
        """Apply `mutate` to the row as read at most `max_age` ago (by default `max_age()`) and write it if unchanged
        meanwhile (else read it again and apply `mutate` anew); None when `mutate` declined."""
        max_age = self.max_age() if max_age is None else max_age
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
                self._sleep(jitter(0, 0.02))
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
    """Keeps the throttle row fresh, in a thread of its own, for `KEEP_FRESH_SECONDS` after each call of this
    instance, so that a call seldom reads the row on its caller's path.

    A quiet instance reads nothing: its first call after a quiet spell reads the row first. A busy one reads it
    about once a second (five times a second while hurried), however many calls it makes, at moments drawn anew
    each time so that instances do not read in step. The thread starts with the first call and stops on `close()`
    (a later call starts it again).

    :param row: the throttle row as this instance knows it.
    :param read: reads the row again when it is older than the seconds given, storage failures handled.
    :param monotonic: the clock `KEEP_FRESH_SECONDS` and the row's age are counted on.
    :keyword wait: waits on the keeper's condition for at most the seconds given (None: until notified), as
        `threading.Condition.wait` does; with `spawn`, how a clock other than the system's runs the keeper.
    :keyword spawn: runs the keeper's loop (by default in a new daemon thread, which it returns).
    """

    def __init__(self, row: ThrottleRow, read: Callable[[float], None], monotonic: Callable[[], float], *,
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

    def _every(self) -> float:
        return READ_EVERY_HURRIED if self._row.hurried() else READ_EVERY * jitter(0.8, 1.2)

    def _keep(self, generation: int) -> None:
        every = self._every()
        while True:
            with self._wake:
                while generation == self._generation and self._monotonic() >= self._busy_until:
                    self._idle = True
                    self._wait(self._wake, None)
                if generation != self._generation:
                    return
                if self._row.hurried():  # hurried meanwhile: from now on
                    every = min(every, READ_EVERY_HURRIED)
                wait = every - self._row.age()
                if wait > 0:
                    self._wait(self._wake, wait)
                    continue
            self._read(every)
            every = self._every()
            if self._row.age() >= every:  # storage could not be read: not again at once
                with self._wake:
                    self._wait(self._wake, every)


class SharedStorage:
    """This instance's way to the throttle row: who it is in leases, its clocks, whether storage may be used now,
    and the storage allowance of the request each thread serves.

    :param rows: the org's own partition.
    :param health: whether to use storage now, as this instance has found it.
    """

    def __init__(self, rows: RowStore, health: Health, *, monotonic: Callable[[], float],
                 wall: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.owner = uuid.uuid4().hex[:16]  # this instance, in leases
        self.monotonic, self.wall, self.sleep = monotonic, wall, sleep
        self.health = health
        self.throttle = ThrottleRow(rows, monotonic, wall, sleep)
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

    def refresh(self, older_than: float) -> None:
        """The keeper's read of the throttle row (storage failures count as any request's)."""
        self.with_storage(lambda allowance: self.throttle.refresh(allowance, older_than=older_than))

    def active(self) -> int | None:
        """How many instances the roster last counted (None: not known yet)."""
        return self.throttle.known().active or None
