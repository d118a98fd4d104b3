"""The shared `Retry-After`, circuit, calls budget, cap on calls in flight and keeper on a clock the tests move, over
rows kept in memory with ETags as Table Storage keeps them: the rules hold for every instance together, rows
written by anyone hold calls no longer than their kind allows, and each instance falls back to its own share while
storage fails. (The same parts over the wire, with Azurite: tests/test_instances.py and state/test_table.py.)"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from availability.dataverse.throttle import (
    CIRCUIT_BASE_SECONDS,
    CIRCUIT_MAX_SECONDS,
    MAX_CALL_SECONDS,
    MAX_RETRY_AFTER,
    CallsBudget,
    CallSlots,
    RetryAfterGate,
)
from availability.errors import StorageUnavailable, UpstreamThrottled, UpstreamUnavailable
from availability.state.budget import UNKNOWN_INSTANCES, SharedBudget, SharedSlots
from availability.state.gate import SharedGate
from availability.state.rows import THROTTLE_ROW, Allowance, Conflict, Health, Row
from availability.state.throttle import GRANT_SECONDS, Keeper, SharedStorage, Throttle
from tests.clock import FakeClock

T = TypeVar("T")

# The keeper's promise, in its own numbers: while this instance calls the org and for 2 s after, the row is read
# again about once a second (0.8 to 1.2 s), five times a second for 5 s after a 429; after a failure, not before
# storage is tried again (5 s).
READ_EVERY, HURRIED_EVERY, KEEP_FRESH, COOLDOWN = 1.0, 0.2, 2.0, 5.0


class MemoryRows:
    """One partition's rows in memory, each changed only on its ETag, as Table Storage does (a `RowStore`)."""

    def __init__(self, clock: FakeClock, latency: float = 0.0) -> None:
        self._clock = clock
        self.latency = latency  # seconds each operation takes
        self.failing = False  # every operation fails as unreachable storage does
        self._rows: dict[str, Row] = {}
        self._etags = itertools.count(1)
        self.reads: list[float] = []  # when each read of the throttle row reached storage (monotonic)
        self.writes = 0

    def _run(self, allowance: Allowance, operation: Callable[[], T], *, reads: list[float] | None = None) -> T:
        def timed(options: Any) -> T:
            if reads is not None:
                reads.append(self._clock.now)
            if self.failing:
                raise StorageUnavailable()
            self._clock.advance(self.latency)
            return operation()

        return allowance.run(timed)

    def forged(self, values: dict[str, Any]) -> None:
        self._written(values)

    def _written(self, values: dict[str, Any]) -> str:
        self.writes += 1
        etag = f'W/"{next(self._etags)}"'
        self._rows[values["RowKey"]] = Row(values, etag)
        return etag

    def read(self, key: str, allowance: Allowance) -> Row | None:
        return self._run(allowance, lambda: self._rows.get(key), reads=self.reads if key == THROTTLE_ROW else None)

    def create(self, entity: dict[str, Any], allowance: Allowance) -> str:
        def create() -> str:
            if entity["RowKey"] in self._rows:
                raise Conflict()
            return self._written(dict(entity))

        return self._run(allowance, create)

    def update(self, entity: dict[str, Any], etag: str, allowance: Allowance, *, merge: bool) -> str:
        def update() -> str:
            row = self._rows.get(entity["RowKey"])
            if row is None or row.etag != etag:
                raise Conflict()
            return self._written({**row.values, **entity} if merge else dict(entity))

        return self._run(allowance, update)


@dataclass
class Instance:
    """One instance of the app as the shared state sees it, with its own fallbacks."""

    storage: SharedStorage
    gate: SharedGate
    budget: SharedBudget
    own_budget: CallsBudget
    slots: SharedSlots
    later: list[tuple[float, Callable[[Allowance], None]]]

    def call(self, wait_until: float) -> bool:
        """One call as the org's client makes it (budget, then gate); True when it was sent."""
        self.budget.wait(wait_until)
        if not self.budget.take():
            return False
        if self.gate.wait(wait_until):
            self.gate.end_probe(recovered=True)
        return True

    def run_later(self, clock: FakeClock) -> None:
        """The background work queued so far, at its moment."""
        for delay, work in self.later:
            clock.advance(max(0.0, delay))
            work(Allowance(clock.monotonic))
        self.later.clear()


