"""`WorkstreamDirectory`: the org's active workstreams, the one list that `GET /api/workstreams`, the snapshot
timer's `auto` targets and the dashboard's names all read.

One query of `msdyn_liveworkstreams` per freshness window (`WORKSTREAMS_CACHE_SECONDS`): callers in this process
share the query under way, and with shared state every instance shares the list through one row of the state table
(`SharedList`). While the org fails (5xx, unreachable, throttling, too slow) the last list is served as `stale` for
`AVAILABILITY_STALE_SECONDS` past its freshness; other errors (credentials refused, a setting missing) are raised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UpstreamThrottled, UpstreamTimeout, UpstreamUnavailable
from .records import Kept, Workstream, from_records
from .shared import MAX_LEASE_SECONDS, SharedList

log = logging.getLogger(__name__)

# Errors that mean "the org cannot answer right now": the last list is better than none.
STALE_ON = (UpstreamUnavailable, UpstreamTimeout, UpstreamThrottled)

RETRY_AFTER_FAILURE = 30.0  # seconds a stale list is served before the org is asked again

Source = Literal["live", "cache", "stale"]
Query = Callable[..., list[dict[str, Any]]]


@dataclass(frozen=True)
class Listing:
    """The org's active workstreams, sorted by name, and how they were had: `live` (asked of the org for this
    call), `cache` (this instance's or another's list, still fresh) or `stale` (the org failed)."""

    workstreams: tuple[Workstream, ...]
    source: Source

    def to_json(self, channel: str | None = None) -> dict[str, Any]:
        """The answer of `GET /api/workstreams`, only the workstreams of `channel` when one is given."""
        return {"workstreams": [w.to_json() for w in self.workstreams if channel in (None, w.channel)],
                "source": self.source}


class WorkstreamDirectory:
    """The org's active workstreams, asked of the org once per `ttl` seconds.

    :param query: the org's query, called as `query(deadline=..., queue_until=...)` (a `DataverseClient`'s
        `list_workstreams`, looked up when called: an org not configured fails the call, not the build).
    :keyword ttl: seconds a list stays fresh.
    :keyword stale_seconds: seconds past its freshness a list may stand in while the org fails.
    :keyword shared: the list's row in the state table, shared with every instance (None: this instance's own).
    """

    def __init__(self, query: Query, *, ttl: float, stale_seconds: float, shared: SharedList | None = None,
                 wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._query = query
        self.ttl = ttl
        self.stale_seconds = stale_seconds
        self.shared = shared
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._kept: Kept | None = None
        self._refreshing: Future[Listing] | None = None
        self._retry_at = 0.0  # after a failed query, the org is asked again from then on (wall time)
        self.queries = 0  # the org queries this instance made (for tests and telemetry)

    def listing(self, *, deadline: float | None = None, queue_until: float | None = None) -> Listing:
        """The list, fresh when this instance (or, shared, any instance) had it within `ttl`; else asked anew.

        :keyword deadline: monotonic time by which the caller must have an answer.
        :keyword queue_until: monotonic time until which the query may wait out the org's Retry-After (a timer run).
        """
        with self._lock:
            kept = self._kept
            now = self._wall()
            if kept is not None and now < kept.fresh_until:
                return Listing(kept.workstreams, "cache")
            if kept is not None and now < min(self._retry_at, kept.stale_until):
                return Listing(kept.workstreams, "stale")  # the org failed a moment ago: not asked again yet
            future = self._refreshing
            leader = future is None
            if future is None:
                future = self._refreshing = Future()
        if leader:
            try:
                future.set_result(self._refresh(deadline, queue_until))
            except BaseException as exc:
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._refreshing = None
            return future.result()
        wait = None
        if deadline is not None or queue_until is not None:
            wait = max(0.0, max(deadline or 0.0, queue_until or 0.0) - self._monotonic())
        try:
            found = future.result(timeout=wait)
        except FutureTimeout:
            return self._stale_or(UpstreamTimeout(message="Dynamics 365 did not list the workstreams in time."))
        return Listing(found.workstreams, "cache") if found.source == "live" else found

    def workstreams(self, **when: Any) -> tuple[Workstream, ...]:
        """`listing(**when).workstreams`."""
        return self.listing(**when).workstreams

    # -- a refresh (one at a time in this process) --
    def _refresh(self, deadline: float | None, queue_until: float | None) -> Listing:
        end = deadline if deadline is not None else queue_until or self._monotonic() + MAX_LEASE_SECONDS
        lease = None
        if self.shared is not None:
            claim = self.shared.claim(end)
            if claim is not None:
                if claim.seen is not None:
                    self._keep(claim.seen)
                if claim.fresh is not None:
                    return Listing(claim.fresh.workstreams, "cache")
                if claim.late:
                    return self._stale_or(UpstreamTimeout(
                        message="Dynamics 365 did not list the workstreams in time."))
                lease = claim.lease
        try:
            self.queries += 1
            records = self._query(deadline=deadline, queue_until=queue_until)
        except STALE_ON as exc:
            if lease is not None and self.shared is not None:
                self.shared.release(lease)
            self._retry_at = self._wall() + max(RETRY_AFTER_FAILURE, float(exc.retry_after or 0))
            return self._stale_or(exc)
        except BaseException:
            if lease is not None and self.shared is not None:
                self.shared.release(lease)
            raise
        now = self._wall()
        kept = Kept(from_records(records), now, now + self.ttl, now + self.ttl + self.stale_seconds)
        self._keep(kept)
        if self.shared is not None:
            self.shared.publish(kept, lease)
        return Listing(kept.workstreams, "live")

    def _keep(self, kept: Kept) -> None:
        """Keep `kept` unless this instance holds a newer list."""
        with self._lock:
            if self._kept is None or kept.had_at >= self._kept.had_at:
                self._kept = kept

    def _stale_or(self, error: Exception) -> Listing:
        """The last list while it may stand in for a fresh one, else `error` raised."""
        with self._lock:
            kept = self._kept
        if kept is None or self._wall() >= kept.stale_until:
            raise error
        log.warning("Listing the org's workstreams failed (%s); serving the %d found %.0f s ago",
                    getattr(error, "code", type(error).__name__), len(kept.workstreams), self._wall() - kept.had_at)
        return Listing(kept.workstreams, "stale")
