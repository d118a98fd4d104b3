"""What holds calls back before they reach the org: its `Retry-After` (with one probe after it), the circuit that
stops calling an org that fails (with one probe to find it back), the app's own budget of calls per minute and its
cap on calls in flight at once.

All four are per process here; the org's real limits are per organization and application user (every app calling
it as that user shares them): `AVAILABILITY_MAX_CALLS_PER_MINUTE` and `AVAILABILITY_MAX_CONCURRENT_CALLS` keep the
app within a share of them. `Gate`, `Budget` and `Slots` are what the client needs of them, and the one definition
of what a gate, a budget and a cap are: the shared state (availability/state) implements them for every instance
of the app together, falling back to these while its storage fails.

The circuit: a failure of the org (an answer 5xx, no answer in time, no connection) holds every call for
`circuit_pause(1)`; each failed probe after it doubles the pause (1 s, 2 s, 4 s ... up to 30 s, less up to a quarter
at random so that instances do not probe in step); the first probe the org answers closes it. Meanwhile calls fail
at once with `UpstreamUnavailable`, so that a caller holding an older answer serves it without asking the org. A
call's own retries may wait out a short pause (a blip), not a long one.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .. import telemetry
from ..errors import UpstreamThrottled, UpstreamUnavailable
from .wire import MAX_RETRY_AFTER

log = logging.getLogger(__name__)

THROTTLED = "Dynamics 365 is rate-limiting requests; try again later."
BUDGET_SPENT = ("The app's budget of calls to Dynamics 365 per minute (AVAILABILITY_MAX_CALLS_PER_MINUTE) is spent; "
                "try again later.")
SLOTS_FULL = ("The app's calls in flight to Dynamics 365 are at their cap (AVAILABILITY_MAX_CONCURRENT_CALLS); try "
              "again later.")
FAILING = "Dynamics 365 is failing; it is asked again shortly."

CIRCUIT_BASE_SECONDS, CIRCUIT_MAX_SECONDS = 1.0, 30.0
RETRY_MAY_WAIT_SECONDS = 1.0  # a call's own retry waits out an open circuit this long at most
# Seconds a call holds the probe: no call lasts longer (AVAILABILITY_TIMEOUT_SECONDS is at most 24).
MAX_CALL_SECONDS = 25.0

__all__ = ["BUDGET_SPENT", "CIRCUIT_BASE_SECONDS", "CIRCUIT_MAX_SECONDS", "FAILING", "MAX_CALL_SECONDS",
           "MAX_RETRY_AFTER", "RETRY_MAY_WAIT_SECONDS", "SLOTS_FULL", "THROTTLED", "Budget", "CallSlots",
           "CallsBudget", "Gate", "RetryAfterGate", "Slots", "circuit_pause", "jitter", "report_circuit",
           "report_probe_failed", "share_of"]


def jitter(low: float, high: float) -> float:
    """A moment between `low` and `high`, drawn so that instances and threads do not act in step."""
    return random.uniform(low, high)  # noqa: S311 - spreading moments apart, not a secret


def circuit_pause(failures: int) -> float:
    """How long calls are held after the org's `failures`-th failure in a row: 1 s doubling to 30 s at most,
    jittered down by up to a quarter."""
    return min(CIRCUIT_MAX_SECONDS, CIRCUIT_BASE_SECONDS * 2.0 ** max(0, failures - 1)) * jitter(0.75, 1.0)


def report_circuit(*, opened: bool, failures: int, pause: float = 0.0, cause: str = "") -> None:
    """The circuit's state in the logs and in `availability.upstream.circuit` (by the instance that changed it)."""
    if opened:
        log.warning("Dynamics 365 is failing (%s): circuit open, no call for %.1f s, then one probe", cause, pause)
    else:
        log.info("Dynamics 365 answers again: circuit closed after %d failed calls in a row", failures)
    telemetry.count_circuit("open" if opened else "closed")


def report_probe_failed(failures: int, pause: float, cause: str) -> None:
    log.info("Dynamics 365 is still failing (%s, %d in a row): next probe in %.1f s", cause, failures, pause)


