"""The snapshot run: every target checked live, one row each under the slot's identity, retention once a day.

Every target is checked live (no cache, no stale answer) by 8 workers at most, so 100 workstreams take ~13
upstream round trips and the org never sees more than 8 calls at once; a 429 makes the shared
`DataverseClient` hold every worker until `Retry-After` passes, with `AVAILABILITY_MAX_CALLS_PER_MINUTE` set the
checks queue for room in that budget (shared with the HTTP functions), and a check that outlives the run's
budget (the time to the next slot) becomes an `upstream_timeout` (or `upstream_throttled`) row. Each worker's
row is written as soon as its check ends by a writer pool beside the checkers, so writes overlap the checks.
`run_snapshot` is also the code path a backfill reuses with its own slots.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .. import telemetry
from ..answer import Availability, format_time
from ..checks import BeforeConversationCheck
from ..errors import AvailabilityError, UpstreamUnavailable
from ..localtime import utc
from .rows import Snapshot
from .slots import is_first_slot_of_day, next_slot, schedule_zone, timer_slot
from .targets import WorkstreamTargets

if TYPE_CHECKING:
    from ..dataverse.clock import OrgClock

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8  # upstream calls at once: far below Dataverse's 52 concurrent, ≥ 5× faster than serial


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveChecks(Protocol):
    """What a run checks the workstreams through: an `AvailabilityService`."""

    def check(self, check: BeforeConversationCheck, *, deadline: float | None = None,
              live: bool = False) -> Availability: ...


class RowWriter(Protocol):
    """Where a run's rows go: a `SnapshotStore`, or a backfill's batching writer."""

    def ensure_table(self) -> None: ...

    def write(self, snapshot: Snapshot) -> None: ...


class RowTable(RowWriter, Protocol):
    """What the timer's runner keeps rows in, and reads back: a `SnapshotStore`."""

    def purge(self, older_than: datetime) -> int: ...

    def recent_workstreams(self, start: datetime, end: datetime, *, deadline: float | None = None) -> list[str]: ...


@dataclass(frozen=True)
class SnapshotSummary:
    """What one run did; `line()` is the log line."""

    slot: datetime
    targets: int
    ok: int
    failed: int
    duration_seconds: float
    errors: Mapping[str, int] = field(default_factory=dict)  # error code → workstreams
    unwritten: int = 0  # rows the store could not take
    past_due: bool = False
    purged: int | None = None  # rows deleted by retention in this run, None when it did not run

    def line(self) -> str:
        errors = "".join(f" {code}={count}" for code, count in sorted(self.errors.items()))
        text = (f"Snapshot slot={format_time(self.slot)} targets={self.targets} ok={self.ok} "
                f"failed={self.failed}{errors} duration={self.duration_seconds:.2f}s")
        if self.unwritten:
            text += f" unwritten={self.unwritten}"
        if self.purged is not None:
            text += f" purged={self.purged}"
        if self.past_due:
            text += " past_due=true"
        return text


def run_snapshot(
    slot: datetime,
    *,
    targets: Iterable[str],
    service: LiveChecks,
    store: RowWriter,
    concurrency: int = DEFAULT_CONCURRENCY,
    deadline: float | None = None,
    write_behind: bool = True,
    failed: AvailabilityError | None = None,
    now: Callable[[], datetime] = _utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> SnapshotSummary:
    """Check every target live and write one row each under `slot`'s identity; a failure becomes an error row.

    :param slot: the schedule slot the rows belong to (see `schedule_slot`); rows already there are replaced.
    :param targets: workstream ids.
    :param service: an `AvailabilityService` (`check(check, deadline=, live=True)`).
    :param store: where the rows go; the table is created first, so a storage outage fails the run before any
        upstream call.
    :keyword concurrency: upstream calls at once (the org's budget: the client also waits out Retry-After).
    :keyword deadline: `monotonic()` time by which every check must be answered.
    :keyword write_behind: write rows from a pool beside the checkers (the store's `write` is a network call);
        False when the store only queues the row (a backfill's batching writer), so it is handed over at once.
    :keyword failed: record this error for every target without checking (target discovery failed).
    :raises AvailabilityError: when the store cannot be reached at all.
    """
    started = monotonic()
    slot = utc(slot).replace(microsecond=0)
    ids = list(dict.fromkeys(t.lower() for t in targets))
    store.ensure_table()

    def check(workstream_id: str) -> Snapshot:
        if failed is not None:
            return Snapshot.failed(workstream_id, slot, failed.code, now())
        try:
            answer = service.check(BeforeConversationCheck(workstream_id=workstream_id), deadline=deadline, live=True)
            return Snapshot.of(workstream_id, slot, answer)
        except AvailabilityError as exc:
            code = exc.code
        except Exception:  # a bug must not cost the other workstreams their rows
            log.exception("Snapshot of workstream %s failed unexpectedly", workstream_id)
            code = "internal_error"
        log.warning("Snapshot of workstream %s at %s: %s", workstream_id, format_time(slot), code)
        return Snapshot.failed(workstream_id, slot, code, now())

    def write(row: Snapshot) -> bool:
        try:
            store.write(row)
            return True
        except Exception as exc:
            reason = exc.message if isinstance(exc, AvailabilityError) else type(exc).__name__
            log.error("Snapshot row of workstream %s at %s not written: %s", row.workstream_id,
                      format_time(slot), reason)
            return False

    errors: Counter[str] = Counter()
    unwritten = 0
    if ids:
        workers = max(1, min(concurrency, len(ids)))
        with ExitStack() as pools:
            checkers = pools.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="snapshot-check"))
            # Rows are written by a pool of their own, so a check worker goes on to its next workstream at once.
            submit = pools.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="snapshot-write")).submit \
                if write_behind else _at_once
            checks = [checkers.submit(check, workstream_id) for workstream_id in ids]
            writes = []
            for done in as_completed(checks):
                row = done.result()
                if row.error:
                    errors[row.error] += 1
                writes.append(submit(write, row))
            unwritten = sum(1 for written in writes if not written.result())
    failures = sum(errors.values())
    telemetry.count_snapshot_rows("ok", len(ids) - failures)
    telemetry.count_snapshot_rows("error", failures)
    return SnapshotSummary(slot=slot, targets=len(ids), ok=len(ids) - failures, failed=failures,
                           duration_seconds=round(monotonic() - started, 3), errors=dict(errors),
                           unwritten=unwritten)


