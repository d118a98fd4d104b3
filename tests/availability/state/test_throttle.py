"""The shared `Retry-After`, calls budget and keeper on a clock the tests move, over rows kept in memory with ETags
as Table Storage keeps them: the rules hold for every instance together, and each instance falls back to its own
gate and budget while storage fails. (The same parts over the wire, with Azurite: tests/test_instances.py.)"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import pytest

from availability.dataverse.throttle import CallsBudget, RetryAfterGate
from availability.errors import StorageUnavailable, UpstreamThrottled
from availability.state.rows import THROTTLE_ROW, Allowance, Conflict, Health, Row
from availability.state.throttle import Keeper, SharedBudget, SharedGate, SharedStorage
from tests.clock import FakeClock

T = TypeVar("T")

# The keeper's promise, in its own numbers: while this instance calls the org and for 2 s after, the row is read
# again once it is 0.2 s old, so never more than five times a second; after a failure, not before storage is
# tried again (5 s).
READ_EVERY, KEEP_FRESH, COOLDOWN = 0.2, 2.0, 5.0


class MemoryRows:
    """One partition's rows in memory, each changed only on its ETag, as Table Storage does (a `RowStore`)."""

    def __init__(self, clock: FakeClock, latency: float = 0.0) -> None:
        self._clock = clock
        self.latency = latency  # seconds each operation takes
        self.failing = False  # every operation fails as unreachable storage does
        self._rows: dict[str, Row] = {}
        self._etags = itertools.count(1)
        self.reads: list[float] = []  # when each read of the throttle row reached storage (monotonic)

    def _run(self, allowance: Allowance, operation: Callable[[], T], *, reads: list[float] | None = None) -> T:
        def timed(options: Any) -> T:
            if reads is not None:
                reads.append(self._clock.now)
            if self.failing:
                raise StorageUnavailable()
            self._clock.advance(self.latency)
            return operation()

        return allowance.run(timed)

    def _written(self, values: dict[str, Any]) -> str:
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

    def call(self, wait_until: float) -> bool:
        """One call as the org's client makes it (budget, then gate); True when it was sent."""
        self.budget.wait(wait_until)
        if not self.budget.take():
            return False
        if self.gate.wait(wait_until):
            self.gate.end_probe(recovered=True)
        return True


def instance(rows: MemoryRows, clock: FakeClock, per_minute: int = 0) -> Instance:
    storage = SharedStorage(rows, Health("state", clock.monotonic), monotonic=clock.monotonic, wall=clock.wall,
                            sleep=clock.sleep)
    keeper = Keeper(storage.throttle, storage.refresh, clock.monotonic, wait=clock.wait, spawn=lambda loop: None)
    own_budget = CallsBudget(per_minute, clock=clock.monotonic, sleep=clock.sleep)
    gate = SharedGate(storage, RetryAfterGate(clock=clock.monotonic, sleep=clock.sleep), keeper)
    return Instance(storage, gate, SharedBudget(storage, own_budget), own_budget)


def most_within(times: list[float], seconds: float) -> int:
    """The most of `times` that any `seconds`-long span holds."""
    return max((sum(1 for t in times if start <= t < start + seconds) for start in times), default=0)


# -- the gate --------------------------------------------------------------------------------------------------

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
        assert subject.budget.take()
    assert not first.budget.take() and not other.budget.take()
    with pytest.raises(UpstreamThrottled) as raised:
        other.budget.wait(clock.now + 30)  # room comes about a minute after the first call
    assert raised.value.retry_after is not None and 60 <= raised.value.retry_after <= 63


def test_room_that_storage_cannot_confirm_in_time_is_no_room() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock, 5)
    with subject.storage.serving(Allowance(clock.monotonic, seconds=0.01)):  # this request's storage time is spent
        with pytest.raises(UpstreamThrottled):
            subject.budget.take()
    assert subject.own_budget.take() and rows.reads == []  # nothing counted, nothing asked of storage


def test_while_storage_fails_the_instance_keeps_to_the_budget_with_the_calls_it_counted_itself() -> None:
    clock = FakeClock()
    rows = MemoryRows(clock)
    subject = instance(rows, clock, 10)
    for _ in range(6):
        assert subject.budget.take()
    rows.failing = True
    assert [subject.budget.take() for _ in range(5)] == [True] * 4 + [False]


# -- the keeper ------------------------------------------------------------------------------------------------

def keep(calls_at: list[float], end: float, *, failing: bool = False, close_at: float | None = None) -> list[float]:
    """When the keeper read the throttle row, for calls of this instance at `calls_at` (offsets in seconds)."""
    clock = FakeClock(start=0.0)
    rows = MemoryRows(clock, latency=0.003)
    rows.failing = failing
    storage = SharedStorage(rows, Health("state", clock.monotonic), monotonic=clock.monotonic, wall=clock.wall,
                            sleep=clock.sleep)

    def here(loop: Callable[[], None]) -> None:
        loop()  # the keeper's loop, in this thread, on the clock the test moves

    def read() -> None:
        storage.refresh()
        assert len(rows.reads) < 10_000, "the keeper reads without end"

    keeper = Keeper(storage.throttle, read, clock.monotonic, wait=clock.wait, spawn=here)
    for moment in calls_at:
        clock.at(moment, keeper.calling)
    if close_at is not None:
        clock.at(close_at, keeper.close)
    clock.at(end, keeper.close)
    clock.run()
    return rows.reads


def test_a_busy_instance_reads_the_row_five_times_a_second_at_most_and_keeps_it_fresh() -> None:
    calls = [n * 0.05 for n in range(200)]  # 20 calls a second for 10 s
    reads = keep(calls, 20.0)
    gaps = [later - earlier for earlier, later in itertools.pairwise(reads)]
    assert min(gaps) >= READ_EVERY  # never more than five a second
    assert max(gaps) <= READ_EVERY + 0.01  # and never older than that while calls come
    assert reads[0] == 0.0
    assert calls[-1] + KEEP_FRESH - READ_EVERY <= reads[-1] <= calls[-1] + KEEP_FRESH


def test_a_quiet_instance_reads_nothing() -> None:
    reads = keep([0.0, 30.0], 100.0)  # one call, half a minute of quiet, one more
    assert all(0.0 <= t <= KEEP_FRESH or 30.0 <= t <= 30.0 + KEEP_FRESH for t in reads)
    assert 2 * 9 <= len(reads) <= 2 * 11
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
