"""What every state backend offers: the `State` protocol that the service and the composition root are typed with.

`MemoryState` (this process) and `TableState` (every instance, through Table Storage) implement it. The service
asks it for answers and calls in flight; the org's client holds calls at its `gate`, `budget` and `slots`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from ..answer import Availability
from ..dataverse.throttle import Budget, Gate, Slots

# What the service hands the state for one upstream call: the call itself, how long its answer may be served fresh
# and stale (seconds, from now), and the admission of the call by the calls budget (room held for this thread until
# the call takes it, else `UpstreamThrottled`), asked before the state writes anything for a call that may not go.
Call = Callable[[], Availability]
Lifetime = Callable[[Availability], tuple[float, float]]
Admit = Callable[[], object]
# A lookup's outcome: an answer to serve (fresh; or stale within its grace while a call for it is on its way), else
# the call in flight to wait for; and whether this caller leads that call (with a fresh answer: its refresh).
Begun = tuple[Availability | None, "Future[Availability] | None", bool]


class State(Protocol):
    """Answers (fresh, then stale), calls in flight, the org's Retry-After and circuit, the calls budget and the cap
    on calls in flight."""

    @property
    def gate(self) -> Gate:
        """Where the org's Retry-After and circuit hold calls."""
        ...

    @property
    def budget(self) -> Budget:
        """The calls budget every call keeps to."""
        ...

    @property
    def slots(self) -> Slots:
        """The cap on calls in flight every call keeps to."""
        ...

    def begin(self, key: bytes) -> Begun:
        """An answer for `key` to serve (with a future, this caller also leads its refresh); else the call in flight
        to wait for, and whether this caller leads it."""
        ...

    def fresh(self, key: bytes) -> Availability | None:
        """The answer for `key` while it is fresh, marked `cache`."""
        ...

    def end(self, key: bytes) -> None:
        """The leader's call for `key` is over (its future is settled right after)."""

    def fetch(self, key: bytes, deadline: float | None, call: Call, lifetime: Lifetime, *,
              admit: Admit | None = None, refresh: bool = False) -> tuple[Availability, bool]:
        """The leader's answer for `key`: `call()`'s, remembered, or (True) one another instance fetched, or the
        answer held while another instance's call is on its way; `refresh`: the answer held is still fresh."""
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
