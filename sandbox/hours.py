"""Operating hours of a queue: weekly windows in local wall time, holidays, DST-correct UTC instants."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead the next window is searched before answering with the sentinels.
HORIZON_DAYS = 400


@dataclass(frozen=True)
class HoursState:
    """Where an instant falls: inside a window (until `closes_at`) or outside (next window `opens_at`-`next_closes_at`).

    A `None` time means there is no change within the horizon (24x7, or never opening again).
    """

    is_open: bool
    closes_at: datetime | None = None
    opens_at: datetime | None = None
    next_closes_at: datetime | None = None


class OperatingHours:
    """A queue's operating hours; `week` is None for a queue open around the clock."""

    def __init__(
        self,
        tz: ZoneInfo,
        week: dict[int, tuple[tuple[int, int], ...]] | None,
        holidays: frozenset[date] = frozenset(),
    ) -> None:
        self.tz = tz
        self.week = week
        self.holidays = holidays
        self._always_open = week is None and not holidays
        # Caching per local date keeps a request to a few dict lookups; the cache is per queue.
        self._day_windows = functools.lru_cache(maxsize=2048)(self._compute_day_windows)

    def local_time(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)

    def state_at(self, t: datetime) -> HoursState:
        """The queue's state at the UTC instant `t`."""
        if self._always_open:
            return HoursState(True)
        first = t.astimezone(self.tz).date() - timedelta(days=1)
        current: tuple[datetime, datetime] | None = None
        for offset in range(HORIZON_DAYS + 2):
            for start, end in self._day_windows(first + timedelta(days=offset)):
                if current is not None and start <= current[1]:
                    # Adjacent or overlapping windows are one stretch: the queue does not close in between.
                    current = (current[0], max(current[1], end))
                    continue
                if current is not None:
                    found = _judge(current, t, complete=True)
                    if found is not None:
                        return found
                current = (start, end)
        if current is not None:
            found = _judge(current, t, complete=False)
            if found is not None:
                return found
        return HoursState(False)

    def _compute_day_windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if day in self.holidays:
            return ()
        spans = ((0, 1440),) if self.week is None else self.week.get(day.weekday(), ())
        return tuple((self.instant(day, start), self.instant(day, end)) for start, end in spans)

    def instant(self, day: date, minutes: int) -> datetime:
        """The first UTC instant at which the local wall clock shows `minutes` past midnight of `day` or later.

        Ambiguous times (clocks going back) take the first occurrence; times skipped by clocks going forward
        resolve to the moment of the jump, so a window never opens late or closes early by the DST hour.
        """
        if minutes >= 1440:
            day, minutes = day + timedelta(days=1), minutes - 1440
        naive = datetime.combine(day, time(minutes // 60, minutes % 60))
        utc = naive.replace(tzinfo=self.tz).astimezone(UTC)
        if utc.astimezone(self.tz).replace(tzinfo=None) == naive:
            return utc
        # In the gap: fold=1 uses the offset after the jump, giving an instant before it.
        lo = int(naive.replace(tzinfo=self.tz, fold=1).astimezone(UTC).timestamp())
        hi = int(utc.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.tz).replace(tzinfo=None) >= naive:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)


def _judge(stretch: tuple[datetime, datetime], t: datetime, *, complete: bool) -> HoursState | None:
    start, end = stretch
    if start <= t < end:
        # A stretch still running at the horizon has no known end: same answer as 24x7.
        return HoursState(True, closes_at=end if complete else None)
    if start > t:
        return HoursState(False, opens_at=start, next_closes_at=end if complete else None)
    return None


def parse_span(text: str) -> tuple[int, int]:
    """`"08:00-12:30"` → minutes (480, 750); `24:00` is allowed as an end. Raises ValueError."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a window like \"08:00-18:00\"")
    start, end = (_parse_clock(p.strip(), text) for p in parts)
    if start >= 1440:
        raise ValueError(f"{text!r} starts at 24:00")
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


def _parse_clock(text: str, span: str) -> int:
    hh, sep, mm = text.partition(":")
    if not (sep and len(hh) == 2 and len(mm) == 2 and hh.isdigit() and mm.isdigit()):
        raise ValueError(f"{span!r}: {text!r} is not a time like \"08:00\"")
    minutes = int(hh) * 60 + int(mm)
    if int(mm) >= 60 or minutes > 1440:
        raise ValueError(f"{span!r}: {text!r} is not a time of day")
    return minutes


def merge_spans(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sort and merge overlapping or touching windows of one day."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)
