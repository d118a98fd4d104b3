"""Where everything in the page's two SVG charts goes: the 24-hour timeline (status bands, free representatives,
average wait, hour ticks in local time) and the hour-of-week heatmap grid.

Numbers only, in each chart's own viewBox units, rounded to a tenth of a unit (finer is invisible and only
weighs on the page; status bands, which meet edge to edge, to a hundredth); the templates
(`templates/charts.html`) draw them and word their labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from ..localtime import local
from ..snapshots.profile import HourStats
from .aggregate import Band, Bucket, bands

TICK_HOURS = 3  # the timeline's gridlines: every third local hour
MIN_BAND_WIDTH = 0.1  # narrower status bands are not drawn
LABELLED_BAND_WIDTH = 64  # wide enough for the status word inside


@dataclass(frozen=True)
class Tick:
    """A gridline of the timeline at a whole local hour; `local` is its wall-clock time."""

    x: float
    local: datetime

    @property
    def midnight(self) -> bool:
        return self.local.hour == 0


@dataclass(frozen=True)
class BandShape:
    """A status band as drawn: from `x`, `width` wide."""

    band: Band
    x: float
    width: float

    @property
    def labelled(self) -> bool:
        return self.width >= LABELLED_BAND_WIDTH


@dataclass(frozen=True)
class Step:
    """One bucket's value as a flat line from `x0` to `x1` at height `y`."""

    x0: float
    x1: float
    y: float


@dataclass(frozen=True)
class Lane:
    """A line chart under the bands: its runs of known values (a gap between runs: no data); `maximum` at the top."""

    top: float
    height: float
    maximum: float
    runs: list[list[Step]]

    @property
    def base(self) -> float:
        return self.top + self.height

    @property
    def middle(self) -> float:
        return self.top + self.height / 2


@dataclass(frozen=True)
class TimelineChart:
    width: float
    height: float
    left: float  # where the plot starts: the lanes' labels are to its left
    plot: float  # the plot's width; `left + plot` is now
    status: Lane  # the band lane (no runs, no maximum)
    representatives: Lane
    wait: Lane
    axis_y: float
    ticks: list[Tick]
    bands: list[BandShape]

    @property
    def right(self) -> float:
        return self.left + self.plot


def _px(value: float) -> float:
    return round(value, 1)


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`: a scale a reader takes in at once."""
    if value <= 0:
        return 1
    magnitude: float = 10 ** math.floor(math.log10(value))  # an int from 1 up: the scale reads "100", not "100.0"
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _ticks(start: datetime, end: datetime, zone: tzinfo, every_hours: int) -> list[datetime]:
    """Instants in [start, end] where the local clock shows a whole hour divisible by `every_hours`."""
    ticks = []
    # 15-minute steps: whole local hours fall on them whatever the zone's offset (+05:45 included).
    moment = datetime.fromtimestamp(math.ceil(start.timestamp() / 900) * 900, UTC)
    while moment <= end:
        wall = local(moment, zone)
        if wall.minute == 0 and wall.hour % every_hours == 0:
            ticks.append(moment)
        moment += timedelta(minutes=15)
    return ticks


def timeline_chart(buckets: Sequence[Bucket], start: datetime, end: datetime, zone: tzinfo) -> TimelineChart:
    """The timeline of `buckets` over [start, end]: `end` (now) at the right edge."""
    width, left, right = 960, 92, 14
    plot = width - left - right
    status = Lane(8, 26, 0, [])
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return left + plot * max(0.0, min(1.0, (moment - start).total_seconds() / span))

    def lane(values: Sequence[float | None], top: float, height: float, maximum: float) -> Lane:
        runs: list[list[Step]] = []
        run: list[Step] = []
        for item, value in zip(buckets, values, strict=True):
            if value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            y = top + height - height * min(1.0, value / maximum)
            run.append(Step(_px(x(item.start)), _px(x(item.end)), _px(y)))
        if run:
            runs.append(run)
        return Lane(top, height, maximum, runs)

    representatives = [item.representatives for item in buckets]
    most = _nice_max(max((v for v in representatives if v is not None), default=0) or 1)
    waits = [item.wait_seconds for item in buckets]
    longest = max((v for v in waits if v is not None), default=0)
    # Waits of a minute or more scale in whole minutes ("10 min", not "500 s").
    longest = 60 * _nice_max(longest / 60) if longest >= 60 else _nice_max(longest or 60)
    wait = lane(waits, 128, 58, longest)
    axis_y = wait.base + 6  # the hour labels below it
    shapes = []
    for band in bands(buckets):
        x0, x1 = x(band.start), x(band.end)
        if x1 - x0 >= MIN_BAND_WIDTH:
            shapes.append(BandShape(band, round(x0, 2), round(x1 - x0, 2)))
    return TimelineChart(
        width=width, height=axis_y + 30, left=left, plot=plot, status=status,
        representatives=lane(representatives, 52, 58, most), wait=wait, axis_y=axis_y,
        ticks=[Tick(_px(x(tick)), local(tick, zone)) for tick in _ticks(start, end, zone, TICK_HOURS)],
        bands=shapes)


@dataclass(frozen=True)
class HeatCell:
    """One hour of the week as drawn; `share` is what it shows (None: no snapshots, or mostly closed)."""

    cell: HourStats
    x: float
    y: float

    @property
    def closed(self) -> bool:
        return bool(self.cell.samples) and not self.cell.operating

    @property
    def share(self) -> float | None:
        return None if not self.cell.samples or self.closed else self.cell.share or 0


@dataclass(frozen=True)
class HeatmapChart:
    width: float
    height: float
    left: float  # the weekdays' labels are to its left
    top: float  # the hours' labels are above
    cell_width: float
    cell_height: float
    gap: float
    rows: list[list[HeatCell]]  # Monday first, 24 hours each

    @property
    def box_width(self) -> float:
        return self.cell_width - self.gap

    @property
    def box_height(self) -> float:
        return self.cell_height - self.gap


def heatmap_chart(cells: Sequence[HourStats]) -> HeatmapChart:
    """The 7 × 24 grid of `cells` (Monday 00:00 first, as `hours_of_week` gives them)."""
    left, top, cell_width, cell_height, gap = 46, 24, 36, 26, 2
    rows = [[HeatCell(cells[weekday * 24 + hour], left + hour * cell_width, top + weekday * cell_height)
             for hour in range(24)] for weekday in range(7)]
    return HeatmapChart(left + 24 * cell_width + 8, top + 7 * cell_height + 8, left, top, cell_width, cell_height,
                        gap, rows)
