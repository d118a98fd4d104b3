"""What every state backend offers: the `State` protocol that the service and the composition root are typed with.

`MemoryState` (this process) and `TableState` (every instance, through Table Storage) implement it. The service
asks it for answers and calls in flight; the org's client holds calls at its `gate` and `budget`.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Callable, Protocol

from ..answer import Availability
from ..dataverse.throttle import Budget, Gate

# What the service hands the state for one upstream call: the call itself, and how long its answer may be
# served fresh and stale (seconds, from now).
Call = Callable[[], Availability]
Lifetime = Callable[[Availability], tuple[float, float]]
# A lookup's outcome: a fresh answer (a hit); else the call in flight to wait for, and whether this caller leads it.
Begun = tuple[Availability | None, "Future[Availability] | None", bool]


class State(Protocol):
    """Answers (fresh, then stale), calls in flight, the org's Retry-After and the calls budget."""

    @property
    def gate(self) -> Gate:
        """Where the org's Retry-After holds calls."""
        ...

    @property
    def budget(self) -> Budget:
        """The calls budget every call keeps to."""
        ...

    def begin(self, key: bytes) -> Begun:
        """A fresh answer for `key` (a hit); else the call in flight to wait for, and whether this caller leads it."""
        ...

    def fresh(self, key: bytes) -> Availability | None:
        """The answer for `key` while it is fresh, marked `cache`."""
        ...

    def end(self, key: bytes) -> None:
        """The leader's call for `key` is over (its future is settled right after)."""

    def fetch(self, key: bytes, deadline: float | None, call: Call, lifetime: Lifetime) -> tuple[Availability, bool]:
        """The leader's answer for `key`: `call()`'s, remembered, or (True) one another instance fetched."""
        ...

    def remember(self, key: bytes, answer: Availability, fresh_for: float, stale_for: float) -> None:
        """Keep `answer` in this process, fresh for `fresh_for` seconds and as a stale fallback for `stale_for`."""

    def stale(self, key: bytes) -> Availability | None:
        """The last answer for `key` while it may still be served as stale, marked `stale`."""
        ...

    def clear(self) -> None:
        """Forget every answer this process holds."""

    def close(self) -> None:
        """Release what the state holds (threads, connections); writes already queued are finished first."""