def instance(rows: MemoryRows, clock: FakeClock, per_minute: int = 0, slots: int = 0) -> Instance:
    storage = SharedStorage(rows, Health("state", clock.monotonic), monotonic=clock.monotonic, wall=clock.wall,
                            sleep=clock.sleep)
    keeper = Keeper(storage.throttle, storage.refresh, clock.monotonic, wait=clock.wait, spawn=lambda loop: None)
    own_budget = CallsBudget(per_minute, clock=clock.monotonic, sleep=clock.sleep)
    gate = SharedGate(storage, RetryAfterGate(clock=clock.monotonic, sleep=clock.sleep), keeper)
    later: list[tuple[float, Callable[[Allowance], None]]] = []
    shared_slots = SharedSlots(storage, CallSlots(slots, clock=clock.monotonic),
                               lambda work, delay: later.append((delay, work)))
    return Instance(storage, gate, SharedBudget(storage, own_budget), own_budget, shared_slots, later)


def roster_counted(instance: Instance, active: int) -> None:
    """The roster counted `active` instances (as upkeep.py writes it), and this instance read it."""

    def count(row: Throttle) -> bool:
        row.active = active
        return True

    instance.storage.with_storage(lambda allowance: instance.storage.throttle.change(count, allowance))


def forge(rows: MemoryRows, **values: Any) -> None:
    """A throttle row written by anyone, holding `values`."""
    rows.forged({"RowKey": THROTTLE_ROW, **values})


def most_within(times: list[float], seconds: float) -> int:
    """The most of `times` that any `seconds`-long span holds."""
    return max((sum(1 for t in times if start <= t < start + seconds) for start in times), default=0)


# -- the gate: Retry-After ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("comes_after", [0.0, 10.0, 29.5, 29.99])
def test_a_retry_after_one_instance_was_told_holds_the_others_calls_until_it_has_passed(comes_after: float) -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    first, other = instance(rows, clock), instance(rows, clock)
    until = clock.wall() + 30
    first.gate.note(30)
    clock.advance(comes_after)
    assert other.gate.wait(clock.now + 60) is True  # not before the moment; and then it is the one probe
    assert clock.wall() >= until
    assert clock.wall() <= until + 0.5


def test_one_probe_goes_for_all_instances_and_the_others_go_once_it_is_answered() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    first, other = instance(rows, clock), instance(rows, clock)
    first.gate.note(1)
    assert first.gate.wait(clock.now + 10) is True  # the probe
    with pytest.raises(UpstreamThrottled):  # another instance's call waits for its answer, to its own deadline
        other.gate.wait(clock.now + 2)
    answered = clock.now + 1
    clock.at(answered, lambda: first.gate.end_probe(recovered=True))
    assert other.gate.wait(clock.now + 10) is False  # the org recovered: a call, not a second probe
    assert clock.now >= answered


def test_a_probe_whose_instance_vanished_is_taken_over_once_its_lease_ends() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    gone, other = instance(rows, clock), instance(rows, clock)
    gone.gate.note(1)
    taken_at = clock.now + 1
    assert gone.gate.wait(clock.now + 5) is True  # and never answered
    lease_until = taken_at + 4 + 1  # the deadline left when it was taken, and a second more
    assert other.gate.wait(clock.now + 20) is True
    assert lease_until - 0.01 <= clock.now <= lease_until + 0.5


def test_a_retry_after_past_the_deadline_is_an_error_at_once() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    first, other = instance(rows, clock), instance(rows, clock)
    first.gate.note(30)
    with pytest.raises(UpstreamThrottled) as raised:
        other.gate.wait(clock.now + 10)
    assert raised.value.retry_after == 30
    assert clock.slept == 0.0


def test_while_storage_fails_the_instance_keeps_to_the_retry_after_it_was_told_itself() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    alone = instance(rows, clock)
    rows.failing = True
    noted = clock.now
    alone.gate.note(30)
    assert alone.gate.wait(clock.now + 60) is True
    assert clock.now >= noted + 30


# -- the gate: the circuit -----------------------------------------------------------------------------------------

def test_a_failure_one_instance_met_leaves_the_org_alone_for_all_then_one_probe_for_all() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    first, other, third = (instance(rows, clock) for _ in range(3))
    first.gate.failed("HTTP 503", probe=False)
    with pytest.raises(UpstreamUnavailable):  # at once, without a call: the caller serves an older answer
        other.gate.wait(clock.now + 20)
    assert clock.slept == 0.0
    clock.advance(CIRCUIT_BASE_SECONDS)  # the first pause is a second at most
    assert other.gate.wait(clock.now + 20) is True  # the probe, for all
    with pytest.raises(UpstreamUnavailable):  # while it is out: no call from anyone
        third.gate.wait(clock.now + 20)
    other.gate.failed("HTTP 503", probe=True)  # the org still fails: a pause twice as long
    other.gate.end_probe(recovered=False)
    clock.advance(1.4 * CIRCUIT_BASE_SECONDS)  # the pause is now 1.5 to 2 times the first
    with pytest.raises(UpstreamUnavailable):
        third.gate.wait(clock.now + 20)
    clock.advance(0.6 * CIRCUIT_BASE_SECONDS)
    assert third.gate.wait(clock.now + 20) is True
    third.gate.end_probe(recovered=True)  # back
    assert [subject.gate.wait(clock.now + 20) for subject in (first, other, third)] == [False] * 3