def share_of(per_minute: float) -> tuple[int, float]:
    """A budget of `per_minute` (perhaps a fraction of one) as calls within a window of seconds: `per_minute` in any
    60 s, or one call per `60 / per_minute` s when that is less than one."""
    if per_minute >= 1:
        return int(per_minute), 60.0
    return 1, 60.0 / max(per_minute, 1e-9)


class Gate(Protocol):
    """What holds calls while the org's `Retry-After` runs or while it fails, and lets one probe through after."""

    def note(self, wait: float) -> None:
        """The org answered 429 with `Retry-After: wait` (seconds)."""

    def failed(self, cause: str, *, probe: bool) -> None:
        """A call to the org failed (`cause`: an HTTP 5xx, a timeout, no connection); `probe`: it was the probe."""

    def wait(self, deadline: float, *, retry: bool = False) -> bool:
        """Wait out the Retry-After if it ends before `deadline` (monotonic), else raise `UpstreamThrottled`; raise
        `UpstreamUnavailable` while the circuit is open (a `retry` of a failed call waits out a short pause); True
        when this call is the probe."""
        ...

    def end_probe(self, *, recovered: bool) -> None:
        """The probe's answer came (or it failed before sending): `recovered` when the org answered, not 429 or 5xx."""

    def open_for(self) -> float:
        """Seconds the circuit keeps calls from the org from now, as far as this instance knows (0: a call may go)."""
        ...


class Budget(Protocol):
    """The app's own calls per minute: room waited for (and held for this thread), then taken as a call goes out."""

    per_minute: int  # 0: no budget

    def wait(self, wait_until: float) -> bool:
        """Wait for room until `wait_until` (monotonic) at most, else raise `UpstreamThrottled`; True when that
        took a wait."""
        ...

    def take(self) -> bool:
        """Count the call about to go out; False when others took the room since `wait`."""
        ...

    def release(self) -> None:
        """The room `wait` found is not needed after all (no call goes out)."""


class Slots(Protocol):
    """The app's cap on calls in flight at once."""

    limit: int  # 0: no cap

    def acquire(self, until: float) -> None:
        """A slot for one call, waited for until `until` (monotonic) at most, else `UpstreamThrottled`."""

    def release(self) -> None:
        """The call holding a slot is over."""


class RetryAfterGate(Gate):
    """Holds every call until the org's `Retry-After` has passed, or while the circuit is open; then lets one call
    through first (the probe).

    After a 429 the first call past the Retry-After moment goes alone; the others wait for its answer instead
    of all hitting the org at once, which would only make Retry-After grow. While the org fails, calls fail at once.

    :keyword report: log and count the circuit's changes (off for a copy kept by a shared gate, which reports).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, report: bool = True) -> None:
        self._clock = clock
        self._sleep = sleep
        self.report = report
        self._lock = threading.Lock()
        self._until = 0.0  # monotonic time before which the org asked us not to call
        self._recovering = False  # a 429 was seen and no call has succeeded since
        self._probing = False  # the one call allowed through after Retry-After is out
        self.failures = 0  # the org's failures in a row: the circuit is closed at 0
        self._failing_until = 0.0  # monotonic time before which no call is made while it fails

    def note(self, wait: float) -> None:
        """The org answered 429 with `Retry-After: wait`."""
        with self._lock:
            self._until = max(self._until, self._clock() + min(wait, MAX_RETRY_AFTER))
            self._recovering = True

    def failed(self, cause: str, *, probe: bool, report: bool | None = None) -> None:
        """A call failed: the circuit opens, or (a failed probe) stays open twice as long as before; `report`
        overrides the gate's own `report`."""
        with self._lock:
            if not probe and self.failures:
                return  # a call that was on its way when the circuit opened: it changes nothing
            self.failures += 1
            pause = circuit_pause(self.failures)
            self._failing_until = self._clock() + pause
            failures = self.failures
        if self.report if report is None else report:
            if failures == 1:
                report_circuit(opened=True, failures=failures, pause=pause, cause=cause)
            else:
                report_probe_failed(failures, pause, cause)

    def open_for(self) -> float:
        """Seconds the circuit keeps calls from the org from now (0 when a call may go)."""
        with self._lock:
            return max(0.0, self._failing_until - self._clock()) if self.failures else 0.0

    def wait(self, deadline: float, *, retry: bool = False) -> bool:
        """Wait out the org's Retry-After if it fits before `deadline`, else raise; raise while the circuit is open
        (a `retry` waits out a short pause); True when this call is the probe."""
        while True:
            with self._lock:
                now = self._clock()
                wait = self._until - now
                if wait <= 0 and self.failures:
                    left = self._failing_until - now
                    if left > 0 and not (retry and left <= RETRY_MAY_WAIT_SECONDS and now + left < deadline):
                        raise UpstreamUnavailable(message=FAILING, retry_after=left)
                    if left <= 0 and self._probing:
                        raise UpstreamUnavailable(message=FAILING, retry_after=1)  # the probe is out: not a second
                    wait = left
                if wait <= 0:
                    if not self._recovering and not self.failures:
                        return False
                    if not self._probing:
                        self._probing = True
                        return True
                    wait = 0.05  # a probe is out after a 429: look again shortly
            if now + wait >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=max(1, round(self._until - now)))
            self._sleep(wait)

    def end_probe(self, *, recovered: bool, report: bool | None = None) -> None:
        """The probe's answer came (or it failed before sending): `recovered` when it was not a 429 or a failure;
        `report` overrides the gate's own `report`."""
        with self._lock:
            self._probing = False
            failures = self.failures
            if recovered:
                self._recovering = False
                self.failures, self._failing_until = 0, 0.0
        if recovered and failures and (self.report if report is None else report):
            report_circuit(opened=False, failures=failures)


