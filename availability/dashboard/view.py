"""Drawing the page: `templates/` rendered by Jinja2 with autoescaping on, so every value from outside (names
from the org, problems, the query) is escaped by the template engine, never by hand.

The templates get the loaded `Dashboard`, one `HistorySection` per workstream (its aggregates and chart geometry,
computed here) and the wording filters below (`clock`, `when`, `duration`, `age`, `percent`, `number`,
`counted`). The environment is built on the first page drawn: the app's other paths never pay for it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo

import jinja2

from ..besttimes.windows import Outlook, suggest
from ..localtime import day_of, local
from ..snapshots.profile import HourStats, hours_of_week
from .aggregate import (
    DAYS,
    TIMELINE_WINDOW,
    Band,
    Bucket,
    Shares,
    bands,
    shares,
    timeline,
    understaffed,
)
from .charts import HeatmapChart, TimelineChart, heatmap_chart, timeline_chart
from .load import Dashboard, WorkstreamView

REFRESH_SECONDS = 300  # the page reloads itself at the snapshot timer's pace
BEST_TIMES_SHOWN = 6  # windows in a workstream's "best times this week"
BEST_TIMES_AHEAD = timedelta(days=7)

WORDS = {"available": "Available", "busy": "Busy", "closed": "Closed", "error": "No answer", None: "No data"}
MEANING = {
    "available": "open, a representative is free: customers can be escalated",
    "busy": "open, but no representative is free",
    "closed": "outside operating hours",
    "error": "the org gave no answer for this snapshot",
    None: "no snapshot",
}
ICONS = {"available": "i-ok", "busy": "i-busy", "closed": "i-closed", "error": "i-error", None: "i-none"}
SOURCES = {"live": "Live", "cache": "Cached", "stale": "Stale", "snapshot": "Latest snapshot", "none": "Unknown"}
# Busy, closed and missing slices are patterned as well as coloured: they stay apart without colour vision.
FILLS = {"available": "#1f8a4c", "busy": "url(#p-busy)", "closed": "url(#p-closed)", "error": "url(#p-error)",
         None: "url(#p-none)"}


# ============================================================================================ wording


def clock(moment: datetime, zone: tzinfo) -> str:
    """`moment` as "HH:MM" in `zone`."""
    return f"{local(moment, zone):%H:%M}"


def when(moment: datetime, now: datetime, zone: tzinfo) -> str:
    """A coming time as briefly as `now` allows: "14:00", "tomorrow 09:00", "Mon 09:00", "Mon 3 Dec 09:00"."""
    wall, day = local(moment, zone), day_of(moment, now, zone)
    if day == "today":
        return f"{wall:%H:%M}"
    if day == "tomorrow":
        return f"tomorrow {wall:%H:%M}"
    if day == "this-week":
        return f"{DAYS[wall.weekday()]} {wall:%H:%M}"
    return f"{DAYS[wall.weekday()]} {wall.day} {wall:%b %H:%M}"


def duration(seconds: float | None) -> str:
    """A wait: "45 s", "12 min", "1 h 05 min", "2 h"; "–" when unknown."""
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes % 60 else f"{minutes // 60} h"


def age(seconds: float) -> str:
    """How long ago: "just now", "40 s ago", "3 min ago", "5 h ago", "4 days ago"."""
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{round(seconds)} s ago"
    if seconds < 3600:
        return f"{round(seconds / 60)} min ago"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def percent(share: float | None) -> str:
    """A share as a whole percentage: "42%"; "–" when unknown."""
    return "–" if share is None else f"{round(100 * share)}%"


def number(value: float) -> str:
    """At most one decimal, none when whole: "2", "1.5"."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def counted(count: int, word: str) -> str:
    """The count and its word, plural unless one: "1 day", "7 days"."""
    return f"{count} {word}{'s' if count != 1 else ''}"


def zone_label(zone: tzinfo, moment: datetime) -> str:
    """The zone's abbreviation at `moment` ("CET", "IST"), or its offset where it has none ("UTC+0545")."""
    if zone is UTC:
        return "UTC"
    abbreviation = local(moment, zone).tzname() or ""
    return abbreviation if abbreviation.isalpha() else f"UTC{abbreviation}"