def test_a_minute_of_outage_costs_the_org_a_handful_of_calls_from_three_instances() -> None:
    # One check asked five times a second over three instances through a minute of outage: only probes go.
    clock = FakeClock()
    rows = MemoryRows(clock, latency=0.004)
    instances = [instance(rows, clock) for _ in range(3)]
    sent = 0
    start = clock.now
    for turn in itertools.cycle(instances):
        if clock.now > start + 60:
            break
        try:
            probe = turn.gate.wait(clock.now + 20)
            sent += 1
            turn.gate.failed("HTTP 503", probe=probe)
            if probe:
                turn.gate.end_probe(recovered=False)
        except UpstreamUnavailable:
            pass
        clock.advance(0.2)
    assert sent <= 10


def test_calls_on_their_way_when_the_circuit_opened_do_not_lengthen_its_pause() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    first, other = instance(rows, clock), instance(rows, clock)
    first.gate.failed("timeout", probe=False)
    for _ in range(5):
        other.gate.failed("timeout", probe=False)
    assert first.storage.throttle.current(0, Allowance(clock.monotonic)).failures == 1


# -- rows written by anyone ------------------------------------------------------------------------------------------

def test_a_forged_retry_after_holds_calls_no_longer_than_the_ceiling() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    forge(rows, RetryUntil=clock.wall() + 30 * 86400, Recovering=True)  # 30 days, with no moment it was noted
    subject = instance(rows, clock)
    assert subject.gate.wait(clock.now + 20) is True  # ignored: the probe goes at once
    subject.gate.end_probe(recovered=True)
    forge(rows, RetryUntil=clock.wall() + 30 * 86400, RetryNoted=clock.wall(), Recovering=True)
    clock.advance(2)  # past the age at which a call goes by the row as it was read
    with pytest.raises(UpstreamThrottled) as raised:
        subject.gate.wait(clock.now + 20)
    assert raised.value.retry_after is not None and raised.value.retry_after <= MAX_RETRY_AFTER
    forge(rows, RetryUntil=clock.wall() + 30 * 86400, RetryNoted=clock.wall() + 30 * 86400, Recovering=True)
    clock.advance(2)
    assert subject.gate.wait(clock.now + 20) is True  # noted in the future: nobody's clock is that far ahead


def test_a_forged_circuit_or_probe_holds_calls_no_longer_than_their_kind() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock)
    ten_years = clock.wall() + 10 * 365 * 86400
    forge(rows, Failures=1, FailingUntil=ten_years, FailedAt=clock.wall())
    clock.advance(CIRCUIT_MAX_SECONDS + 0.1)
    assert subject.gate.wait(clock.now + 20) is True
    subject.gate.end_probe(recovered=True)
    forge(rows, Recovering=True, ProbeUntil=ten_years, ProbeTaken=clock.wall(), Prober="someone")
    clock.advance(MAX_CALL_SECONDS + 1.1)
    assert subject.gate.wait(clock.now + 20) is True


def test_forged_budget_and_slots_hold_nothing_for_long() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    future_second = int(clock.wall()) + 86400
    forge(rows, Calls=f"{future_second}:100000", Slots=f"someone:1000:{clock.wall() + 86400}")
    subject = instance(rows, clock, per_minute=10, slots=3)
    assert subject.call(clock.now + 5)
    subject.slots.acquire(clock.now + 5)  # the forged slots were taken in the future: not counted
    subject.slots.release()


# -- the budget ------------------------------------------------------------------------------------------------

def test_instances_together_never_send_more_than_the_budget_in_60_s() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock, latency=0.004)
    per_minute = 10
    instances = [instance(rows, clock, per_minute) for _ in range(3)]
    sent: list[float] = []
    start = clock.now
    for turn in itertools.cycle(instances):
        if clock.now > start + 400:
            break
        try:
            if turn.call(clock.now + 5):
                sent.append(clock.wall())
        except UpstreamThrottled:
            pass  # no room within this caller's time: it is told so
        clock.advance(0.3)  # callers keep coming, at every instance
    assert most_within(sent, 60) == per_minute
    # Each instance alone would have let all of its own through: the count is shared.
    assert len(sent) <= 7 * per_minute


