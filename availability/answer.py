"""The answer: one normalized upstream answer (`Availability`), its status and the sentence a bot can say.

`status`, `canEscalate` and `message` derive from the upstream facts; times are UTC and end in `Z`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, overload

from .language import SOURCE, translations
from .localtime import local, utc, zone

if TYPE_CHECKING:
    from gettext import NullTranslations

__all__ = ["Availability", "Source", "Status", "availability_message", "format_time", "spoken_time"]

Status = Literal["available", "busy", "closed"]
Source = Literal["live", "cache", "stale"]


@overload
def format_time(moment: datetime, milliseconds: bool = False) -> str: ...
@overload
def format_time(moment: None, milliseconds: bool = False) -> None: ...
@overload
def format_time(moment: datetime | None, milliseconds: bool = False) -> str | None: ...
def format_time(moment: datetime | None, milliseconds: bool = False) -> str | None:
    """ISO-8601 UTC ending in `Z`; seconds precision, or milliseconds when asked and non-zero."""
    if moment is None:
        return None
    moment = utc(moment).replace(tzinfo=None)
    if milliseconds and moment.microsecond // 1000:
        return moment.isoformat(timespec="milliseconds") + "Z"
    return moment.isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class Availability:
    """One normalized upstream answer; `status`, `can_escalate` and `message` derive from its facts."""

    queue_id: str
    within_operating_hours: bool
    representatives_available: bool
    available_representatives: int | None
    position_in_queue: int | None
    average_wait_seconds: int | None
    next_transition_time: datetime | None
    next_opening_time: datetime | None
    next_closing_time: datetime | None
    retrieved_at: datetime
    source: Source = "live"
    # The org's own clock when it answered (its `Date` header): durations until the answer's times are measured
    # on it, since the gateway's clock may disagree (skew in Azure, a moved sandbox clock).
    org_time: datetime | None = None

    @property
    def status(self) -> Status:
        """closed outside operating hours; otherwise available when a representative is free, else busy."""
        if not self.within_operating_hours:
            return "closed"
        return "available" if self.representatives_available else "busy"

    @property
    def can_escalate(self) -> bool:
        """True exactly when status is "available"."""
        return self.status == "available"

    def seconds_until_transition(self) -> float | None:
        """How long this answer stays true, on the org's clock; None when no transition is coming."""
        if self.next_transition_time is None:
            return None
        return (self.next_transition_time - utc(self.org_time or self.retrieved_at)).total_seconds()

    def age_seconds(self, now: datetime) -> float:
        """now − retrieved_at in seconds, never negative (clocks of two hosts may disagree slightly)."""
        return max(0.0, round((utc(now) - utc(self.retrieved_at)).total_seconds(), 3))

    def message(self, now: datetime, time_zone: str | None = None, language: str = SOURCE) -> str:
        """The sentence a bot can say in `language`, with times worded in `time_zone` (UTC when None)."""
        return availability_message(self, now, time_zone, language)

    @property
    def clock_offset(self) -> timedelta:
        """The org's clock less the gateway's when this answer came (0 when the org sent no `Date`)."""
        return timedelta(0) if self.org_time is None else utc(self.org_time) - utc(self.retrieved_at)

    @property
    def org_retrieved_at(self) -> datetime:
        """When this answer came, on the org's clock (`retrieved_at` is on the gateway's)."""
        return utc(self.org_time) if self.org_time is not None else utc(self.retrieved_at)

    def org_now(self, now: datetime) -> datetime:
        """`now` on the org's clock: "today" and "tomorrow" are the org's, like the times they qualify."""
        return now + self.clock_offset

    def to_json(self, now: datetime, time_zone: str | None = None, language: str = SOURCE) -> dict[str, Any]:
        """The API's answer object, `message` worded in `language` for `time_zone`, `ageSeconds` at `now`."""
        return {
            "queueId": self.queue_id,
            "status": self.status,
            "canEscalate": self.can_escalate,
            "withinOperatingHours": self.within_operating_hours,
            "representativesAvailable": self.representatives_available,
            "availableRepresentatives": self.available_representatives,
            "positionInQueue": self.position_in_queue,
            "averageWaitSeconds": self.average_wait_seconds,
            "nextTransitionTime": format_time(self.next_transition_time),
            "nextOpeningTime": format_time(self.next_opening_time),
            "nextClosingTime": format_time(self.next_closing_time),
            "message": availability_message(self, now, time_zone, language),
            "retrievedAt": format_time(self.retrieved_at, milliseconds=True),
            "source": self.source,
            "ageSeconds": self.age_seconds(now),
            "language": language,
        }


