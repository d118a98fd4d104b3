"""A clock that tests move: time passes only when the code under test sleeps or waits, and events happen at the
moments they were set for, run by whichever sleep or wait passes them. Runs in the test's own thread, in no time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable


class FakeClock:
    """Monotonic and wall seconds (wall near today's, never a fixed date), `sleep`, and `wait` shaped like
    `threading.Condition.wait` for code that takes its waits as an argument."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self._wall_offset = time.time() - start
        self._events: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self.slept = 0.0  # seconds slept in all

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self._wall_offset

    def at(self, when: float, action: Callable[[], object]) -> None:
        """Run `action` when the clock reaches `when` (monotonic)."""
        heapq.heappush(self._events, (when, next(self._order), action))

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass, running the events due meanwhile."""
        end = self.now + max(0.0, seconds)
        while self._events and self._events[0][0] <= end:
            self._next()
        self.now = max(self.now, end)

    def sleep(self, seconds: float) -> None:
        self.slept += max(0.0, seconds)
        self.advance(seconds)

    def wait(self, condition: threading.Condition, timeout: float | None) -> bool:
        """Back at the next event (as if notified; the waiter looks again anyway), else once `timeout` passed.

        A waiter resumes a microsecond after what woke it (an event, or its timeout), as a real one does: never at
        the very moment it was due.
        """
        end = math.inf if timeout is None else self.now + max(timeout, 0.0)
        if self._events and self._events[0][0] <= end:
            self._next()
            self.now += 1e-6
            return True
        if timeout is None:
            raise AssertionError("waiting with nothing left to happen")
        self.now = end + 1e-6
        return False

    def run(self) -> None:
        """Run every event left, in order."""
        while self._events:
            self._next()

    def _next(self) -> None:
        when, _, action = heapq.heappop(self._events)
        self.now = max(self.now, when)
        action()