def test_the_call_past_the_budget_is_refused_whichever_instance_asks() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    first, other = instance(rows, clock, 4), instance(rows, clock, 4)
    for subject in (first, other, first, other):
        assert subject.call(clock.now + 1)
    for subject in (first, other):
        with pytest.raises(UpstreamThrottled) as raised:
            subject.budget.wait(clock.now + 30)  # room comes about a minute after the first grant
        assert raised.value.retry_after is not None and 60 <= raised.value.retry_after <= 65


def test_room_that_storage_cannot_confirm_in_time_is_no_room() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock, 5)
    with subject.storage.serving(Allowance(clock.monotonic, seconds=0.01)):  # this request's storage time is spent
        with pytest.raises(UpstreamThrottled):
            subject.budget.wait(clock.now + 10)
    assert subject.own_budget.take() and rows.reads == []  # nothing counted, nothing asked of storage


def test_a_grant_not_used_is_handed_to_the_next_call_and_lapses_after_a_while() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock, 10)
    subject.budget.wait(clock.now + 5)
    subject.budget.release()  # the caller found its answer elsewhere: no call
    assert subject.budget.take()  # the next call takes it, no write
    subject.budget.wait(clock.now + 5)
    clock.advance(GRANT_SECONDS + 0.1)
    assert not subject.budget.take()  # lapsed: calls granted are sent soon or not at all
    granted = subject.storage.throttle.current(0, Allowance(clock.monotonic)).granted(clock.wall())
    assert granted == 2


def test_near_the_end_of_the_budget_each_instance_asks_only_for_its_share() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    many = [instance(rows, clock, 20) for _ in range(2)]
    roster_counted(many[0], 10)  # ten instances share 20 calls a minute: two each
    for _ in range(15):  # three quarters of the budget granted, to instances the test does not run
        def grant(row: Throttle) -> bool:
            row.grant(clock.wall())
            return True
        many[1].storage.with_storage(lambda allowance: many[1].storage.throttle.change(grant, allowance))
    subject = many[0]
    subject.storage.with_storage(lambda allowance: subject.storage.throttle.current(0, allowance))
    assert subject.call(clock.now + 1) and subject.call(clock.now + 1)
    reads = len(rows.reads)
    with pytest.raises(UpstreamThrottled):
        subject.budget.wait(clock.now + 10)  # its share is spent for the minute: refused, storage not asked
    assert len(rows.reads) == reads


def test_while_storage_fails_an_instance_keeps_to_its_share_of_the_budget() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock, 30)
    roster_counted(subject, 3)
    for _ in range(4):
        assert subject.call(clock.now + 1)
    rows.failing = True  # 30 a minute over three instances: 10 each, 4 of them given already
    sent = 0
    for _ in range(20):
        with contextlib.suppress(UpstreamThrottled):
            sent += subject.call(clock.now + 1)
    assert sent == 6


def test_while_storage_fails_an_instance_that_never_counted_the_others_takes_a_hundredth() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    rows.failing = True
    subject = instance(rows, clock, 600)
    sent = 0
    for _ in range(50):
        with contextlib.suppress(UpstreamThrottled):
            sent += subject.call(clock.now + 1)
        clock.advance(0.1)
    assert sent == 600 // UNKNOWN_INSTANCES


# -- the cap on calls in flight ---------------------------------------------------------------------------------

def test_instances_together_never_have_more_calls_in_flight_than_the_cap() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    first, other = instance(rows, clock, slots=3), instance(rows, clock, slots=3)
    first.slots.acquire(clock.now + 1)
    first.slots.acquire(clock.now + 1)
    other.slots.acquire(clock.now + 1)
    with pytest.raises(UpstreamThrottled):
        other.slots.acquire(clock.now + 1)  # three in flight: the fourth waits to its deadline
    first.slots.release()
    first.slots.release()
    first.run_later(clock)  # idle: its slots go back
    other.slots.acquire(clock.now + 1)
    other.slots.acquire(clock.now + 1)
    with pytest.raises(UpstreamThrottled):
        first.slots.acquire(clock.now + 1)


