"""The availability service: cache, single flight, stale fallback and batch fan-out over DataverseClient.

- An answer is served from cache for `cache_seconds`, never past its `nextTransitionTime`; one that is still asked
  for near the end of that is refreshed in the background a little before (one refresh at a time per answer), so
  that a hot answer does not expire under its callers.
- Identical concurrent requests (same cache key) share one upstream call; while that call is on its way, callers
  holding the previous answer are served it marked `stale` for a short grace (availability/state/memory.py).
- While upstream is down, throttling or slow, an answer up to `stale_seconds` old is served marked `stale`.
- An answer kept from before the org's clock was set to another time (a sandbox clock moved by days) is not
  served: it was true of another moment; the org is asked again.
- `live=True` (the snapshot timer) bypasses all three: always a fresh upstream answer, or the error.

Where answers and calls in flight are kept is the state backend's business (availability/state): this process
only, or every instance of the app together, in which case a miss may be answered by another instance's fetch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import telemetry
from .answer import Availability
from .checks import Check
from .dataverse.clock import jumped
from .errors import AvailabilityError, InternalError, UpstreamThrottled, UpstreamTimeout, UpstreamUnavailable
from .state import MemoryState, State

if TYPE_CHECKING:
    from .dataverse import DataverseClient
    from .dataverse.clock import OrgClock

log = logging.getLogger(__name__)

# Errors that mean "the org cannot answer right now": a remembered answer is better than none.
STALE_ON = (UpstreamUnavailable, UpstreamTimeout, UpstreamThrottled)
REFRESHERS, MAX_REFRESHING = 4, 64  # background refreshes at once, and waiting at most


def _digest(key: tuple[object, ...]) -> bytes:
    """A fixed-size cache key: callers' context values (up to 64 KiB a request) are not kept in memory."""
    return hashlib.blake2b(repr(key).encode(), digest_size=20).digest()


