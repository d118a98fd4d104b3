"""The availability service: cache, single flight, stale fallback and batch fan-out over DataverseClient.

- An answer is served from cache for `cache_seconds`, never past its `nextTransitionTime`.
- Identical concurrent requests (same cache key) share one upstream call.
- While upstream is down, throttling or slow, an answer up to `stale_seconds` old is served marked `stale`.
- `live=True` (the snapshot timer) bypasses all three: always a fresh upstream answer, or the error.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Sequence

from .errors import AvailabilityError, InternalError, UpstreamThrottled, UpstreamTimeout, UpstreamUnavailable
from .answer import Availability
from .checks import Check

if TYPE_CHECKING:
    from .dataverse import DataverseClient

log = logging.getLogger(__name__)

# Errors that mean "the org cannot answer right now": a remembered answer is better than none.
STALE_ON = (UpstreamUnavailable, UpstreamTimeout, UpstreamThrottled)
MAX_ENTRIES = 10_000


def _digest(key: tuple) -> bytes:
    """A fixed-size cache key: callers' context values (up to 64 KiB a request) are not kept in memory."""
    return hashlib.blake2b(repr(key).encode(), digest_size=20).digest()


@dataclass
class _Entry:
    answer: Availability
    fresh_until: float  # monotonic
    stale_until: float  # monotonic


class AvailabilityService:
    """Answers availability checks, sparing the org's rate budget.

    :param client: the org's `DataverseClient`.
    :keyword cache_seconds: how long an answer is served from cache (0 = never).
    :keyword stale_seconds: how old an answer may be when served as stale while upstream fails.
    :keyword batch_concurrency: upstream calls one batch makes at once; each batch has its own, so a slow
        batch never holds another caller's checks back.
    """

    def __init__(
        self,
        client: DataverseClient,
        *,
        cache_seconds: float = 15.0,
        stale_seconds: float = 300.0,
        batch_concurrency: int = 8,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._client = client
        self.cache_seconds = cache_seconds
        self.stale_seconds = stale_seconds
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._in_flight: dict[bytes, Future] = {}
        self.batch_concurrency = batch_concurrency

    def check(self, check: Check, *, deadline: float | None = None, live: bool = False) -> Availability:
        """One answer for `check`: from cache, from upstream (shared with identical concurrent calls), or stale."""
        if live:
            # The timer's check may queue for the calls budget until its run's deadline (the next slot).
            return self._client.get_availability(check, deadline=deadline, queue_until=deadline)
        key = _digest(check.cache_key())
        with self._lock:
            hit = self._fresh(key)
            if hit is not None:
                return hit
            future = self._in_flight.get(key)
            leader = future is None
            if leader:
                future = self._in_flight[key] = Future()
        if leader:
            self._fetch(key, check, deadline, future)
        try:
            if leader or deadline is None:
                return future.result()
            # A follower waits for the shared call only as long as its own budget lasts.
            try:
                return future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                raise UpstreamTimeout(message="Dynamics 365 did not answer within the time budget.") from None
        except STALE_ON:
            stale = self._stale(key)
            if stale is None:
                raise
            return stale

    def check_many(self, checks: Sequence[Check], *, deadline: float | None = None
                   ) -> list[Availability | AvailabilityError]:
        """Answers for several checks, in order; one failing check never fails the others.

        Cached answers are taken at once, in this thread; the rest go to the org at most `batch_concurrency`
        at a time on this batch's own workers.
        """
        results: list[Availability | AvailabilityError | None] = []
        with self._lock:
            for check in checks:
                results.append(self._fresh(_digest(check.cache_key())))
        missing = [index for index, answer in enumerate(results) if answer is None]
        if missing:
            with ThreadPoolExecutor(min(self.batch_concurrency, len(missing)), thread_name_prefix="batch") as pool:
                futures = {index: pool.submit(self.check, checks[index], deadline=deadline) for index in missing}
                for index, future in futures.items():
                    try:
                        results[index] = future.result()
                    except AvailabilityError as exc:
                        results[index] = exc
                    except Exception:  # a bug in one check must not cost the others their answers
                        log.exception("A batch check failed unexpectedly")
                        results[index] = InternalError(message="This check could not be completed.")
        return results  # type: ignore[return-value]  # every None was replaced above

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    # -- internals --
    def _fresh(self, key: bytes) -> Availability | None:
        """The cached answer for `key` while it is fresh (call with the lock held)."""
        entry = self._entries.get(key)
        if entry is not None and self._monotonic() < entry.fresh_until:
            return replace(entry.answer, source="cache")
        return None

    def _fetch(self, key: bytes, check: Check, deadline: float | None, future: Future) -> None:
        try:
            answer = self._client.get_availability(check, deadline=deadline)
        except BaseException as exc:
            with self._lock:
                del self._in_flight[key]
            future.set_exception(exc)
            return
        self._remember(key, answer)
        with self._lock:
            del self._in_flight[key]
        future.set_result(answer)

    def _remember(self, key: bytes, answer: Availability) -> None:
        now = self._monotonic()
        fresh_for, stale_for = self.cache_seconds, self.stale_seconds
        until_transition = answer.seconds_until_transition()
        if until_transition is not None:
            # The answer is known to be wrong after the transition: serve it neither fresh nor stale then.
            fresh_for, stale_for = min(fresh_for, until_transition), min(stale_for, until_transition)
        if fresh_for <= 0 and stale_for <= 0:
            return
        entry = _Entry(answer, now + max(0.0, fresh_for), now + max(0.0, stale_for))
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def _stale(self, key: bytes) -> Availability | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self._monotonic() >= entry.stale_until:
            return None
        return replace(entry.answer, source="stale")
