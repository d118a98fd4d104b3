"""Everything the page shows, gathered within the request's time: the workstreams and their names, each one's
snapshot history (one range query per workstream, in parallel) and its state now (a live check through the
service, cache allowed; the latest snapshot and its age when the org cannot answer).

Every wait is bounded by the request's deadline, less the time kept for drawing the page: a slow org or table
makes parts of the page say what is missing, never the page late.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_for
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, overload

from ..answer import Availability
from ..checks import BeforeConversationCheck
from ..errors import AvailabilityError, UpstreamTimeout
from ..localtime import utc
from ..snapshots import HistoryQuery, Profile, Snapshot
from ..snapshots.profile import STATUSES
from .aggregate import TIMELINE_WINDOW
from .directory import OrgDirectory
from .query import DashboardQuery

if TYPE_CHECKING:
    from ..besttimes.cache import ProfileCache
    from ..service import AvailabilityService

log = logging.getLogger(__name__)

LIVE_BUDGET = 8.0  # seconds the live checks get before the page falls back to the latest snapshots
NAMES_WAIT = 3.0  # seconds the page waits for the org's workstream and queue names before it goes on without
RENDER_RESERVE = 3.0  # seconds of the request's budget kept for drawing the page (50 workstreams × 31 days: ~1.6 s)


class HistoryReader(Protocol):
    """Where the page reads each workstream's snapshots: a `SnapshotStore`."""

    def history(self, query: HistoryQuery, *, deadline: float | None = None) -> list[Snapshot]: ...


@dataclass(frozen=True)
class Now:
    """What a workstream looks like now: a live (or cached, or stale) answer, else the latest snapshot."""

    status: str | None  # available / busy / closed; None when nothing is known
    queue_id: str | None
    representatives: int | None
    wait_seconds: int | None
    position: int | None
    next_opening: datetime | None
    next_closing: datetime | None
    open_around_the_clock: bool
    retrieved_at: datetime | None  # on the org's clock, like the page's "now" and the snapshots' slots
    source: str  # live / cache / stale / snapshot / none
    problem: str | None = None  # why the live answer is missing

    @classmethod
    def of(cls, answer: Availability) -> Now:
        """The state an answer gives: the next opening only while closed, the next closing only while open."""
        status = answer.status
        if status == "closed":
            opening, closing = answer.next_opening_time or answer.next_transition_time, answer.next_closing_time
        else:
            opening, closing = None, answer.next_closing_time or answer.next_transition_time
        return cls(status, answer.queue_id, answer.available_representatives, answer.average_wait_seconds,
                   answer.position_in_queue, opening, closing, status != "closed" and closing is None,
                   answer.org_retrieved_at, answer.source)

    @classmethod
    def from_snapshot(cls, row: Snapshot, problem: str) -> Now:
        """The latest snapshot standing in for a live answer that is missing for `problem`."""
        return cls(row.status, row.queue_id, row.available_representatives, row.average_wait_seconds,
                   row.position_in_queue, None, None, False, row.captured_at, "snapshot", problem)


@dataclass
class WorkstreamView:
    """One workstream on the page: its name, its state now and its history (or why the history is missing)."""

    id: str
    name: str | None
    now: Now
    history: list[Snapshot]  # snapshots of the last `days`, oldest first
    history_problem: str | None = None
    profile: Profile | None = None  # its history by hour of the week, for the best times
    profile_problem: str | None = None


@dataclass
class Dashboard:
    """What one page shows, as of `generated_at`."""

    query: DashboardQuery
    generated_at: datetime
    workstreams: list[WorkstreamView]
    queues: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)  # every workstream the filter can pick, id → name
    notice: str | None = None  # a page-wide problem (no storage, no org)


def _limit(days: int) -> int:
    # One row a minute at most: bounds a read even with a very tight schedule.
    return min(days * 1440 + 10, 50_000)