class CallsBudget(Budget):
    """At most `per_minute` calls in any 60 s (0: no budget); a call waits for room while its caller allows.

    `share` narrows it to a part of the budget (the instance's share while the shared budget cannot be reached).
    """

    def __init__(self, per_minute: int = 0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_minute = per_minute
        self._limit, self._window = per_minute, 60.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._spent: deque[float] = deque()  # when each call of the last window went out

    def share(self, per_minute: float) -> None:
        """Keep to `per_minute` from now on (less than one: one call per `60 / per_minute` s)."""
        if self.per_minute:
            limit, window = share_of(min(per_minute, self.per_minute))
            with self._lock:
                self._limit, self._window = limit, window

    def wait(self, wait_until: float) -> bool:
        """Wait until the budget has room; True when that took a wait.

        Room that comes only after `wait_until` is not waited for: `UpstreamThrottled` with the wait instead.
        """
        waited = False
        while True:
            wait = self.wait_for_room()
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

    def release(self) -> None:
        """Nothing is held between `wait` and `take` here."""

    def record(self, calls: int = 1) -> None:
        """Count `calls` this instance was given elsewhere (by the shared budget), room or not."""
        if self.per_minute:
            with self._lock:
                self._spent.extend([self._clock()] * calls)

    def wait_for_room(self) -> float:
        """Seconds until a call fits (0: now)."""
        if not self.per_minute:
            return 0.0
        with self._lock:
            return self._wait_locked()

    def _wait_locked(self) -> float:
        now = self._clock()
        spent = self._spent
        while spent and spent[0] <= now - max(self._window, 60.0):  # kept a minute at least: the share may grow
            spent.popleft()
        recent = [at for at in spent if at > now - self._window]
        if len(recent) < self._limit:
            return 0.0
        return recent[-self._limit] + self._window - now


class CallSlots(Slots):
    """At most `limit` calls in flight at once (0: no cap); a call waits for a slot while its caller allows.

    `resize` changes the cap (the instance's share while the shared cap cannot be reached).
    """

    def __init__(self, limit: int = 0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._size = limit
        self._clock = clock
        self._free = threading.Condition()
        self.in_use = 0

    def resize(self, size: int) -> None:
        """At most `size` calls in flight from now on (at least one)."""
        if self.limit:
            with self._free:
                self._size = max(1, min(size, self.limit))
                self._free.notify_all()

    def acquire(self, until: float) -> None:
        if not self.limit:
            return
        with self._free:
            while self.in_use >= self._size:
                left = until - self._clock()
                if left <= 0:
                    raise UpstreamThrottled(message=SLOTS_FULL, retry_after=1)
                self._free.wait(left)
            self.in_use += 1

    def release(self) -> None:
        if not self.limit:
            return
        with self._free:
            self.in_use -= 1
            self._free.notify()
