"""The calls budget and the cap on calls in flight for every instance together, leased from the throttle row.

`SharedBudget`: an instance takes grants of the budget from the row a few at a time (as many as its callers are
asking for, up to a hundredth of the budget), each to be used within `GRANT_SECONDS` or not at all, and hands them
to its callers from memory; one caller of an instance at a time asks the row for more, the others wait for what it
brings. Near the budget's end (three quarters granted) each instance asks only for its share (the budget over the
instances the roster counted), so that a thousand instances wanting more than there is do not all ask the row at
once when room comes back. `SharedSlots`: an instance leases slots for calls in flight from the row, as many as its
calls need, for `SLOT_LEASE_SECONDS`, renews them while it uses them and lets them go once idle.

While storage fails, each falls back to this instance's own `CallsBudget` and `CallSlots`, narrowed to its share:
the budget and the cap divided by the instances the roster last counted (100 when it never could), never the whole.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from ..dataverse.throttle import (
    BUDGET_SPENT,
    MAX_CALL_SECONDS,
    SLOTS_FULL,
    Budget,
    CallsBudget,
    CallSlots,
    Slots,
    jitter,
)
from ..errors import UpstreamThrottled
from .rows import Allowance, Spent
from .throttle import GRANT_SECONDS, SLOT_LEASE_SECONDS, SharedStorage, Throttle

T = TypeVar("T")

UNKNOWN_INSTANCES = 100  # Flex Consumption's default maximum instance count: the share when none was ever counted
FAIR_FROM = 0.75  # of the budget granted within its window: from then on, each instance asks for its share only
IDLE_SECONDS = 1.0  # slots unused this long are let go
SLOT_CHUNK = 4  # slots leased beyond those in use, at most
FRESH_ENOUGH = 0.1  # seconds: a row read this recently says whether there is room


def active_instances(storage: SharedStorage) -> int:
    """The instances to share the budget and the cap with, as the roster last counted them."""
    return storage.active() or UNKNOWN_INSTANCES


def strict(operation: Callable[[Allowance], T], message: str) -> Callable[[Allowance], T]:
    """`operation`, with room it could not confirm in time taken as no room."""

    def run(allowance: Allowance) -> T:
        try:
            return operation(allowance)
        except Spent:
            raise UpstreamThrottled(message=message, retry_after=1) from None

    return run


class SharedBudget(Budget):
    """`AVAILABILITY_MAX_CALLS_PER_MINUTE` for every instance together, granted from the throttle row.

    :param storage: this instance's way to the throttle row.
    :param local: this instance's own budget: it counts every call granted here, and is the budget (narrowed to
        this instance's share) while storage fails.
    """

    def __init__(self, storage: SharedStorage, local: CallsBudget) -> None:
        self._storage = storage
        self._local = local
        self.per_minute = local.per_minute
        self._free = threading.Condition()
        self._grants: deque[float] = deque()  # until when (monotonic) each call granted and not yet held may go
        self._asking = False  # a caller of this instance is asking the row for grants
        self._waiting = 0  # callers of this instance waiting for a grant
        self._mine: deque[float] = deque()  # when (monotonic) this instance was granted each call of the last minute
        self._held = threading.local()  # the grant a caller holds between `wait` and `take`

    def _holds(self) -> float | None:
        until: float | None = getattr(self._held, "until", None)
        return until if until is not None and self._storage.monotonic() < until else None

    def wait(self, wait_until: float) -> bool:
        if not self.per_minute or self._holds() is not None:
            return False
        self._local.share(self.per_minute / active_instances(self._storage))
        if not self._storage.health.usable():
            return self._local.wait(wait_until)
        waited = False
        with self._free:
            self._waiting += 1
        try:
            while True:
                with self._free:
                    now = self._storage.monotonic()
                    while self._grants and self._grants[0] <= now:
                        self._grants.popleft()
                    if self._grants:
                        self._held.until = self._grants.popleft()
                        return waited
                    if self._asking:
                        left = wait_until - now
                        if left <= 0:
                            raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=1)
                        self._free.wait(min(left, 0.5))
                        waited = True
                        continue
                    self._asking = True
                try:
                    asked = self._storage.with_storage(
                        strict(lambda allowance: self._ask(wait_until, allowance), BUDGET_SPENT))
                finally:
                    with self._free:
                        self._asking = False
                        self._free.notify_all()
                if asked is None:  # storage failed meanwhile: this instance's share of the budget
                    return self._local.wait(wait_until) or waited
                waited = waited or asked
        finally:
            with self._free:
                self._waiting -= 1

    def _ask(self, wait_until: float, allowance: Allowance) -> bool:
        """Grants from the row for this instance's callers, waiting for room until `wait_until`; True when it
        waited."""
        storage = self._storage
        known = storage.throttle.known()
        if known.granted(storage.wall()) >= self.per_minute * FAIR_FROM:
            wait = self._wait_for_share()
            if wait > 0 and storage.monotonic() + wait > wait_until:  # known without asking storage
                raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=max(1, math.ceil(wait)))
        waited, max_age = False, storage.throttle.max_age()
        while True:
            row = storage.throttle.current(max_age, allowance)
            now = storage.wall()
            fair = row.granted(now) >= self.per_minute * FAIR_FROM
            wait = max(row.wait_for_room(self.per_minute, now), self._wait_for_share() if fair else 0.0)
            if wait <= 0:
                granted = self._grant(fair, allowance)
                if granted:
                    return waited
                max_age = 0.0
                continue  # the room went to another instance: look again
            if storage.monotonic() + wait > wait_until:
                raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=max(1, math.ceil(wait)))
            storage.sleep(wait + jitter(0, min(1.0, wait / 10)))  # not every instance at the same moment
            waited, max_age = True, 0.0

    def _grant(self, fair: bool, allowance: Allowance) -> int:
        """Calls granted by one write of the row (0: no room was left)."""
        storage = self._storage
        with self._free:
            wanted = 1 if fair else min(max(1, self.per_minute // 100), max(1, self._waiting))
        granted = 0

        def mutate(row: Throttle) -> bool:
            nonlocal granted
            now = storage.wall()  # each try's own time: the grant is counted in the second it is made
            if row.wait_for_room(self.per_minute, now) > 0:
                return False
            granted = min(wanted, self.per_minute - row.granted(now))
            row.grant(now, granted)
            return granted > 0

        if storage.throttle.change(mutate, allowance) is None or not granted:
            return 0
        until = storage.monotonic() + GRANT_SECONDS
        with self._free:
            self._grants.extend([until] * granted)
            self._mine.extend([storage.monotonic()] * granted)
        self._local.record(granted)  # this instance's own count, for when storage fails
        return granted

    def _wait_for_share(self) -> float:
        """Seconds until this instance may be granted a call within its share of the budget (0: now)."""
        share = max(1, math.ceil(self.per_minute / active_instances(self._storage)))
        now = self._storage.monotonic()
        with self._free:
            while self._mine and self._mine[0] <= now - 60:
                self._mine.popleft()
            return 0.0 if len(self._mine) < share else self._mine[-share] + 60 - now

    def take(self) -> bool:
        if not self.per_minute:
            return True
        until = self._holds()
        self._held.until = None
        if until is not None:
            return True
        with self._free:
            now = self._storage.monotonic()
            while self._grants and self._grants[0] <= now:
                self._grants.popleft()
            if self._grants:
                self._grants.popleft()
                return True
        if not self._storage.health.usable():
            return self._local.take()
        return False

    def release(self) -> None:
        until = self._holds()
        self._held.until = None
        if until is not None:
            with self._free:
                self._grants.appendleft(until)
                self._free.notify()


class SharedSlots(Slots):
    """`AVAILABILITY_MAX_CONCURRENT_CALLS` for every instance together, leased from the throttle row.

    :param storage: this instance's way to the throttle row.
    :param local: this instance's own cap, narrowed to its share while storage fails.
    :param later: runs storage work in the background after the given seconds (letting idle slots go).
    """

    def __init__(self, storage: SharedStorage, local: CallSlots,
                 later: Callable[[Callable[[Allowance], None], float], None]) -> None:
        self._storage = storage
        self._local = local
        self._later = later
        self.limit = local.limit
        self._free = threading.Condition()
        self._held = 0  # slots this instance leased
        self._usable_until = -math.inf  # monotonic: a call started before this ends before the lease
        self._in_use = 0
        self._waiting = 0
        self._leasing = False
        self._idle_since = -math.inf
        self._mine = threading.local()  # shared slots this thread's calls hold (else they hold local ones)

    def acquire(self, until: float) -> None:
        if not self.limit:
            return
        self._local.resize(self.limit // active_instances(self._storage))
        if not self._storage.health.usable():
            self._local.acquire(until)
            return
        with self._free:
            self._waiting += 1
        try:
            while True:
                with self._free:
                    now = self._storage.monotonic()
                    if self._in_use < self._held and now < self._usable_until:
                        self._in_use += 1
                        self._mine.shared = getattr(self._mine, "shared", 0) + 1
                        return
                    if self._leasing:
                        left = until - now
                        if left <= 0:
                            raise UpstreamThrottled(message=SLOTS_FULL, retry_after=1)
                        self._free.wait(min(left, 0.25))
                        continue
                    self._leasing = True
                try:
                    leased = self._storage.with_storage(
                        strict(lambda allowance: self._lease(until, allowance), SLOTS_FULL))
                finally:
                    with self._free:
                        self._leasing = False
                        self._free.notify_all()
                if leased is None:  # storage failed meanwhile: this instance's share of the cap
                    self._local.acquire(until)
                    return
        finally:
            with self._free:
                self._waiting -= 1

    def _lease(self, until: float, allowance: Allowance) -> bool:
        """Slots for this instance's calls from the row, waiting for room until `until`."""
        storage = self._storage
        max_age: float | None = None
        while True:
            with self._free:
                need = self._in_use + 1
                wanted = min(self.limit, self._in_use + min(SLOT_CHUNK, max(1, self._waiting)))
            held = 0

            def mutate(row: Throttle, need: int = need, wanted: int = wanted) -> bool:
                nonlocal held
                now = storage.wall()
                room = self.limit - row.slots_of_others(storage.owner, now)
                if room < need:
                    return False
                held = min(wanted, room)
                row.hold_slots(storage.owner, held, now)
                return True

            leased_at = storage.monotonic()
            if storage.throttle.change(mutate, allowance, max_age) is not None:
                with self._free:
                    self._held = held
                    self._usable_until = leased_at + SLOT_LEASE_SECONDS - MAX_CALL_SECONDS - 1.0
                return True
            if max_age is None and storage.throttle.age() > FRESH_ENOUGH:
                max_age = 0.0  # no room by the row as known a while ago: look at it as it is now, once
                continue
            # Slots come free as calls end: look again soon, not in step with the other instances, and the less
            # often the more instances share the cap (a thousand waiting must not flood the row).
            wait = jitter(0.1, 0.3) * max(1.0, active_instances(storage) / self.limit)
            if storage.monotonic() + wait > until:
                raise UpstreamThrottled(message=SLOTS_FULL, retry_after=1)
            storage.sleep(wait)
            max_age = wait / 2

    def release(self) -> None:
        if not self.limit:
            return
        if not getattr(self._mine, "shared", 0):
            self._local.release()
            return
        self._mine.shared -= 1
        with self._free:
            self._in_use -= 1
            self._free.notify()
            if self._in_use:
                return
            self._idle_since = idle_since = self._storage.monotonic()
        self._later(lambda allowance: self._let_go(idle_since, allowance), IDLE_SECONDS)

    def _let_go(self, idle_since: float, allowance: Allowance) -> None:
        """Give the slots back if no call took one since `idle_since`."""
        storage = self._storage
        with self._free:
            if self._in_use or self._leasing or self._idle_since != idle_since or not self._held:
                return
            self._held, self._usable_until = 0, -math.inf

        def mutate(row: Throttle) -> bool:
            if storage.owner not in row.slots:
                return False
            row.hold_slots(storage.owner, 0, storage.wall())
            return True

        storage.throttle.change(mutate, allowance)
