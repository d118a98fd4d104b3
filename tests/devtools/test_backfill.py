"""The backfill: past slots through the timer's run, each checked with the org's clock moved there (sandbox)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from availability.answer import Availability, format_time
from availability.errors import StorageUnavailable
from availability.snapshots import HistoryQuery, Snapshot, SnapshotStore
from devtools.backfill import backfill, past_slots, thin
from tests.availability.conftest import sandbox_org
from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE, Q_OPEN, at

BEFORE = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"


# ------------------------------------------------------------------------------------------- units


def test_past_slots_of_a_schedule_and_thinning():
    slots = past_slots("0 */5 * * * *", at("2026-11-24T10:00:00Z"), at("2026-11-24T11:00:00Z"))
    assert slots[0] == at("2026-11-24T10:00:00Z") and slots[-1] == at("2026-11-24T11:00:00Z") and len(slots) == 13
    assert past_slots("0 */5 * * * *", at("2026-11-24T10:00:01Z"), at("2026-11-24T10:10:00Z")) == [
        at("2026-11-24T10:05:00Z"), at("2026-11-24T10:10:00Z")]
    thinned = thin(slots, timedelta(minutes=15))
    assert thinned == [at("2026-11-24T10:00:00Z") + timedelta(minutes=15 * i) for i in range(5)]
    assert thin(slots[1:], timedelta(minutes=15))[-1] == slots[-1]  # the newest slot is always kept


class ListStore:
    """A store that keeps rows in memory; with `many`, it also takes transactions."""

    def __init__(self, many: bool) -> None:
        self.rows: list[Snapshot] = []
        self.batches: list[list[Snapshot]] = []
        self._lock = threading.Lock()
        if many:
            self.write_many = self._write_many

    def ensure_table(self) -> None:
        pass

    def write(self, snapshot: Snapshot) -> None:
        with self._lock:
            self.rows.append(snapshot)

    def _write_many(self, snapshots: list[Snapshot]) -> None:
        with self._lock:
            self.batches.append(list(snapshots))
            self.rows.extend(snapshots)


class ClockedService:
    """Answers from a clock the backfill moves; records which instant each check saw."""

    def __init__(self) -> None:
        self.now: datetime | None = None
        self.seen: list[tuple[str, datetime]] = []
        self._lock = threading.Lock()

    def check(self, check, *, deadline=None, live=False):
        assert live and self.now is not None  # the backfill moves the clock before it checks
        with self._lock:
            self.seen.append((check.workstream_id, self.now))
        return Availability(Q_OPEN, self.now.hour >= 8, True, 1, 1, 30, None, None, None, self.now)


@pytest.mark.parametrize("many", [False, True])
def test_backfill_runs_each_slot_at_its_time_and_writes_every_row(many):
    slots = past_slots("0 */5 * * * *", at("2026-11-23T20:00:00Z"), at("2026-11-24T09:00:00Z"))
    service, store = ClockedService(), ListStore(many)
    lines: list[str] = []

    def move(slot):
        service.now = slot

    summary = backfill(slots, targets=[CHAT, BUSY_LINE], service=service, store=store, move_clock=move,
                       progress=lines.append)
    assert (summary.slots, summary.rows, summary.failed) == (len(slots), 2 * len(slots), 0)
    assert sorted((r.workstream_id, r.captured_at) for r in store.rows) == sorted(
        (w, s) for s in slots for w in (CHAT, BUSY_LINE))
    assert all(seen == slot for (_, seen), slot in zip(sorted(service.seen, key=lambda s: s[1]),
                                                        sorted(slots * 2)))
    assert {r.status for r in store.rows if r.captured_at.hour < 8} == {"closed"}
    assert len(lines) == 2 and lines[-1].split()[:2] == ["Tue", "2026-11-24"] and "100%" in lines[-1]
    if many:
        assert all(len(b) <= 100 and len({r.workstream_id for r in b}) == 1 for b in store.batches)
        assert max(len(b) for b in store.batches) == 100


def test_backfill_rows_go_to_its_batching_writer_without_a_second_pool(monkeypatch):
    from devtools import backfill as module

    queued_from: list[str] = []
    write = module._WriteBehind.write

    def recording(self, row):
        queued_from.append(threading.current_thread().name)
        return write(self, row)

    monkeypatch.setattr(module._WriteBehind, "write", recording)
    service, store = ClockedService(), ListStore(True)
    slots = past_slots("0 */5 * * * *", at("2026-11-24T08:00:00Z"), at("2026-11-24T09:00:00Z"))
    summary = backfill(slots, targets=[CHAT, BUSY_LINE, OFFICE], service=service, store=store,
                       move_clock=lambda slot: setattr(service, "now", slot))
    assert summary.rows == len(store.rows) == 3 * len(slots)
    # `run_snapshot` hands each row over as its check ends: no pool of its own on top of the backfill's writers.
    assert set(queued_from) == {threading.current_thread().name}


def test_backfill_stops_when_the_table_refuses_rows():
    class Refusing(ListStore):
        def write(self, snapshot):
            raise StorageUnavailable()

    service = ClockedService()
    slots = past_slots("0 */5 * * * *", at("2026-11-24T08:00:00Z"), at("2026-11-24T12:00:00Z"))
    with pytest.raises(StorageUnavailable):
        backfill(slots, targets=[CHAT], service=service, store=Refusing(False),
                 move_clock=lambda slot: setattr(service, "now", slot))
    assert len(service.seen) < len(slots)


# ---------------------------------------------------------------------------- the sandbox and Azurite


@pytest.fixture
def store(stack):
    opened = SnapshotStore.from_connection_string(stack.storage_connection, f"Backfill{uuid.uuid4().hex[:16]}")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def org(stack):
    """An AvailabilityService built like the app's, pointed at the sandbox org."""
    with sandbox_org(stack, cache_seconds=0) as (service, _):
        yield service


