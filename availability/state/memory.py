"""`MemoryState`: the service's `State` in this process — answers (fresh, then stale), the calls in flight, the
org's `Retry-After` and circuit, the calls budget and the cap on calls in flight. It is all there is with
`AVAILABILITY_SHARED_STATE=off` (one instance's view), and the layer every request reads first with shared state
too, so a cache hit never leaves memory.

Two moments of an answer's life are kept besides its windows: a little before it stops being fresh (the last fifth
of the window, two seconds at most, drawn at random so that instances differ), the next request that finds it
leads a refresh in the background while it and the others are still served it; and once it is no longer fresh,
while a call for it is on its way (here or, as the shared state says, on another instance), requests are served it
as `stale` for a short grace (`GRACE_SECONDS`, never longer than its fresh window nor past its stale one) instead of
waiting for that call.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace

from ..answer import Availability
from ..dataverse.throttle import CallsBudget, CallSlots, RetryAfterGate, jitter
from .base import Admit, Begun, Call, Lifetime

MAX_ENTRIES = 10_000
GRACE_SECONDS = 10.0  # an answer past its fresh window is served this long while its next call is on its way
REFRESH_LEAD_SECONDS = 2.0  # a refresh begins at most this long before the answer stops being fresh
REFRESH_AGAIN_SECONDS = 0.5  # a refresh that did not renew the answer is tried again after this (or so)


@dataclass
class Entry:
    """One answer this process holds, and its moments (monotonic)."""

    answer: Availability  # as a hit serves it (`source` "cache"): made once, not on every hit
    fresh_until: float
    stale_until: float
    refresh_at: float  # from then on, the next hit leads a refresh
    grace_until: float  # served as stale until then while a call for it is on its way
    followed_until: float = -1.0  # another instance's call for it is on its way until then


class MemoryState:
    """Answers, calls in flight, Retry-After, circuit, calls budget and cap on calls in flight of this process.

    :keyword max_calls_per_minute: the calls budget `budget` keeps to (0: none).
    :keyword max_concurrent_calls: the cap `slots` keeps to (0: none).
    :keyword max_entries: answers kept, least recently stored dropped first.
    """

    def __init__(self, *, max_calls_per_minute: int = 0, max_concurrent_calls: int = 0,
                 max_entries: int = MAX_ENTRIES, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._in_flight: dict[bytes, Future[Availability]] = {}
        self.max_entries = max_entries
        self.gate = RetryAfterGate(clock=monotonic, sleep=sleep)
        self.budget = CallsBudget(max_calls_per_minute, clock=monotonic, sleep=sleep)
        self.slots = CallSlots(max_concurrent_calls, clock=monotonic)

    # -- the hot path --
    def begin(self, key: bytes) -> Begun:
        """A fresh answer for `key` (a hit; with a future, this caller also leads its refresh); else a stale one
        within its grace, or the call in flight to wait for, and whether this caller leads it."""
        with self._lock:
            entry = self._entries.get(key)
            now = self._monotonic()
            if entry is not None and now < entry.fresh_until:
                if now < entry.refresh_at or key in self._in_flight:
                    return entry.answer, None, False
                entry.refresh_at = now + REFRESH_AGAIN_SECONDS * jitter(1.0, 2.0)  # if this one renews nothing
                refresh: Future[Availability] = Future()
                self._in_flight[key] = refresh
                return entry.answer, refresh, True
            future = self._in_flight.get(key)
            if (entry is not None and now < entry.grace_until
                    and (future is not None or now < entry.followed_until)):
                return replace(entry.answer, source="stale"), None, False
            if future is not None:
                return None, future, False
            led: Future[Availability] = Future()
            self._in_flight[key] = led
            return None, led, True

    def fresh(self, key: bytes) -> Availability | None:
        """The answer for `key` while it is fresh, marked `cache`."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.answer if entry is not None and self._monotonic() < entry.fresh_until else None

    def end(self, key: bytes) -> None:
        """The leader's call for `key` is over (its future is settled right after)."""
        with self._lock:
            self._in_flight.pop(key, None)

    # -- a miss --
    def fetch(self, key: bytes, deadline: float | None, call: Call, lifetime: Lifetime, *,
              admit: Admit | None = None, refresh: bool = False) -> tuple[Availability, bool]:
        """The leader's answer for `key`: here always `call()`, remembered; True would mean another instance's."""
        answer = call()
        self.remember(key, answer, *lifetime(answer))
        return answer, False

    def remember(self, key: bytes, answer: Availability, fresh_for: float, stale_for: float, *,
                 window: float | None = None) -> None:
        """Keep `answer` fresh for `fresh_for` seconds and as a stale fallback for `stale_for` seconds; `window`: its
        whole fresh window when it was had earlier (another instance's), which the grace is no longer than."""
        if fresh_for <= 0 and stale_for <= 0:
            return
        now = self._monotonic()
        fresh_for, stale_for = max(0.0, fresh_for), max(0.0, stale_for)
        lead = min(fresh_for / 5, REFRESH_LEAD_SECONDS) * jitter(0.5, 1.0)
        grace = min(GRACE_SECONDS, fresh_for if window is None else window)
        entry = Entry(replace(answer, source="cache"), now + fresh_for, now + stale_for, now + fresh_for - lead,
                      now + min(fresh_for + grace, stale_for))
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def follow(self, key: bytes, until: float) -> None:
        """Another instance's call for `key` is on its way until `until` (monotonic): grace applies meanwhile."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.followed_until = until

    def stale(self, key: bytes) -> Availability | None:
        """The last answer for `key` while it may still be served as stale."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self._monotonic() >= entry.stale_until:
            return None
        return replace(entry.answer, source="stale")

    def held(self, key: bytes) -> Availability | None:
        """The answer held for `key` whatever its age, as a hit serves it; None when none is held."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry.answer

    def graced(self, key: bytes) -> Availability | None:
        """The answer held for `key` as it may be served while another call for it is on its way: fresh (`cache`),
        within its grace (`stale`), else None."""
        with self._lock:
            entry = self._entries.get(key)
        now = self._monotonic()
        if entry is None:
            return None
        if now < entry.fresh_until:
            return entry.answer
        return replace(entry.answer, source="stale") if now < entry.grace_until else None

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Nothing to release in memory."""