def timeline_summary(buckets: Sequence[Bucket]) -> str:
    """The timeline in one sentence: its text alternative, and the line above it."""
    with_data = [b for b in buckets if b.status is not None]
    if not with_data:
        return "No snapshots in the last 24 hours."
    total = sum((b.end - b.start).total_seconds() for b in with_data)
    parts = []
    for status in ("available", "busy", "closed", "error"):
        seconds = sum((b.end - b.start).total_seconds() for b in with_data if b.status == status)
        if seconds:
            parts.append(f"{WORDS[status].lower()} {round(100 * seconds / total)}%")
    text = "Last 24 hours: " + ", ".join(parts) + " of the time"
    reps = [b.representatives for b in with_data if b.representatives is not None]
    if reps:
        low, high = min(reps), max(reps)
        # A slice's count is the average of its snapshots: whole people only when every slice's is whole.
        averaged = "" if all(float(r).is_integer() for r in reps) else " on average"
        text += f"; {number(low)}–{number(high)} representatives free{averaged}"
    waits = [b for b in with_data if b.wait_seconds is not None]
    if waits:
        worst = max(waits, key=lambda b: b.wait_seconds or 0)
        text += f"; longest average wait {duration(worst.wait_seconds)}"
    return text + "."


def heatmap_summary(cells: Sequence[HourStats], counts: Shares, days: int) -> str:
    """The heatmap in a few sentences: its text alternative, and the line above it."""
    if not counts.samples:
        return f"No snapshots in the last {counted(days, 'day')}."
    text = (f"Over the last {counted(days, 'day')}, a customer could be escalated in "
            f"{percent(counts.of('available'))} of {counts.samples:,} snapshots "
            f"(busy {percent(counts.of('busy'))}, closed {percent(counts.of('closed'))}).")
    worst = understaffed(cells)
    if worst:
        text += " Open but rarely staffed: " + "; ".join(f"{w.label()} ({percent(w.share)})" for w in worst) + "."
    else:
        text += " No open hour was short of representatives most of the time."
    if counts.failed:
        text += f" {counted(counts.failed, 'snapshot')} got no answer from the org."
    return text


# ============================================================================================ the page


@dataclass(frozen=True)
class HistorySection:
    """What a workstream's history section draws: `timeline` is None without a snapshot in the last 24 hours,
    `heatmap` None without any."""

    view: WorkstreamView
    uid: str  # prefix of the section's element ids
    timeline: TimelineChart | None = None
    timeline_text: str = ""
    changes: Sequence[Band] = ()
    heatmap: HeatmapChart | None = None
    heatmap_text: str = ""
    best_times: Outlook | None = None  # None: its profile could not be read (`view.profile_problem` says why)

    @property
    def name(self) -> str:
        return self.view.name or self.view.id


def history_section(view: WorkstreamView, index: int, now: datetime, zone: tzinfo, days: int) -> HistorySection:
    """The aggregates and charts of one workstream's section."""
    start = now - TIMELINE_WINDOW
    section = HistorySection(view, f"w{index}")
    if any(row.captured_at >= start for row in view.history):
        buckets = timeline(view.history, start, now)  # older rows too: the first slice may carry one over
        section = replace(section, timeline=timeline_chart(buckets, start, now, zone),
                          timeline_text=timeline_summary(buckets), changes=bands(buckets))
    if view.history:
        cells = hours_of_week(view.history, zone)
        section = replace(section, heatmap=heatmap_chart(cells),
                          heatmap_text=heatmap_summary(cells, shares(view.history), days))
    if view.profile is not None:
        section = replace(section, best_times=suggest(view.profile, now, count=BEST_TIMES_SHOWN,
                                                      within=BEST_TIMES_AHEAD, day_zone=zone))
    return section


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates' environment, built on the first page drawn and kept: each template is compiled once."""
    # StrictUndefined: a misspelt name in a template fails loudly (and in the tests) instead of printing nothing.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(clock=clock, when=when, duration=duration, age=age, percent=percent, number=number,
                               counted=counted, zone_label=zone_label)
    environment.globals.update(DAYS=DAYS, WORDS=WORDS, MEANING=MEANING, ICONS=ICONS, SOURCES=SOURCES, FILLS=FILLS)
    return environment


def render_dashboard(dashboard: Dashboard, *, nonce: str) -> str:
    """The whole page; `nonce` goes on its inline style and script (the only ones the page's policy allows)."""
    query, now = dashboard.query, dashboard.generated_at
    zone = query.zone
    sections = [history_section(view, index, now, zone, query.days) for index, view in enumerate(dashboard.workstreams)]
    return _environment().get_template("page.html").render(
        dashboard=dashboard, query=query, now=now, zone=zone, local_now=local(now, zone), nonce=nonce,
        histories=sections, day_choices=sorted({1, 3, 7, 14, 31, query.days}), refresh_seconds=REFRESH_SECONDS)
