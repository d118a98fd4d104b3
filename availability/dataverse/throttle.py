"""What holds calls back before they reach the org: its `Retry-After` (with one probe after it), and the app's
own budget of calls per minute.

Both are per process here; the org's real limit is per organization (every app calling it as the same user
shares it), so an app sharing the org with others can keep to a share of it with
`AVAILABILITY_MAX_CALLS_PER_MINUTE`. `Gate` and `Budget` are what the client needs of them, and the one definition
of what a gate and a budget are: the shared state (availability/state/throttle.py) implements them for every
instance of the app together.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable, Protocol

from ..errors import UpstreamThrottled

THROTTLED = "Dynamics 365 is rate-limiting requests; try again later."
BUDGET_SPENT = ("The app's budget of calls to Dynamics 365 per minute (AVAILABILITY_MAX_CALLS_PER_MINUTE) is spent; "
                "try again later.")


class Gate(Protocol):
    """What holds calls while the org's `Retry-After` runs, and lets one probe through after it."""

    def note(self, wait: float) -> None:
        """The org answered 429 with `Retry-After: wait` (seconds)."""

    def wait(self, deadline: float) -> bool:
        """Wait out the Retry-After if it ends before `deadline` (monotonic), else raise `UpstreamThrottled`; True
        when this call is the probe."""
        ...

    def end_probe(self, *, recovered: bool) -> None:
        """The probe's answer came (or it failed before sending): `recovered` when it was not a 429."""


class Budget(Protocol):
    """The app's own calls per minute: room waited for, then taken as a call goes out."""

    per_minute: int  # 0: no budget

    def wait(self, wait_until: float) -> bool:
        """Wait for room until `wait_until` (monotonic) at most, else raise `UpstreamThrottled`; True when that
        took a wait."""
        ...

    def take(self) -> bool:
        """Count the call about to go out; False when others took the room since `wait`."""
        ...


class RetryAfterGate(Gate):
    """Holds every call until the org's `Retry-After` has passed; then lets one call through first (the probe).

    After a 429 the first call past the Retry-After moment goes alone; the others wait for its answer instead
    of all hitting the org at once, which would only make Retry-After grow.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0  # monotonic time before which the org asked us not to call
        self._recovering = False  # a 429 was seen and no call has succeeded since
        self._probing = False  # the one call allowed through after Retry-After is out

    def note(self, wait: float) -> None:
        """The org answered 429 with `Retry-After: wait`."""
        with self._lock:
            self._until = max(self._until, self._clock() + wait)
            self._recovering = True

    def wait(self, deadline: float) -> bool:
        """Wait out the org's Retry-After if it fits before `deadline`, else raise; True when this call is the probe."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._until - now
                if wait <= 0:
                    if not self._recovering:
                        return False
                    if not self._probing:
                        self._probing = True
                        return True
                    wait = 0.05  # a probe is out: look again shortly
            if now + wait >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=max(1, round(self._until - now)))
            self._sleep(wait)

    def end_probe(self, *, recovered: bool) -> None:
        """The probe's answer came (or it failed before sending): `recovered` when it was not a 429."""
        with self._lock:
            self._probing = False
            if recovered:
                self._recovering = False


class CallsBudget(Budget):
    """At most `per_minute` calls in any 60 s (0: no budget); a call waits for room while its caller allows."""

    def __init__(self, per_minute: int = 0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._spent: deque[float] = deque()  # when each call of the last minute went out

    def wait(self, wait_until: float) -> bool:
        """Wait until the budget has room; True when that took a wait.

        Room that comes only after `wait_until` is not waited for: `UpstreamThrottled` with the wait instead.
        """
        waited = False
        while True:
            wait = self._wait()
            if wait <= 0:
                return waited
            if self._clock() + wait > wait_until:
                raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=max(1, math.ceil(wait)))
            self._sleep(wait)
            waited = True

    def take(self) -> bool:
        """Count the call about to go out; False when others took the room since `wait`."""
        if not self.per_minute:
            return True
        with self._lock:
            if self._wait_locked() > 0:
                return False
            self._spent.append(self._clock())
            return True

    def _wait(self) -> float:
        if not self.per_minute:
            return 0.0
        with self._lock:
            return self._wait_locked()

    def _wait_locked(self) -> float:
        now = self._clock()
        spent = self._spent
        while spent and spent[0] <= now - 60:
            spent.popleft()
        return 0.0 if len(spent) < self.per_minute else spent[0] + 60 - now
