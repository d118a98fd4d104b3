"""The answer: one normalized upstream answer (`Availability`), its status and the sentence a bot can say.

`status`, `canEscalate` and `message` derive from the upstream facts; times are UTC and end in `Z`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .localtime import UTC, day_of, local, utc, zone

__all__ = ["Availability", "Status", "Source", "availability_message", "format_time"]

Status = Literal["available", "busy", "closed"]
Source = Literal["live", "cache", "stale"]


def format_time(moment: datetime | None, milliseconds: bool = False) -> str | None:
    """ISO-8601 UTC ending in `Z`; seconds precision, or milliseconds when asked and non-zero."""
    if moment is None:
        return None
    moment = utc(moment)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if milliseconds and moment.microsecond // 1000:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


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

    def message(self, now: datetime, time_zone: str | None = None) -> str:
        """The sentence a bot can say, with times worded in `time_zone` (UTC when None)."""
        return availability_message(self, now, time_zone)

    def to_json(self, now: datetime, time_zone: str | None = None) -> dict[str, Any]:
        """The contract's answer object, with `message` worded for `time_zone` and `ageSeconds` at `now`."""
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
            "message": availability_message(self, now, time_zone),
            "retrievedAt": format_time(self.retrieved_at, milliseconds=True),
            "source": self.source,
            "ageSeconds": self.age_seconds(now),
        }


# ---------------------------------------------------------------------------------------- the message

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def _wait_phrase(seconds: int | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return "; the estimated wait is less than a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 120:
        return f"; the estimated wait is about {minutes} minute{'s' if minutes != 1 else ''}"
    return f"; the estimated wait is about {round(minutes / 60)} hours"


def _when_phrase(moment: datetime, now: datetime, time_zone: str | None) -> str:
    where = zone(time_zone)
    at = local(moment, where)
    abbreviation = at.tzname() or ""
    # Zones without a letter abbreviation ("+04") read better by name.
    label = "UTC" if where is UTC else (abbreviation if abbreviation.isalpha() else f"({time_zone})")
    clock = f"{at:%H:%M} {label}"
    day = day_of(moment, now, where)
    if day == "today":
        return f"today at {clock}"
    if day == "tomorrow":
        return f"tomorrow at {clock}"
    words = f"{_DAYS[at.weekday()]} {at.day} {_MONTHS[at.month - 1]}"
    if at.year != local(now, where).year:
        words += f" {at.year}"
    return f"on {words} at {clock}"


def availability_message(answer: Availability, now: datetime, time_zone: str | None = None) -> str:
    """One plain English sentence for `answer`; deterministic given `now` and `time_zone`."""
    status = answer.status
    if status == "available":
        return f"A representative is available now{_wait_phrase(answer.average_wait_seconds)}."
    if status == "busy":
        return f"The queue is open but no representative is free right now{_wait_phrase(answer.average_wait_seconds)}."
    # Outside hours upstream sets NextTransitionTime to the next opening too; use it when the window is missing.
    opening = answer.next_opening_time or answer.next_transition_time
    if opening is None:
        return "The queue is closed right now."
    return f"The queue is closed; it opens again {_when_phrase(opening, now, time_zone)}."