def load_dashboard(query: DashboardQuery, *, now: datetime, store: HistoryReader | AvailabilityError,
                   service: AvailabilityService | AvailabilityError, directory: OrgDirectory | None,
                   configured: Sequence[str] | None, deadline: float | None = None,
                   monotonic: Callable[[], float] = time.monotonic,
                   profiles: ProfileCache | AvailabilityError | None = None) -> Dashboard:
    """Everything the page shows: the workstreams, their history (one range query each) and their state now.

    Every step is bounded by the request's `deadline` (less `RENDER_RESERVE` to draw the page), whatever the org
    and storage do: the names are waited for at most `NAMES_WAIT` (then the ids, or the last names known), the
    live checks at most `LIVE_BUDGET` (then the latest snapshot), the history reads until the deadline.

    :param store: a `SnapshotStore`, or an `AvailabilityError` when storage is not usable.
    :param service: an `AvailabilityService`, or an `AvailabilityError` when the org is not configured; its
        normal path answers (cache and single flight included), so the page spares the org's budget.
    :param configured: `SNAPSHOT_WORKSTREAMS`; None = auto (the org's active workstreams).
    :param deadline: `monotonic()` time by which the page must be answered.
    :param profiles: a `ProfileCache` for the best times (read beside the histories, once a slot), an
        `AvailabilityError` when storage is not usable, or None (no best times).
    """
    now = utc(now)
    cutoff = math.inf if deadline is None else deadline - RENDER_RESERVE  # everything must be in by then

    @overload
    def left(limit: float) -> float: ...
    @overload
    def left(limit: None = None) -> float | None: ...
    def left(limit: float | None = None) -> float | None:
        """Seconds to wait: at most `limit`, never past the cutoff (None: no limit at all)."""
        if deadline is None:
            return limit
        return max(0.0, min(limit if limit is not None else math.inf, cutoff - monotonic()))

    names: dict[str, str] = {}
    queues: dict[str, str] = {}
    late = False
    if directory is not None:
        found = directory.lookup(timeout=left(NAMES_WAIT))
        names, queues, late = found.workstreams or {}, found.queues, found.late
    read_until = None if deadline is None else cutoff
    readers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dashboard-read")
    checkers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dashboard-check")
    try:
        if configured is not None:
            ids = list(dict.fromkeys(i.lower() for i in configured))
        else:
            ids = sorted(names)
        if not ids and not isinstance(store, AvailabilityError):
            # The org cannot say which workstreams there are: take those the snapshots of the last day know.
            recent = readers.submit(store.history, HistoryQuery(start=now - TIMELINE_WINDOW, end=now, limit=5000),
                                    deadline=read_until)
            with suppress(AvailabilityError, FutureTimeout):
                ids = sorted({row.workstream_id for row in recent.result(timeout=left())})
        choices = {i: names.get(i) or i for i in ids}
        if query.workstream_id is not None:
            ids = [query.workstream_id]
        ids.sort(key=lambda i: ((names.get(i) or "~").lower(), i))

        def history(reader: HistoryReader, workstream_id: str) -> list[Snapshot]:
            rows = reader.history(HistoryQuery(start=now - timedelta(days=query.days), end=now,
                                              limit=_limit(query.days), workstream_id=workstream_id),
                                 deadline=read_until)
            return rows[::-1]

        histories = [] if isinstance(store, AvailabilityError) else [readers.submit(history, store, i) for i in ids]
        outlooks = [] if profiles is None or isinstance(profiles, AvailabilityError) else [
            readers.submit(profiles.profile, i, deadline=read_until) for i in ids]
        live_deadline = monotonic() + left(LIVE_BUDGET)
        answers: list[Availability | AvailabilityError | None] = []
        if isinstance(service, AvailabilityError):
            answers = [service] * len(ids)
        elif ids:
            checks = [checkers.submit(service.check, BeforeConversationCheck(workstream_id=i), deadline=live_deadline)
                      for i in ids]
            # The client gives up at `live_deadline`; a moment more lets a stale answer or its error come back.
            wait_for(checks, timeout=max(0.0, min(live_deadline + 0.5, cutoff) - monotonic()))
            answers = [_answer(check) for check in checks]
        views = []
        rows: list[Snapshot]
        problem: str | None
        for index, (workstream_id, answer) in enumerate(zip(ids, answers, strict=True)):
            if isinstance(store, AvailabilityError):
                rows, problem = [], store.message
            else:
                rows, problem = _rows(histories[index], left())
            if isinstance(answer, Availability):
                state = Now.of(answer)
            else:
                reason = answer.message if isinstance(answer, AvailabilityError) else "No answer."
                latest = next((row for row in reversed(rows) if row.status in STATUSES), None)
                state = Now.from_snapshot(latest, reason) if latest is not None else Now(
                    None, None, None, None, None, None, None, False, None, "none", reason)
            view = WorkstreamView(workstream_id, names.get(workstream_id), state, rows, problem)
            if isinstance(profiles, AvailabilityError):
                view.profile_problem = profiles.message
            elif outlooks:
                view.profile, view.profile_problem = _profile(outlooks[index], left())
            views.append(view)
    finally:
        # What has not ended by now is not waited for: it ends on its own deadline, the page does not.
        readers.shutdown(wait=False, cancel_futures=True)
        checkers.shutdown(wait=False, cancel_futures=True)
    notice = None
    if isinstance(store, AvailabilityError):
        notice = f"History is not available: {store.message}"
    elif not ids and isinstance(service, AvailabilityError):
        notice = f"The org could not be asked for its workstreams: {service.message}"
    elif not ids and directory is not None and directory.error is not None:
        notice = f"The org could not be asked for its workstreams: {directory.error.message}"
    elif not ids and late:
        notice = "The org did not list its workstreams in time; reload the page in a moment."
    return Dashboard(query, now, views, queues, choices, notice)


def _answer(check: Future[Availability]) -> Availability | AvailabilityError | None:
    """A live check's answer or error; one not back in time is an `UpstreamTimeout`."""
    if not check.done():
        check.cancel()
        return UpstreamTimeout(message="Dynamics 365 did not answer in time.")
    try:
        return check.result()
    except AvailabilityError as exc:
        return exc
    except Exception:  # a bug must not cost the page: the latest snapshot stands in
        log.exception("The dashboard's live check failed unexpectedly")
        return None


def _profile(read: Future[Profile], timeout: float | None) -> tuple[Profile | None, str | None]:
    """A profile read's profile, or the problem that left it out."""
    try:
        return read.result(timeout=timeout), None
    except FutureTimeout:
        read.cancel()
        return None, "Table storage did not return the history in time."
    except AvailabilityError as exc:
        return None, exc.message


def _rows(read: Future[list[Snapshot]], timeout: float | None) -> tuple[list[Snapshot], str | None]:
    """A history read's rows (oldest first) and problem; one not back within `timeout` seconds is a problem."""
    try:
        return read.result(timeout=timeout), None
    except FutureTimeout:
        read.cancel()
        return [], "Table storage did not return the history in time."
    except AvailabilityError as exc:
        return [], exc.message