def test_backfill_sees_the_sandbox_at_each_slot_and_resets_its_clock(stack, org, store, clean_sandbox):
    # Office chat keeps Paris office hours on weekdays: closed at 04:00 UTC, open at 10:00 UTC on a Monday.
    slots = [at("2026-11-23T04:00:00Z"), at("2026-11-23T10:00:00Z"), at("2026-11-28T10:00:00Z")]  # Mon, Mon, Sat
    try:
        summary = backfill(slots, targets=[OFFICE, CHAT], service=org, store=store,
                           move_clock=lambda slot: clean_sandbox.set_clock(format_time(slot), frozen=True))
    finally:
        clean_sandbox.reset_clock()
    assert (summary.rows, summary.failed) == (6, 0)
    rows = {(r.workstream_id, r.captured_at): r for r in store.history(
        HistoryQuery(start=at("2026-11-23T00:00:00Z"), end=at("2026-11-29T00:00:00Z")))}
    assert [rows[(OFFICE, slot)].status for slot in slots] == ["closed", "available", "closed"]
    assert {rows[(CHAT, slot)].status for slot in slots} == {"available"}
    assert clean_sandbox.stats()["actions"][BEFORE] == 6
    state = clean_sandbox.clock()
    assert state["frozen"] is False and abs(state["offsetSeconds"]) < 1


def test_stack_backfills_the_sandbox_where_the_app_writes_and_only_there(stack, clean_sandbox):
    table = f"Backfill{uuid.uuid4().hex[:16]}"
    # 6 hours: every 5-minute slot of the last hour, half-hourly before that
    stack.backfill_history(0.25, extra_settings={"SNAPSHOT_TABLE": table}, step_minutes=30, every_slot_hours=1)
    store = SnapshotStore.from_connection_string(stack.storage_connection, table)
    try:
        now = datetime.now(UTC)
        rows = store.history(HistoryQuery(start=now - timedelta(hours=7), end=now, limit=5000))
    finally:
        store.close()
    assert {r.workstream_id for r in rows} == {CHAT, BUSY_LINE, OFFICE}  # the org's active workstreams (auto)
    slots = sorted({r.captured_at for r in rows})
    gaps = [later - earlier for earlier, later in zip(slots, slots[1:])]
    assert gaps == [timedelta(minutes=30)] * 9 + [timedelta(minutes=5)] * 12
    assert len(rows) == 3 * 22 and not [r for r in rows if r.error]
    assert now - slots[-1] < timedelta(minutes=5)  # up to the current slot of SNAPSHOT_SCHEDULE
    assert clean_sandbox.stats()["actions"][BEFORE] == 66
    state = clean_sandbox.clock()
    assert state["frozen"] is False and abs(state["offsetSeconds"]) < 1

    clean_sandbox.reset()  # storage that is not this stack's Azurite never gets demo rows
    stack.backfill_history(0.25, extra_settings={"AzureWebJobsStorage": "UseDevelopmentStorage=true"})
    assert clean_sandbox.stats()["actions"][BEFORE] == 0
