"""`SharedGate`: the org's `Retry-After` and its circuit for every instance together, in the throttle row.

A 429 any instance receives holds every instance's calls until it has passed; a failure of the org any instance
meets opens the circuit for all of them (`circuit_pause`), each failed probe doubling the pause; after either, one
call in all goes first (the probe, under a lease in the row), and the others wait for its answer (after a 429) or
fail fast meanwhile (while the org fails). Other instances learn of it when their keeper next reads the row (within
about a second, a fifth of that once they have seen the org throttle or fail). This instance's own `RetryAfterGate`
is kept up to date all along and takes over while storage fails; the shared gate reports the circuit's changes (a
log line and `availability.upstream.circuit`) on the instance that wrote them.
"""

from __future__ import annotations

import threading

from ..dataverse.throttle import (
    FAILING,
    MAX_RETRY_AFTER,
    RETRY_MAY_WAIT_SECONDS,
    THROTTLED,
    Gate,
    RetryAfterGate,
    circuit_pause,
    report_circuit,
    report_probe_failed,
)
from ..errors import UpstreamThrottled, UpstreamUnavailable
from .rows import MAX_LEASE_SECONDS, Allowance
from .throttle import Keeper, SharedStorage, Throttle

CALL_MARGIN = 0.2  # of a call's budget, kept for the call when the gate waits


class SharedGate(Gate):
    """The org's `Retry-After` and circuit for every instance: noted in the throttle row, one probe in all after.

    Falls back to this instance's own `RetryAfterGate` (kept up to date all along, quiet) while storage fails.
    """

    def __init__(self, storage: SharedStorage, local: RetryAfterGate, keeper: Keeper) -> None:
        self._storage = storage
        self._local = local
        local.report = False  # this gate reports, for every instance
        self._keeper = keeper
        self._lock = threading.Lock()
        self._probing = False  # a thread of this instance holds the probe (or is taking it)

    def note(self, wait: float) -> None:
        self._local.note(wait)
        storage = self._storage
        storage.throttle.hurry()
        now = storage.wall()
        until = now + min(wait, MAX_RETRY_AFTER)
        owner = storage.owner

        def mutate(row: Throttle) -> bool:
            if until > row.retry_until:
                row.retry_until, row.retry_noted = until, now
            row.recovering = True
            if row.prober == owner:  # the probe was answered (with this 429): its lease ends
                row.probe_until, row.prober = 0.0, ""
            return True

        storage.with_storage(lambda allowance: storage.throttle.change(mutate, allowance))

    def failed(self, cause: str, *, probe: bool) -> None:
        storage = self._storage
        storage.throttle.hurry()
        now = storage.wall()
        owner = storage.owner
        opened: list[tuple[int, float]] = []  # what the write that went in did: failures in a row, and the pause

        def mutate(row: Throttle) -> bool:
            opened.clear()
            if not probe and row.failures:
                return False  # a call that was on its way when the circuit opened: it changes nothing
            row.failures += 1
            pause = circuit_pause(row.failures)
            row.failing_until, row.failed_at = now + pause, now
            if row.prober == owner:
                row.probe_until, row.prober = 0.0, ""
            opened.append((row.failures, pause))
            return True

        shared = storage.health.usable() and storage.with_storage(
            lambda allowance: storage.throttle.change(mutate, allowance) or True) is not None
        self._local.failed(cause, probe=probe, report=not shared)
        if shared and opened:
            failures, pause = opened[0]
            if failures == 1:
                report_circuit(opened=True, failures=failures, pause=pause, cause=cause)
            else:
                report_probe_failed(failures, pause, cause)

    def open_for(self) -> float:
        # The local gate hears every failure this instance meets, and the pause it keeps is at least the shared one's
        # first: enough to tell the caller when to come back.
        return self._local.open_for()

    def wait(self, deadline: float, *, retry: bool = False) -> bool:
        self._keeper.calling()
        result = self._storage.with_storage(lambda allowance: self._wait(deadline, retry, allowance))
        return self._local.wait(deadline, retry=retry) if result is None else result

    def _wait(self, deadline: float, retry: bool, allowance: Allowance) -> bool:
        storage = self._storage
        max_age = storage.throttle.max_age()
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
            left = row.failing_until - now if row.failures else 0.0
            if left > 0:
                if retry and left <= RETRY_MAY_WAIT_SECONDS and clock + left + CALL_MARGIN < deadline:
                    storage.sleep(left)  # this call's own retry: a short pause is waited out
                    max_age = 0.0
                    continue
                raise UpstreamUnavailable(message=FAILING, retry_after=left)
            if not row.recovering and not row.failures:
                return False
            if clock + CALL_MARGIN >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            # Past a Retry-After or a pause, one call goes first for all instances: the one that takes the probe.
            with self._lock:
                mine = not self._probing and not (row.probe_until > now and row.prober != storage.owner)
                if mine:
                    self._probing = True
            if mine and self._take_probe(deadline, allowance):
                if storage.monotonic() + CALL_MARGIN / 2 < deadline:
                    return True
                self.end_probe(recovered=False)  # taken too late to be sent: let another instance probe
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            if row.failures:  # another probe finds out whether the org is back: no call meanwhile
                raise UpstreamUnavailable(message=FAILING, retry_after=1)
            if clock + 0.1 + CALL_MARGIN >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            storage.sleep(0.1)
            max_age = 0.0

    def _take_probe(self, deadline: float, allowance: Allowance) -> bool:
        storage = self._storage
        now = storage.wall()
        lease = now + min(max(0.0, deadline - storage.monotonic()), MAX_LEASE_SECONDS) + 1.0

        def mutate(row: Throttle) -> bool:
            if (row.retry_until > now or not (row.recovering or row.failures)
                    or (row.failures and row.failing_until > now)
                    or (row.probe_until > now and row.prober != storage.owner)):
                return False
            row.probe_until, row.probe_taken, row.prober = lease, now, storage.owner
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
        storage = self._storage
        owner = storage.owner
        closed: list[int] = []  # failures in a row the write that went in ended

        def mutate(row: Throttle) -> bool:
            closed.clear()
            changed = False
            if row.prober == owner:
                row.probe_until, row.prober, changed = 0.0, "", True
            if recovered and row.recovering and row.retry_until <= storage.wall():
                row.recovering, changed = False, True
            if recovered and row.failures:
                closed.append(row.failures)
                row.failures, row.failing_until, changed = 0, 0.0, True
            return changed

        shared = storage.health.usable() and storage.with_storage(
            lambda allowance: storage.throttle.change(mutate, allowance) or True) is not None
        self._local.end_probe(recovered=recovered, report=not shared)
        if shared and closed:
            report_circuit(opened=False, failures=closed[0])
