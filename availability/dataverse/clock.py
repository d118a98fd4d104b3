"""`OrgClock`: the org's clock as its `Date` headers tell it, for everything the gateway compares with the org's times.

Transition times, opening hours and the days they fall on are the org's; the gateway's own clock may disagree (skew
in Azure, a sandbox clock moved days away). Every answer of the org carries a `Date` header, so the offset between
the two clocks is learnt from the latest one; a reader who needs the org's clock now, without an answer at hand (a
timer run, the dashboard), asks for it no older than a few seconds and the clock asks the org once (`WhoAmI`) when
its last answer is older.

The offset is the latest sample, not an average: a clock that jumps (the sandbox's) is followed at once. `Date` has
whole seconds and is taken as the middle of its second, so the offset is within half a second of the truth plus the
network's one-way delay.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger(__name__)

READ_MAX_AGE = 5.0  # seconds: how old the offset may be when the org's clock is read without an answer at hand
JUMP_SECONDS = 300.0  # an offset that moved more than this was not drift: the org's clock was set to another time


class OrgClock:
    """This machine's clock plus the offset the org's latest `Date` header gave (0 before the first).

    :keyword sync: asks the org anything (its answer's `Date` is observed on the way); errors are the caller's to
        raise, `refresh` ignores them. None: the clock only learns from answers it is shown.
    """

    def __init__(self, *, sync: Callable[[], object] | None = None, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._sync = sync
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._offset = 0.0
        self._observed_at = -math.inf  # monotonic
        self._tried_at = -math.inf  # monotonic: the last sync, answered or not

    def observe(self, org_date: datetime, received: float | None = None) -> None:
        """Learn the offset from a `Date` of the org (`org_date`) received at `received` (this machine's epoch)."""
        arrived = self._wall() if received is None else received
        offset = org_date.timestamp() + 0.5 - arrived
        with self._lock:
            self._offset, self._observed_at = offset, self._monotonic()

    @property
    def offset(self) -> float:
        """Seconds to add to this machine's clock to read the org's."""
        return self._offset

    def now(self) -> datetime:
        """The org's clock now (UTC)."""
        return datetime.fromtimestamp(self._wall() + self._offset, UTC)

    def read(self, max_age: float = READ_MAX_AGE) -> datetime:
        """The org's clock now, its offset learnt at most `max_age` ago when the org can say (see `refresh`)."""
        self.refresh(max_age)
        return self.now()

    def to_org(self, moment: float) -> datetime:
        """A moment of this machine's clock (epoch seconds) on the org's clock."""
        return datetime.fromtimestamp(moment + self._offset, UTC)

    def to_local(self, moment: datetime) -> float:
        """A moment of the org's clock on this machine's clock (epoch seconds)."""
        return moment.timestamp() - self._offset

    def age(self) -> float:
        """Seconds since the offset was last learnt (infinite before the first time)."""
        return self._monotonic() - self._observed_at

    def refresh(self, max_age: float) -> None:
        """Learn the offset anew when it is older than `max_age` (one `sync` at most every `max_age` seconds, so an
        org that does not answer is not asked again at once); a failure keeps the offset known so far."""
        if self._sync is None:
            return
        now = self._monotonic()
        with self._lock:
            if now - self._observed_at <= max_age or now - self._tried_at < max_age:
                return
            self._tried_at = now
        try:
            self._sync()
        except Exception as exc:  # the org's clock as last known is the best there is
            log.info("The org's clock could not be read (%s): its offset stays as last learnt", type(exc).__name__)



def jumped(then: float, now: float) -> bool:
    """True when the offset moved from `then` to `now` by more than `JUMP_SECONDS`: what was learnt on the org's
    clock as it was (an answer, its transition) tells nothing of now (a sandbox clock set to another day; in Azure
    the two clocks keep within seconds)."""
    return abs(now - then) > JUMP_SECONDS