def test_slots_in_use_are_not_asked_for_again_and_idle_ones_go_back() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock, slots=24)
    writes = rows.writes
    for _ in range(10):  # one call after another: the slot leased for the first serves them all
        subject.slots.acquire(clock.now + 1)
        subject.slots.release()
    assert rows.writes == writes + 1
    subject.run_later(clock)
    assert subject.storage.throttle.current(0, Allowance(clock.monotonic)).slots == {}


def test_while_storage_fails_an_instance_keeps_to_its_share_of_the_cap() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock, slots=24)
    roster_counted(subject, 8)
    rows.failing = True
    for _ in range(3):
        subject.slots.acquire(clock.now)
    with pytest.raises(UpstreamThrottled):
        subject.slots.acquire(clock.now)  # 24 over 8 instances: 3


# -- the keeper ------------------------------------------------------------------------------------------------

def keep(calls_at: list[float], end: float, *, failing: bool = False, close_at: float | None = None,
         hurry_at: float | None = None) -> list[float]:
    """When the keeper read the throttle row, for calls of this instance at `calls_at` (offsets in seconds)."""
    clock = FakeClock(start=0.0)
    rows = MemoryRows(clock, latency=0.003)
    rows.failing = failing
    storage = SharedStorage(rows, Health("state", clock.monotonic), monotonic=clock.monotonic, wall=clock.wall,
                            sleep=clock.sleep)

    def here(loop: Callable[[], None]) -> None:
        loop()  # the keeper's loop, in this thread, on the clock the test moves

    def read(older_than: float) -> None:
        storage.refresh(older_than)
        assert len(rows.reads) < 10_000, "the keeper reads without end"

    keeper = Keeper(storage.throttle, read, clock.monotonic, wait=clock.wait, spawn=here)
    for moment in calls_at:
        clock.at(moment, keeper.calling)
    if hurry_at is not None:
        clock.at(hurry_at, storage.throttle.hurry)
    if close_at is not None:
        clock.at(close_at, keeper.close)
    clock.at(end, keeper.close)
    clock.run()
    return rows.reads


def test_a_busy_instance_reads_the_row_about_once_a_second_and_not_in_step() -> None:
    calls = [n * 0.05 for n in range(200)]  # 20 calls a second for 10 s
    reads = keep(calls, 20.0)
    gaps = [later - earlier for earlier, later in itertools.pairwise(reads)]
    assert min(gaps) >= 0.8 * READ_EVERY and max(gaps) <= 1.2 * READ_EVERY + 0.01
    assert len({round(gap, 3) for gap in gaps}) > len(gaps) // 2  # drawn anew each time
    assert reads[0] == 0.0
    assert calls[-1] + KEEP_FRESH - 1.2 * READ_EVERY <= reads[-1] <= calls[-1] + KEEP_FRESH


def test_after_a_429_or_a_failure_it_reads_five_times_a_second_for_a_while() -> None:
    calls = [n * 0.05 for n in range(400)]  # busy for 20 s
    reads = keep(calls, 30.0, hurry_at=5.0)
    hurried = [t for t in reads if 5.3 <= t <= 9.8]
    gaps = [later - earlier for earlier, later in itertools.pairwise(hurried)]
    assert gaps and min(gaps) >= HURRIED_EVERY and max(gaps) <= HURRIED_EVERY + 0.01
    later = [t for t in reads if t > 11]
    assert min(b - a for a, b in itertools.pairwise(later)) >= 0.8 * READ_EVERY  # then as before


def test_a_quiet_instance_reads_nothing() -> None:
    reads = keep([0.0, 30.0], 100.0)  # one call, half a minute of quiet, one more
    assert all(0.0 <= t <= KEEP_FRESH or 30.0 <= t <= 30.0 + KEEP_FRESH for t in reads)
    assert 2 * 2 <= len(reads) <= 2 * 3
    assert keep([], 100.0) == []


def test_storage_that_fails_is_not_read_again_at_once() -> None:
    reads = keep([n * 0.05 for n in range(400)], 30.0, failing=True)  # busy for 20 s
    gaps = [later - earlier for earlier, later in itertools.pairwise(reads)]
    assert reads and min(gaps) >= COOLDOWN  # a failed read waits out the cooldown
    assert len(reads) <= 20 / COOLDOWN + 1


def test_a_closed_keeper_reads_nothing_until_the_next_call() -> None:
    calls = [n * 0.1 for n in range(50)] + [20.0]  # busy for 5 s, closed at 6, one call at 20
    reads = keep(calls, 40.0, close_at=6.0)
    assert not [t for t in reads if 6.0 < t < 20.0]
    assert [t for t in reads if t >= 20.0][0] == 20.0  # the next call starts it again
