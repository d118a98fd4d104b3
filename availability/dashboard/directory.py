"""The org's directory for the dashboard: names of its workstreams (the app's workstream directory: the active
ones) and of its queues, refreshed in the background every ten minutes (upstream refreshes queue configuration
that often)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..checks import is_guid
from ..errors import AvailabilityError

if TYPE_CHECKING:
    from ..workstreams import WorkstreamDirectory

log = logging.getLogger(__name__)

DIRECTORY_TTL = 600.0  # seconds


@dataclass(frozen=True)
class Names:
    """What `OrgDirectory.lookup` knows: active workstreams (None when never discovered) and queues, id → name."""

    workstreams: dict[str, str] | None
    queues: dict[str, str]
    late: bool = False  # a refresh was under way and not waited for to its end


class QueueLister(Protocol):
    """Where the queues' names come from: the org's `DataverseClient`."""

    def list_queues(self) -> list[dict[str, Any]]: ...


class OrgDirectory:
    """Names of the org's workstreams and queues, and which workstreams are active; refreshed every `ttl`.

    :param client: returns the `DataverseClient` (called lazily: an org not configured is not an error here).
    :param workstreams: returns the app's `WorkstreamDirectory`, which the workstreams' names come from.
    A refresh runs on a thread of its own, one at a time, so a caller waits for it only as long as it can
    (`lookup(timeout=)`); one the caller stopped waiting for goes on and serves the next caller. While
    discovery fails the last good lists are kept; before any succeeds, the lists are empty.
    """

    RETRY_AFTER_FAILURE = 30.0  # seconds: a failed refresh is tried again soon rather than after a whole `ttl`

    def __init__(self, client: Callable[[], QueueLister], *, workstreams: Callable[[], WorkstreamDirectory],
                 ttl: float = DIRECTORY_TTL, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._directory = workstreams
        self.ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._workstreams: dict[str, str] | None = None
        self._queues: dict[str, str] = {}
        self._loaded_at = -math.inf
        self._refreshing: Future[None] | None = None
        self.error: AvailabilityError | None = None

    def lookup(self, timeout: float | None = None) -> Names:
        """The lists, refreshed first when due; a refresh is waited for at most `timeout` seconds (None: to its end)."""
        refresh = self._start_refresh()
        late = False
        if refresh is not None:
            try:
                refresh.result(timeout=None if timeout is None else max(0.0, timeout))
            except FutureTimeout:
                late = True
        with self._lock:
            workstreams = None if self._workstreams is None else dict(self._workstreams)
            return Names(workstreams, dict(self._queues), late)

    def workstreams(self, timeout: float | None = None) -> dict[str, str] | None:
        """Active workstreams, id → name; None when they were never discovered."""
        return self.lookup(timeout).workstreams

    def queues(self, timeout: float | None = None) -> dict[str, str]:
        """Queues, id → name (empty when never discovered)."""
        return self.lookup(timeout).queues

    def _start_refresh(self) -> Future[None] | None:
        """The refresh under way, or a new one when the lists are due; None when they are fresh."""
        with self._lock:
            if self._refreshing is None:
                if self._monotonic() - self._loaded_at < self.ttl:
                    return None
                self._refreshing = Future()
                threading.Thread(target=self._refresh, args=(self._refreshing,), name="org-directory",
                                 daemon=True).start()
            return self._refreshing

    def _refresh(self, done: Future[None]) -> None:
        workstreams = queues = None
        error: AvailabilityError | None = None
        stale = False
        try:
            listing = self._directory().listing()
            workstreams, stale = {w.id: w.name for w in listing.workstreams}, listing.source == "stale"
            queues = {str(r.get("queueid", "")).lower(): str(r.get("name") or "")
                      for r in self._client().list_queues()}
        except AvailabilityError as exc:
            error = exc
        except Exception:  # a bug must not leave the page without its fallbacks
            log.exception("Listing the org's workstreams and queues failed unexpectedly")
        with self._lock:
            if workstreams is not None and queues is not None:
                self._workstreams = workstreams
                self._queues = {k: v for k, v in queues.items() if is_guid(k)}
            if workstreams is not None and queues is not None and not stale:
                self._loaded_at = self._monotonic()
            else:  # the org failed (names kept from before, if any): asked again soon
                self._loaded_at = self._monotonic() - self.ttl + self.RETRY_AFTER_FAILURE
            self.error = error
            self._refreshing = None
        done.set_result(None)