# ---------------------------------------------------------------------------------------- the message
# The msgids below are the English sentences; their translations are in locales/<language>/LC_MESSAGES/messages.po
# (see language.py). Times and dates are worded with Babel's CLDR data in the caller's time zone.


def availability_message(answer: Availability, now: datetime, time_zone: str | None = None,
                         language: str = SOURCE) -> str:
    """One plain sentence for `answer` in `language`, times in `time_zone`; deterministic given `now`."""
    opening = None
    if answer.status == "closed":
        # Outside hours upstream sets NextTransitionTime to the next opening too; use it when the window is missing.
        opening = answer.next_opening_time or answer.next_transition_time
    today = local(answer.org_now(now), zone(time_zone)).date()
    return _sentence(answer.status, answer.average_wait_seconds, opening, today, time_zone, language)


@lru_cache(maxsize=4096)
def _sentence(status: Status, wait: int | None, opening: datetime | None, today: date, time_zone: str | None,
              language: str) -> str:
    # Memoized: a cache hit says the same sentence again without wording it anew (the hit's CPU budget).
    words = translations(language)
    if status != "closed":
        return _open_sentence(words, status, wait)
    if opening is None:
        return words.gettext("The queue is closed right now.")
    from babel.dates import format_date, format_skeleton

    at = local(opening, zone(time_zone))
    time = spoken_time(opening, time_zone, language)
    days = (at.date() - today).days
    if days <= 0:
        return words.gettext("The queue is closed; it opens again today at {time}.").format(time=time)
    if days == 1:
        return words.gettext("The queue is closed; it opens again tomorrow at {time}.").format(time=time)
    if days < 7:
        weekday = format_date(at, "EEEE", locale=language)
        return words.gettext("The queue is closed; it opens again on {weekday} at {time}.").format(
            weekday=weekday, time=time)
    day = format_skeleton("MMMMd" if at.year == today.year else "yMMMMd", at, locale=language)
    return words.gettext("The queue is closed; it opens again on {date} at {time}.").format(date=day, time=time)


def spoken_time(moment: datetime, time_zone: str | None, language: str) -> str:
    """The time of day of `moment` as `language` says it (CLDR short form) in `time_zone`, marked UTC without one."""
    from babel.dates import format_time

    where = zone(time_zone)
    time: str = format_time(local(moment, where), "short", locale=language)
    if where is UTC:
        time += " UTC"  # no zone asked for (or UTC itself): say which clock the time is on
    return time


def _open_sentence(words: NullTranslations, status: Status, wait: int | None) -> str:
    if status == "available":
        if wait is None:
            return words.gettext("A representative is available now.")
        if wait < 60:
            return words.gettext("A representative is available now; the estimated wait is less than a minute.")
        minutes = math.ceil(wait / 60)
        if minutes < 120:
            return words.ngettext(
                "A representative is available now; the estimated wait is about {count} minute.",
                "A representative is available now; the estimated wait is about {count} minutes.",
                minutes).format(count=minutes)
        hours = round(minutes / 60)
        return words.ngettext(
            "A representative is available now; the estimated wait is about {count} hour.",
            "A representative is available now; the estimated wait is about {count} hours.",
            hours).format(count=hours)
    if wait is None:
        return words.gettext("The queue is open but no representative is free right now.")
    if wait < 60:
        return words.gettext(
            "The queue is open but no representative is free right now; the estimated wait is less than a minute.")
    minutes = math.ceil(wait / 60)
    if minutes < 120:
        return words.ngettext(
            "The queue is open but no representative is free right now; the estimated wait is about {count} minute.",
            "The queue is open but no representative is free right now; the estimated wait is about {count} minutes.",
            minutes).format(count=minutes)
    hours = round(minutes / 60)
    return words.ngettext(
        "The queue is open but no representative is free right now; the estimated wait is about {count} hour.",
        "The queue is open but no representative is free right now; the estimated wait is about {count} hours.",
        hours).format(count=hours)
