"""Past snapshots on demand: the timer's run (`run_snapshot`) once per schedule slot, the org's clock moved there first.

Only an org whose clock can be moved can answer for the past, so this is for the sandbox (its
`POST /_sandbox/clock`): `python3 dev.py start` gives the demo a week of history, and the dashboard's browser
test uses the same path. A real org has no such clock; nothing in the deployed app calls this module.

- Slots run one after another, oldest first: the org's clock is one for all callers. Within a slot the
  workstreams are checked in parallel (`run_snapshot`'s own fan-out).
- Rows are written behind: `run_snapshot` hands each row (at once, `write_behind=False`) to a writer that
  sends each workstream's rows 100 at a time (`SnapshotStore.write_many`, one transaction) from a pool of its
  own, so a slot's table writes overlap the next slots' checks. A write that fails stops the backfill.
- Each row is a live check (no cache) under its slot's identity, exactly what the timer writes then.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from availability.answer import format_time
from availability.errors import AvailabilityError, StorageUnavailable
from availability.localtime import utc as _utc

if TYPE_CHECKING:
    from availability.snapshots import Snapshot
    from availability.snapshots.runner import LiveChecks, RowWriter

__all__ = ["BackfillSummary", "backfill", "backfill_sandbox", "past_slots", "thin"]

WRITERS = 8  # table writes at once
BATCH = 100  # rows of one workstream per transaction, the Table service's maximum

_Item = TypeVar("_Item")


def past_slots(schedule: str, start: datetime, end: datetime) -> list[datetime]:
    """Every occurrence of the NCRONTAB `schedule` in [start, end], oldest first."""
    from croniter import croniter

    from availability.snapshots import schedule_slot

    start, end = _utc(start), _utc(end)
    first = schedule_slot(schedule, start)
    slots = [first] if first >= start else []  # `start` itself when it is an occurrence
    iterator = croniter(schedule, first, second_at_beginning=True)
    while True:
        slot = _utc(iterator.get_next(datetime))
        if slot > end:
            return slots
        slots.append(slot)


def thin(slots: Sequence[datetime], step: timedelta) -> list[datetime]:
    """The slots at least `step` apart, kept from the newest backwards (so the newest is always kept)."""
    kept: list[datetime] = []
    for slot in sorted(slots, reverse=True):
        if not kept or kept[-1] - slot >= step:
            kept.append(slot)
    return kept[::-1]


@dataclass(frozen=True)
class BackfillSummary:
    """What a backfill did."""

    slots: int
    rows: int
    failed: int  # rows carrying an error code
    duration_seconds: float
    errors: Mapping[str, int] = field(default_factory=dict)

    def line(self) -> str:
        errors = "".join(f" {code}={count}" for code, count in sorted(self.errors.items()))
        return (f"{self.rows:,} snapshots over {self.slots:,} slots in {self.duration_seconds:.1f} s"
                f"{f' ({self.failed} failed:{errors})' if self.failed else ''}")


class _WriteBehind:
    """Looks like a `SnapshotStore` to `run_snapshot`; `write` only queues the row for a pool of writers.

    With a store that has `write_many` (rows of one workstream, one transaction), rows are sent 100 at a time.
    """

    def __init__(self, store: RowWriter, writers: int) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="backfill-write")
        self._pending: list[Future[object]] = []
        self._lock = threading.Lock()
        self._many: Callable[[list[Snapshot]], object] | None = getattr(store, "write_many", None)
        self._batches: dict[str, list[Snapshot]] = defaultdict(list)
        self.failure: BaseException | None = None

    def ensure_table(self) -> None:
        self._store.ensure_table()

    def write(self, row: Snapshot) -> None:
        if self.failure is not None:
            raise self.failure
        if self._many is None:
            self._submit(self._store.write, row)
            return
        with self._lock:
            batch = self._batches[row.workstream_id]
            batch.append(row)
            full = len(batch) >= BATCH
            if full:
                self._batches[row.workstream_id] = []
        if full:
            self._submit(self._many, batch)

    def _submit(self, call: Callable[[_Item], object], item: _Item) -> None:
        future = self._pool.submit(call, item)
        future.add_done_callback(self._note)
        with self._lock:
            self._pending.append(future)

    def _note(self, future: Future[object]) -> None:
        if future.exception() is not None and self.failure is None:
            self.failure = future.exception()

    def settle(self) -> None:
        """Send what is left, wait for every queued write; raise the first failure."""
        with self._lock:
            batches, self._batches = [b for b in self._batches.values() if b], defaultdict(list)
        if self._many is not None:  # without it, rows are sent one by one and no batch is ever kept
            for batch in batches:
                self._submit(self._many, batch)
        with self._lock:
            pending, self._pending = self._pending, []
        for future in pending:
            future.exception()
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def backfill(
    slots: Sequence[datetime],
    *,
    targets: Sequence[str],
    service: LiveChecks,
    store: RowWriter,
    move_clock: Callable[[datetime], None],
    progress: Callable[[str], None] | None = None,
    writers: int = WRITERS,
) -> BackfillSummary:
    """`run_snapshot(slot, ...)` for each slot, oldest first, after `move_clock(slot)`; one progress line per UTC day.

    :param slots: schedule slots (see `past_slots`).
    :param targets: workstream ids.
    :param service: an `AvailabilityService`; rows are live checks whatever its cache.
    :param store: the `SnapshotStore` the rows go to.
    :param move_clock: sets the org's clock to the slot before its checks.
    :raises AvailabilityError: when the store cannot take the rows (the rows written so far stay).
    """
    from availability.snapshots import run_snapshot

    started = time.monotonic()
    ordered = sorted(_utc(slot) for slot in slots)
    days = Counter(slot.date() for slot in ordered)
    writer = _WriteBehind(store, writers)
    errors: Counter[str] = Counter()
    rows = 0
    try:
        for index, slot in enumerate(ordered):
            move_clock(slot)
            summary = run_snapshot(slot, targets=targets, service=service, store=writer, write_behind=False)
            if writer.failure is not None or summary.unwritten:
                writer.settle()
                raise StorageUnavailable(message="Table storage did not take the backfilled rows.")
            rows += summary.targets
            errors.update(summary.errors)
            last_of_day = index + 1 == len(ordered) or ordered[index + 1].date() != slot.date()
            if progress and last_of_day:
                done = index + 1
                progress(f"  {slot:%a %Y-%m-%d} UTC  {days[slot.date()]:>4} slots  "
                         f"{100 * done // len(ordered):>3}%  ({time.monotonic() - started:.1f} s)")
        writer.settle()
    finally:
        writer.close()
    return BackfillSummary(slots=len(ordered), rows=rows, failed=sum(errors.values()),
                           duration_seconds=round(time.monotonic() - started, 3), errors=dict(errors))


def backfill_sandbox(
    app_settings: Mapping[str, str],
    *,
    sandbox_url: str,
    ca_bundle: str,
    days: float = 7,
    step_minutes: float = 0,
    every_slot_hours: float = 0,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> BackfillSummary:
    """The last `days` of snapshots for the sandbox org the settings point at, written where the timer writes.

    Every slot of `SNAPSHOT_SCHEDULE`, or only slots at least `step_minutes` apart (fewer rows, as fast as
    the table takes them) except in the last `every_slot_hours`, where every slot is. The app's own pieces, built
    from `app_settings` as the host would (cache off): `DataverseClient`, the
    target workstreams (`SNAPSHOT_WORKSTREAMS`), the `SnapshotStore` (`AzureWebJobsStorage`, `SNAPSHOT_TABLE`).
    The sandbox clock is reset afterwards, whatever happens.
    """
    from availability.service import AvailabilityService
    from availability.snapshots import WorkstreamTargets, schedule_slot

    from .sandbox_client import SandboxControl, sandbox_app

    # Without the calls budget and cap: a week of history is thousands of checks of the sandbox within a minute or
    # two, which the defaults, there to spare a real org, would spread over an hour.
    app = sandbox_app({**app_settings, "AVAILABILITY_MAX_CALLS_PER_MINUTE": "0",
                       "AVAILABILITY_MAX_CONCURRENT_CALLS": "0"})
    settings = app.settings
    end = schedule_slot(settings.snapshot_schedule, now or datetime.now(UTC))
    slots = past_slots(settings.snapshot_schedule, end - timedelta(days=days) + timedelta(seconds=1), end)
    if step_minutes:
        recent = end - timedelta(hours=every_slot_hours)
        slots = thin([slot for slot in slots if slot <= recent], timedelta(minutes=step_minutes)) + [
            slot for slot in slots if slot > recent]
    control = SandboxControl(sandbox_url, ca_bundle)

    def move_clock(moment: datetime) -> None:
        # Frozen at the slot while it is checked, so every check of the slot sees the same time.
        control.set_clock(format_time(moment, milliseconds=True), frozen=True)

    try:
        targets = WorkstreamTargets(settings.snapshot_workstreams, app.workstreams).resolve()
        if progress:
            every = f"every {step_minutes:g} minutes" if step_minutes else "every slot"
            if step_minutes and every_slot_hours:
                every = f"every slot of the last {every_slot_hours:g} hours, then {every}"
            progress(f"Backfilling {days:g} days of snapshots ({every}): {len(slots):,} slots x {len(targets)} "
                     f"workstreams into table {settings.snapshot_table} ...")
        service = AvailabilityService(app.client, cache_seconds=0, stale_seconds=0)
        return backfill(slots, targets=targets, service=service, store=app.snapshot_store, move_clock=move_clock,
                        progress=progress)
    finally:
        try:
            control.reset_clock()
        except Exception as exc:  # the sandbox may be gone already; the backfill's own error matters more
            if progress:
                progress(f"  (could not reset the sandbox clock: {type(exc).__name__})")
        control.close()
        app.close()


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a failed backfill."""
    if isinstance(exc, AvailabilityError):
        return f"{exc.message} ({exc.code})"
    return type(exc).__name__
