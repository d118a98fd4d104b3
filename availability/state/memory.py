"""`MemoryState`: the service's `State` in this process — answers (fresh, then stale), the calls in flight, the
org's `Retry-After` and the calls budget. It is all there is with `AVAILABILITY_SHARED_STATE=off` (one instance's
view), and the layer every request reads first with shared state too, so a cache hit never leaves memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Callable

from ..answer import Availability
from ..dataverse.throttle import CallsBudget, RetryAfterGate
from .base import Begun, Call, Lifetime

MAX_ENTRIES = 10_000


@dataclass
class Entry:
    """One answer this process holds, and until when it is fresh and may be served stale."""

    answer: Availability  # as a hit serves it (`source` "cache"): made once, not on every hit
    fresh_until: float  # monotonic
    stale_until: float  # monotonic


class MemoryState:
    """Answers, calls in flight, Retry-After and calls budget of this process.

    :keyword max_calls_per_minute: the calls budget `budget` keeps to (0: none).
    :keyword max_entries: answers kept, least recently stored dropped first.
    """

    def __init__(self, *, max_calls_per_minute: int = 0, max_entries: int = MAX_ENTRIES,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._in_flight: dict[bytes, Future[Availability]] = {}
        self.max_entries = max_entries
        self.gate = RetryAfterGate(clock=monotonic, sleep=sleep)
        self.budget = CallsBudget(max_calls_per_minute, clock=monotonic, sleep=sleep)

    # -- the hot path --
    def begin(self, key: bytes) -> Begun:
        """A fresh answer for `key` (a hit); else the call in flight to wait for, and whether this caller leads it."""
        with self._lock:
            hit = self._fresh(key)
            if hit is not None:
                return hit, None, False
            future = self._in_flight.get(key)
            if future is not None:
                return None, future, False
            led: Future[Availability] = Future()
            self._in_flight[key] = led
            return None, led, True

    def fresh(self, key: bytes) -> Availability | None:
        """The answer for `key` while it is fresh, marked `cache`."""
        with self._lock:
            return self._fresh(key)

    def end(self, key: bytes) -> None:
        """The leader's call for `key` is over (its future is settled right after)."""
        with self._lock:
            self._in_flight.pop(key, None)

    # -- a miss --
    def fetch(self, key: bytes, deadline: float | None, call: Call, lifetime: Lifetime) -> tuple[Availability, bool]:
        """The leader's answer for `key`: here always `call()`, remembered; True would mean another instance's."""
        answer = call()
        self.remember(key, answer, *lifetime(answer))
        return answer, False

    def remember(self, key: bytes, answer: Availability, fresh_for: float, stale_for: float) -> None:
        """Keep `answer` fresh for `fresh_for` seconds and as a stale fallback for `stale_for` seconds."""
        if fresh_for <= 0 and stale_for <= 0:
            return
        now = self._monotonic()
        entry = Entry(replace(answer, source="cache"), now + max(0.0, fresh_for), now + max(0.0, stale_for))
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

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

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Nothing to release in memory."""

    def _fresh(self, key: bytes) -> Availability | None:
        entry = self._entries.get(key)
        if entry is not None and self._monotonic() < entry.fresh_until:
            return entry.answer
        return None