class AvailabilityService:
    """Answers availability checks, sparing the org's rate budget.

    :param client: the org's `DataverseClient`.
    :keyword cache_seconds: how long an answer is served from cache (0 = never).
    :keyword stale_seconds: how old an answer may be when served as stale while upstream fails.
    :keyword batch_concurrency: upstream calls one batch makes at once; each batch has its own, so a slow
        batch never holds another caller's checks back.
    :keyword state: where answers and calls in flight are kept (default: this process's memory).
    :keyword org_clock: the org's clock as its answers tell it: a kept answer from before it jumped is not served
        (None: no such check).

    `lookups` counts how each non-live check was answered: `hit` (this instance's cache), `shared` (an answer
    another instance fetched), `miss` (the org's answer), `stale`; telemetry reads it as the cache metric. It also
    counts the background refreshes that were done (`refresh`, not a lookup: not sent as one).
    """

    def __init__(
        self,
        client: DataverseClient,
        *,
        cache_seconds: float = 15.0,
        stale_seconds: float = 300.0,
        batch_concurrency: int = 8,
        state: State | None = None,
        org_clock: OrgClock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self.cache_seconds = cache_seconds
        self.stale_seconds = stale_seconds
        self._monotonic = monotonic
        self._now = now
        self._state: State = state if state is not None else MemoryState(monotonic=monotonic)
        self._org_clock = org_clock
        self.batch_concurrency = batch_concurrency
        self.lookups: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._refreshers: ThreadPoolExecutor | None = None
        self._refreshing = 0

    def check(self, check: Check, *, deadline: float | None = None, live: bool = False) -> Availability:
        """One answer for `check`: from cache, from upstream (shared with identical concurrent calls), or stale."""
        if live:
            # The timer's check may queue for the calls budget until its run's deadline (the next slot).
            return self._client.get_availability(check, deadline=deadline, queue_until=deadline)
        key = _digest(check.cache_key())
        hit, future, leader = self._state.begin(key)
        if hit is not None:
            if leader:
                assert future is not None
                self._refresh(key, check, future)
            if self._of_another_time(hit):
                return self._ask_again(key, check, deadline)
            self._count("stale" if hit.source == "stale" else "hit")
            return hit
        assert future is not None
        if leader:
            self._fetch(key, check, deadline, future)
        try:
            if leader or deadline is None:
                answer = future.result()
            else:
                # A follower waits for the shared call only as long as its own budget lasts.
                try:
                    answer = future.result(timeout=max(0.0, deadline - time.monotonic()))
                except FutureTimeout:
                    raise UpstreamTimeout() from None
        except STALE_ON:
            stale = self._state.stale(key)
            if stale is None or self._of_another_time(stale):
                self._count("miss")  # looked up, missed, and the org could not answer either
                raise
            self._count("stale")
            return stale
        if answer.source != "live" and self._of_another_time(answer):  # another instance's, kept from before
            return self._ask_again(key, check, deadline)
        self._count({"cache": "shared", "stale": "stale"}.get(answer.source, "miss"))
        return answer

    def check_many(self, checks: Sequence[Check], *, deadline: float | None = None
                   ) -> list[Availability | AvailabilityError]:
        """Answers for several checks, in order; one failing check never fails the others.

        Cached answers are taken at once, in this thread; the rest go to the org at most `batch_concurrency`
        at a time on this batch's own workers.
        """
        results: list[Availability | AvailabilityError | None] = [
            self._state.fresh(_digest(check.cache_key())) for check in checks]
        results = [None if isinstance(hit, Availability) and self._of_another_time(hit) else hit for hit in results]
        hits = len(results) - results.count(None)
        if hits:
            self._count("hit", hits)
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
        self._state.clear()

    def close(self) -> None:
        """Stop the refreshes' workers (refreshes on their way are left to end by themselves)."""
        with self._count_lock:
            workers, self._refreshers = self._refreshers, None
        if workers is not None:
            workers.shutdown(wait=False, cancel_futures=True)

    # -- internals --
    def _fetch(self, key: bytes, check: Check, deadline: float | None, future: Future[Availability], *,
               refresh: bool = False) -> None:
        try:
            answer, _ = self._state.fetch(key, deadline,
                                          lambda: self._client.get_availability(check, deadline=deadline),
                                          self._lifetime, admit=lambda: self._client.admit(deadline),
                                          refresh=refresh)
        except BaseException as exc:
            self._state.end(key)
            future.set_exception(exc)
            return
        self._state.end(key)
        future.set_result(answer)

    def _refresh(self, key: bytes, check: Check, future: Future[Availability]) -> None:
        """Fetch `check` again in the background while its answer is still served (`future`: its refresh)."""
        with self._count_lock:
            if self._refreshers is None:
                self._refreshers = ThreadPoolExecutor(REFRESHERS, thread_name_prefix="refresh")
            workers = self._refreshers
            busy = self._refreshing >= MAX_REFRESHING
            if not busy:
                self._refreshing += 1
        if busy:  # the org is slow and many answers are due: the next miss asks instead
            self._state.end(key)
            future.set_exception(UpstreamUnavailable(message="Dynamics 365 is slow; the answer is not renewed."))
            return

        def refresh() -> None:
            try:
                self._fetch(key, check, None, future, refresh=True)
                if future.exception() is None:
                    self._count("refresh")
            finally:
                with self._count_lock:
                    self._refreshing -= 1

        try:
            workers.submit(refresh)
        except RuntimeError:  # closed meanwhile
            with self._count_lock:
                self._refreshing -= 1
            self._state.end(key)
            future.set_exception(UpstreamUnavailable(message="The answer is not renewed: the app is stopping."))

    def _of_another_time(self, answer: Availability) -> bool:
        """True when the org's clock jumped since `answer` came: it was true of another moment of the org's."""
        return self._org_clock is not None and jumped(answer.clock_offset.total_seconds(), self._org_clock.offset)

    def _ask_again(self, key: bytes, check: Check, deadline: float | None) -> Availability:
        """The org's answer now, in place of one kept from before its clock jumped (rare: a sandbox clock moved)."""
        answer = self._client.get_availability(check, deadline=deadline)
        self._state.remember(key, answer, *self._lifetime(answer))
        self._count("miss")
        return answer

    def _lifetime(self, answer: Availability) -> tuple[float, float]:
        """How long `answer` may be served fresh, and as stale, from now."""
        fresh_for, stale_for = self.cache_seconds, self.stale_seconds
        until_transition = answer.seconds_until_transition()
        if until_transition is not None:
            # The answer is known to be wrong after the transition: serve it neither fresh nor stale then.
            fresh_for, stale_for = min(fresh_for, until_transition), min(stale_for, until_transition)
        return fresh_for, stale_for

    def _count(self, result: str, count: int = 1) -> None:
        with self._count_lock:
            self.lookups[result] += count
        if result != "refresh":
            telemetry.count_cache_lookup(result, count)
