"""The dashboard's arithmetic over snapshots: the 24-hour timeline and its bands, the split by status and the open
hours short of representatives (the hour-of-week cells themselves are `snapshots.profile`'s).

Pure functions of the rows they are given (anything with `captured_at`, `status`, `available_representatives`
and `average_wait_seconds`, such as a `Snapshot`), so each is tested without storage or a page.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import Any

from ..localtime import utc
from ..snapshots.profile import STATUSES, HourStats

TIMELINE_WINDOW = timedelta(hours=24)
BUCKET = timedelta(minutes=15)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Bucket:
    """A slice of the timeline. `status` is available / busy / closed, "error" (no answer), or None (no data)."""

    start: datetime
    end: datetime
    status: str | None
    representatives: float | None  # mean free representatives
    wait_seconds: float | None  # mean average wait while open
    samples: int  # snapshots captured in the slice (0 when carried over or empty)

    @property
    def carried(self) -> bool:
        return self.samples == 0 and self.status is not None


@dataclass(frozen=True)
class Band:
    """Consecutive buckets with one status."""

    start: datetime
    end: datetime
    status: str | None


def _status_of(rows: Sequence[Any]) -> str | None:
    counts = Counter(row.status for row in rows if row.status in STATUSES)
    if not counts:
        return "error" if rows else None
    # Ties go to the less favourable status: a supervisor should see a doubt, not hide it.
    return max(("busy", "closed", "available"), key=lambda status: counts[status])


def _mean(values: Iterable[float | int | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


def _typical_gap(times: Sequence[datetime]) -> timedelta | None:
    gaps = [later - earlier for earlier, later in pairwise(times) if later > earlier]
    return timedelta(seconds=median(gap.total_seconds() for gap in gaps)) if gaps else None


def timeline(snapshots: Iterable[Any], start: datetime, end: datetime, *, bucket: timedelta = BUCKET,
             hold: timedelta | None = None) -> list[Bucket]:
    """The window [start, end) cut into `bucket`-long slices aligned on UTC multiples of `bucket`.

    A slice with snapshots gets their majority status, mean free representatives and mean wait while open.
    A slice without any carries the latest earlier snapshot over when it is at most `hold` old (default:
    twice the usual interval between snapshots), so a sparser schedule leaves no holes; else it has no data.
    """
    start, end = utc(start), utc(end)
    rows = sorted((row for row in snapshots), key=lambda row: row.captured_at)
    if hold is None:
        gap = _typical_gap([row.captured_at for row in rows])
        hold = max(bucket, 2 * gap) if gap else bucket
    size = bucket.total_seconds()
    first = datetime.fromtimestamp(math.floor(start.timestamp() / size) * size, UTC)
    result: list[Bucket] = []
    index = 0
    previous: Any = None  # the latest snapshot before the current slice
    moment = first
    while moment < end:
        stop = min(moment + bucket, end)
        inside = []
        while index < len(rows) and rows[index].captured_at < stop:
            if rows[index].captured_at >= moment:
                inside.append(rows[index])
            else:
                previous = rows[index]
            index += 1
        shown_start = max(moment, start)
        if inside:
            open_rows = [row for row in inside if row.status in ("available", "busy")]
            result.append(Bucket(shown_start, stop, _status_of(inside),
                                 _mean(row.available_representatives for row in inside if row.status in STATUSES),
                                 _mean(row.average_wait_seconds for row in open_rows), len(inside)))
            previous = inside[-1]
        elif previous is not None and moment - previous.captured_at <= hold:
            wait = previous.average_wait_seconds if previous.status in ("available", "busy") else None
            result.append(Bucket(shown_start, stop, _status_of([previous]), previous.available_representatives
                                 if previous.status in STATUSES else None, wait, 0))
        else:
            result.append(Bucket(shown_start, stop, None, None, None, 0))
        moment = stop
    return result


def bands(buckets: Sequence[Bucket]) -> list[Band]:
    """Runs of buckets with the same status, in order."""
    result: list[Band] = []
    for item in buckets:
        if result and result[-1].status == item.status and result[-1].end == item.start:
            result[-1] = Band(result[-1].start, item.end, item.status)
        else:
            result.append(Band(item.start, item.end, item.status))
    return result


@dataclass(frozen=True)
class Shares:
    """How a set of snapshots splits by status (rows carrying an error code are in `failed` only)."""

    available: int = 0
    busy: int = 0
    closed: int = 0
    failed: int = 0

    @property
    def samples(self) -> int:
        return self.available + self.busy + self.closed

    def of(self, status: str) -> float | None:
        return getattr(self, status) / self.samples if self.samples else None


def shares(snapshots: Iterable[Any]) -> Shares:
    """Count `snapshots` by status; a row carrying an error code counts as failed."""
    counts = Counter(row.status if row.status in STATUSES else "failed" for row in snapshots)
    return Shares(counts["available"], counts["busy"], counts["closed"], counts["failed"])


@dataclass(frozen=True)
class Understaffed:
    """Local hours [start_hour, end_hour) on `weekdays` that are mostly open but rarely staffed."""

    weekdays: tuple[int, ...]
    start_hour: int
    end_hour: int
    share: float  # escalation possible in this share of their snapshots
    samples: int

    def label(self) -> str:
        return f"{_weekday_ranges(self.weekdays)} {self.start_hour:02d}:00–{self.end_hour % 24:02d}:00"


def understaffed(cells: Sequence[HourStats], *, limit: int = 4, below: float = 0.5) -> list[Understaffed]:
    """Operating hours (open in at least half their snapshots) where escalation was possible less than `below`.

    Consecutive hours of a day form one range; equal ranges on several days are merged ("Mon–Fri
    12:00–14:00"); the worst (lowest share, then most snapshots) come first.
    """
    runs: list[tuple[int, int, int, int, int]] = []  # weekday, start, end, available, samples
    for weekday in range(7):
        current: list[HourStats] = []
        for hour in range(25):
            cell = cells[weekday * 24 + hour] if hour < 24 else None
            if cell is not None and cell.operating and (cell.share or 0) < below:
                current.append(cell)
                continue
            if current:
                runs.append((weekday, current[0].hour, current[-1].hour + 1, sum(c.available for c in current),
                             sum(c.samples for c in current)))
                current = []
    grouped: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    for weekday, first, last, available, samples in runs:
        grouped[(first, last)].append((weekday, available, samples))
    found = []
    for (first, last), days in grouped.items():
        available = sum(a for _, a, _ in days)
        samples = sum(s for _, _, s in days)
        found.append(Understaffed(tuple(d for d, _, _ in days), first, last, available / samples, samples))
    found.sort(key=lambda item: (round(item.share, 3), -item.samples, item.weekdays, item.start_hour))
    return found[:limit]


def _weekday_ranges(weekdays: Sequence[int]) -> str:
    """Weekdays as the label says them: three or more in a row as a range ("Mon–Fri"), others one by one."""
    parts: list[str] = []
    ordered = sorted(set(weekdays))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{DAYS[ordered[i]]}–{DAYS[ordered[j]]}")
        else:
            parts.extend(DAYS[d] for d in ordered[i:j + 1])
        i = j + 1
    return ", ".join(parts)
