"""Suggested times to reach a workstream: the coming hours its history shows open and staffed, merged into windows,
earliest first, each with how sure it is.

An hour ahead is good when its hour of the week (in the profile's zone) was seen in at least `MIN_WEEKS` weeks,
was within operating hours in most of its snapshots, and had a representative free in at least `min_share` of
them. Consecutive good hours make one window, cut where the day changes in the zone the answer is worded in (a
window is "tomorrow between 08:00 and 12:00", never "from tomorrow 08:00 to Friday 17:00"). The hour under way is
left out: a suggestion answers "when should I come back?", and now is what a live check is for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from ..localtime import local, utc
from ..snapshots.profile import HourStats, Profile, quantile

Confidence = Literal["high", "medium", "low"]
Reason = Literal["not_enough_history", "no_good_time"]

HOUR = timedelta(hours=1)
MIN_WEEKS = 2  # an hour of the week seen in fewer weeks is never suggested: one week is an anecdote
DEFAULT_COUNT, MAX_COUNT = 3, 10
DEFAULT_WITHIN_HOURS, MAX_WITHIN_HOURS = 72, 336
DEFAULT_MIN_SHARE = 0.8
# (confidence, least lower bound of the share, least weeks): the first that holds is the window's.
CONFIDENCE_RULES: tuple[tuple[Confidence, float, int], ...] = (("high", 0.75, 4), ("medium", 0.5, 3))


def confidence(share_low: float, weeks: int) -> Confidence:
    """high: the share's lower bound is at least 0.75 over 4 weeks or more; medium: at least 0.5 over 3 or more."""
    for level, least_share, least_weeks in CONFIDENCE_RULES:
        if share_low >= least_share and weeks >= least_weeks:
            return level
    return "low"


@dataclass(frozen=True)
class Window:
    """A suggested time: [start, end) on whole hours of the profile's zone, and what its history says of it.

    `available_share` is the share of its snapshots with a representative free; `share_low` the lowest of its
    hours' lower bounds (every hour of it is at least that good, nine times out of ten); `weeks` the fewest weeks
    any of its hours was seen in.
    """

    start: datetime
    end: datetime
    available_share: float
    share_low: float
    weeks: int
    wait_median: int | None
    wait_p90: int | None
    confidence: Confidence

    @classmethod
    def of(cls, start: datetime, cells: list[HourStats]) -> Window:
        """The window of consecutive hours from `start`, one cell each."""
        samples = sum(cell.samples for cell in cells)
        share = sum(cell.available for cell in cells) / samples
        share_low = min(cell.share_low for cell in cells)
        weeks = min(cell.weeks for cell in cells)
        waits: Counter[int] = Counter()
        for cell in cells:
            waits.update(cell.waits)
        return cls(start, start + len(cells) * HOUR, share, share_low, weeks, quantile(waits, 0.5),
                   quantile(waits, 0.9), confidence(share_low, weeks))


@dataclass(frozen=True)
class Outlook:
    """What the history suggests from a moment on: the windows (earliest first), and the most weeks any of the hours
    looked at was seen in, which says whether there was history enough to judge at all."""

    profile: Profile
    windows: tuple[Window, ...]
    weeks: int
    min_weeks: int = MIN_WEEKS

    @property
    def enough_history(self) -> bool:
        return self.weeks >= self.min_weeks

    @property
    def reason(self) -> Reason | None:
        """Why there is no window: too little history, or none good enough; None when there are windows."""
        if self.windows:
            return None
        return "no_good_time" if self.enough_history else "not_enough_history"


def first_hour(now: datetime, zone: tzinfo) -> datetime:
    """The start of the first whole hour (of `zone`'s clock) after `now`."""
    wall = local(now, zone)
    return utc(wall.replace(minute=0, second=0, microsecond=0)) + HOUR


def suggest(profile: Profile, now: datetime, *, count: int = DEFAULT_COUNT,
            within: timedelta = timedelta(hours=DEFAULT_WITHIN_HOURS), min_share: float = DEFAULT_MIN_SHARE,
            min_weeks: int = MIN_WEEKS, day_zone: tzinfo = UTC) -> Outlook:
    """Up to `count` windows starting within `within` of `now` (the org's clock), earliest first.

    :param min_share: the least share of snapshots with a representative free that each hour of a window had.
    :param day_zone: the zone whose days cut the windows (the zone the answer is worded in).
    """
    horizon = utc(now) + within
    moment = first_hour(now, profile.zone)
    windows: list[Window] = []
    run: list[HourStats] = []
    run_start = moment
    weeks = 0
    while moment < horizon and len(windows) < count:
        cell = profile.hour(moment)
        weeks = max(weeks, cell.weeks)
        good = cell.weeks >= min_weeks and cell.operating and (cell.share or 0.0) >= min_share
        if run and (not good or local(moment, day_zone).date() != local(run_start, day_zone).date()):
            windows.append(Window.of(run_start, run))
            run = []
        if good:
            if not run:
                run_start = moment
            run.append(cell)
        moment += HOUR
    if run and len(windows) < count:
        windows.append(Window.of(run_start, run))
    return Outlook(profile, tuple(windows), weeks, min_weeks)
