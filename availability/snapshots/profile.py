"""A workstream's history by hour of the week: for each of the 168 local hours, how its snapshots split by status,
in how many weeks it was seen, the waits while open, and how sure a share of them is.

The one definition of hour-of-week bucketing: the dashboard's heatmap and the best-times suggestions both read
`hours_of_week`, and a `Profile` is those 168 cells over a period, read with `Profile.hour(moment)`. Pure
functions of the rows they are given (anything with `captured_at`, `status` and `average_wait_seconds`, such as a
`Snapshot`).

How sure: `share_low` is the Wilson lower bound of the share a representative was free, at 90 % one-sided, with
the number of **weeks** the hour was seen as the sample size, not its snapshots. The snapshots of one hour of one
week hang together (the same shift, the same people), so counting each of them as independent would promise a
certainty the history does not hold; where they are in fact independent, the bound is only wider than needed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from itertools import pairwise
from statistics import NormalDist, median
from typing import Any

from ..localtime import local, utc

STATUSES = ("available", "busy", "closed")
CONFIDENCE = 0.90  # one-sided: the true share lies above `share_low` nine times out of ten
Z = NormalDist().inv_cdf(CONFIDENCE)
OPERATING_SHARE = 0.5  # an hour is an operating hour when it was open in at least half its snapshots
HOUR = timedelta(hours=1)


def wilson_lower(share: float, n: float, z: float = Z) -> float:
    """The Wilson score interval's lower bound of a proportion `share` seen over `n` trials (0 when n is 0)."""
    if n <= 0:
        return 0.0
    share = min(1.0, max(0.0, share))
    z2 = z * z
    centre = share + z2 / (2 * n)
    margin = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z2 / n))


def quantile(counts: Counter[int], q: float) -> int | None:
    """The nearest-rank `q` quantile of values counted in `counts` (value → how often); None when empty."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)  # unreachable: the ranks add up to `total`


@dataclass
class HourStats:
    """Snapshots that fell in one local hour of the week (weekday 0 = Monday), and what they say.

    Rows carrying an error code are counted in `failed` and in no share. `days` are the local dates the hour was
    seen on with an answer: one a week, so their number is the weeks of history behind the hour.
    """

    weekday: int
    hour: int
    available: int = 0
    busy: int = 0
    closed: int = 0
    failed: int = 0
    days: set[date] = field(default_factory=set)
    waits: Counter[int] = field(default_factory=Counter)  # average wait (seconds) while open → snapshots

    @property
    def samples(self) -> int:
        return self.available + self.busy + self.closed

    @property
    def share(self) -> float | None:
        """Share of the snapshots in which a customer could be escalated (status available)."""
        return self.available / self.samples if self.samples else None

    @property
    def open_share(self) -> float | None:
        return (self.available + self.busy) / self.samples if self.samples else None

    @property
    def operating(self) -> bool:
        """Within operating hours in at least half its snapshots (no snapshot: not known to be)."""
        return bool(self.samples) and (self.open_share or 0) >= OPERATING_SHARE

    @property
    def weeks(self) -> int:
        return len(self.days)

    @property
    def share_low(self) -> float:
        """The share's lower bound at `CONFIDENCE`, the weeks seen being the sample size (0 without any)."""
        return wilson_lower(self.share or 0.0, self.weeks)

    @property
    def wait_median(self) -> int | None:
        return quantile(self.waits, 0.5)

    @property
    def wait_p90(self) -> int | None:
        return quantile(self.waits, 0.9)

    @property
    def wait_spread(self) -> int | None:
        """How much longer than usual a wait in this hour can be: p90 less the median (None without waits)."""
        median, p90 = self.wait_median, self.wait_p90
        return None if median is None or p90 is None else p90 - median

    def add(self, status: str | None, wait: int | None = None, day: date | None = None) -> None:
        """Count one snapshot: its status (anything else is a failed check), its wait while open, its local date."""
        if status not in STATUSES:
            self.failed += 1
            return
        setattr(self, status, getattr(self, status) + 1)
        if day is not None:
            self.days.add(day)
        if wait is not None and status != "closed":
            self.waits[wait] += 1


def hours_of_week(snapshots: Iterable[Any], zone: tzinfo,
                  observed: tuple[datetime, datetime] | None = None) -> list[HourStats]:
    """168 cells, Monday 00:00 first: each snapshot counted in the local hour (in `zone`) it was captured in.

    Each instant is converted on its own, so daylight saving changes are handled: a repeated autumn hour
    counts twice in one cell, a skipped spring hour gets nothing that day. With `observed` (the span the
    snapshots were taken over), a day counts as a week seen only for an hour wholly inside it: the hour under way
    and the one a history starts in are counted but seen only in part.
    """
    cells = [HourStats(weekday, hour) for weekday in range(7) for hour in range(24)]
    for row in snapshots:
        wall = local(row.captured_at, zone)
        day: date | None = wall.date()
        if observed is not None:
            top = utc(wall.replace(minute=0, second=0, microsecond=0))
            if top < observed[0] or top + HOUR > observed[1]:
                day = None
        cells[wall.weekday() * 24 + wall.hour].add(row.status, row.average_wait_seconds, day)
    return cells


@dataclass(frozen=True)
class Profile:
    """One workstream's snapshots over [start, end] by hour of the week in `zone`. Read-only once built.

    `first` and `last` are the oldest and newest snapshot with an answer (None without any); `queues` the queues
    they were routed to (the snapshot timer checks without context: the workstream's default route).
    """

    workstream_id: str
    zone_name: str
    zone: tzinfo
    start: datetime
    end: datetime
    cells: Sequence[HourStats]
    first: datetime | None = None
    last: datetime | None = None
    queues: frozenset[str] = frozenset()

    @classmethod
    def from_rows(cls, workstream_id: str, rows: Iterable[Any], *, zone_name: str, zone: tzinfo, start: datetime,
                  end: datetime) -> Profile:
        """The profile of `rows` (snapshots of one workstream captured in [start, end])."""
        rows = list(rows)
        answered = [row for row in rows if row.status in STATUSES]
        times = sorted(row.captured_at for row in rows)
        observed = None
        if times:
            # A snapshot stands for its slot: the history was watched from one usual interval before the first.
            gaps = [later - earlier for earlier, later in pairwise(times) if later > earlier]
            gap = median(gaps) if gaps else timedelta(0)
            observed = (times[0] - gap, times[-1] + gap)
        first = min((row.captured_at for row in answered), default=None)
        last = max((row.captured_at for row in answered), default=None)
        return cls(workstream_id, zone_name, zone, utc(start), utc(end), tuple(hours_of_week(rows, zone, observed)),
                   first, last, frozenset(row.queue_id for row in answered if row.queue_id))

    def hour(self, moment: datetime) -> HourStats:
        """The hour of the week `moment` falls in, in the profile's zone."""
        wall = local(moment, self.zone)
        return self.cells[wall.weekday() * 24 + wall.hour]

    @property
    def weeks(self) -> int:
        """The most weeks any hour of the week was seen in: what a suggestion can rest on at best."""
        return max((cell.weeks for cell in self.cells), default=0)

    @property
    def snapshots(self) -> int:
        """Snapshots with an answer (failed checks left out)."""
        return sum(cell.samples for cell in self.cells)