def _at_once(call: Callable[..., bool], *args: Any) -> Future[bool]:
    """`call(*args)` in this thread, as a finished future."""
    future: Future[bool] = Future()
    future.set_result(call(*args))
    return future


class SnapshotRunner:
    """What the timer does: the slot from the clock, the targets, the run, retention once a day, one log line.

    :keyword time_zone: the zone the schedule is evaluated in (see `schedule_zone`): the app setting
        `WEBSITE_TIME_ZONE`, as the Functions host reads it; UTC when None.
    :keyword org_clock: the org's clock, read anew at the start of each run: a slot is the org's time, as the
        hours its rows record are (None: `now`, for a runner given its clock).
    """

    MIN_BUDGET = 20.0  # seconds the checks get even when the schedule is tighter
    MARGIN = 15.0  # seconds kept before the next slot for writing and logging

    def __init__(self, *, schedule: str, targets: WorkstreamTargets, service: LiveChecks, store: RowTable,
                 retention_days: int, concurrency: int = DEFAULT_CONCURRENCY, time_zone: str | None = None,
                 org_clock: OrgClock | None = None, now: Callable[[], datetime] = _utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.schedule = schedule
        self.targets = targets
        self.service = service
        self.store = store
        self.retention_days = retention_days
        self.concurrency = concurrency
        self.zone = schedule_zone(time_zone)
        self._org_clock = org_clock
        self._now = org_clock.now if org_clock is not None else now
        self._monotonic = monotonic

    def run(self, *, past_due: bool = False) -> SnapshotSummary:
        """One run for the current slot; raises when storage or discovery fail (the invocation then fails)."""
        if self._org_clock is not None:
            self._org_clock.refresh(0.0)
        started = self._now()
        slot = timer_slot(self.schedule, started, self.zone)
        if past_due:
            log.warning("Snapshot run for slot %s is past due (started %s)", format_time(slot), format_time(started))
        budget = max(self.MIN_BUDGET,
                     (next_slot(self.schedule, slot, self.zone) - started).total_seconds() - self.MARGIN)
        deadline = self._monotonic() + budget
        failed: AvailabilityError | None = None
        try:
            targets = self.targets.resolve(queue_until=deadline)
        except AvailabilityError as exc:
            # No list of workstreams today (the org throttles or is down at the first run): the slot still gets
            # a row, with the error, for each workstream the history knows from the day before.
            failed, targets = exc, self._known_targets(slot, deadline)
            if not targets:
                raise
            log.warning("Workstream discovery failed (%s); recording it for the %d workstreams of the last day",
                        exc.code, len(targets))
        summary = run_snapshot(slot, targets=targets, service=self.service, store=self.store,
                               concurrency=self.concurrency, deadline=deadline, failed=failed, now=self._now,
                               monotonic=self._monotonic)
        purged = None
        if is_first_slot_of_day(self.schedule, slot, self.zone):
            try:
                purged = self.store.purge(slot - timedelta(days=self.retention_days))
            except AvailabilityError as exc:
                log.error("Snapshot retention failed: %s", exc.message)
        summary = replace(summary, past_due=past_due, purged=purged)
        log.info(summary.line())
        if summary.unwritten:
            raise UpstreamUnavailable(message=f"{summary.unwritten} of {summary.targets} snapshot rows could not be "
                                              f"written to table storage.")
        return summary

    def _known_targets(self, slot: datetime, deadline: float) -> list[str]:
        """The workstreams with a row in the day before `slot`; none when the store cannot say."""
        try:
            return self.store.recent_workstreams(slot - timedelta(days=1), slot, deadline=deadline)
        except AvailabilityError as exc:
            log.warning("The snapshot history could not name the workstreams either (%s)", exc.code)
            return []
