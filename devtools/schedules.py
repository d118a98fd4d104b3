"""Timer schedules in the two forms Azure's timer trigger accepts, read as it reads them.

Azure/azure-webjobs-sdk-extensions `src/WebJobs.Extensions/Extensions/Timers/Scheduling/TimerSchedule.cs`
(`Create`): the resolved expression is first tried as NCRONTAB (`CronSchedule.TryCreate`: with seconds unless it
has exactly 5 fields), then as a .NET `TimeSpan` (`ConstantSchedule`: a run every that long, counted from the
previous one); anything else stops the function from loading. NCRONTAB is narrower than cron as croniter reads
it (no `?`, `L`, `W`, `#` or `@hourly`, day of week 0-6 only, day of month and day of week both required to
match), so an expression is checked against NCrontab's grammar here before croniter computes its occurrences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Schedule", "ScheduleError", "parse_schedule"]


class ScheduleError(ValueError):
    """The expression is neither NCRONTAB nor a TimeSpan Azure would accept."""


# NCrontab's fields (CrontabFieldKind): name, lowest, highest, and the names it reads in place of numbers.
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_FIELDS = (("second", 0, 59, ()), ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day", 1, 31, ()),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 6, _DAYS))
# .NET TimeSpan.TryParse, invariant culture: "d", "[d.]hh:mm[:ss[.fffffff]]" or "d:hh:mm:ss[.fffffff]".
_TIMESPAN = re.compile(r"(?P<sign>-)?(?:(?P<days>\d{1,8})(?:\.|:(?=\d{1,2}:\d{1,2}:)))?"
                       r"(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})(?::(?P<seconds>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?)?")
_DAYS_ONLY = re.compile(r"(?P<sign>-)?(?P<days>\d{1,8})")


@dataclass(frozen=True)
class Schedule:
    """A timer's schedule: NCRONTAB (`cron`, in croniter's numeric form) or a constant `interval`."""

    expression: str
    cron: str | None = None
    interval: timedelta | None = None

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence after `moment` (UTC, as Azure evaluates schedules on Linux Consumption and Flex)."""
        if self.interval is not None:
            return moment + self.interval
        from croniter import croniter

        # day_or=False: NCrontab wants the day of month and the day of week to match, not either.
        following: datetime = croniter(self.cron, moment, second_at_beginning=True, day_or=False).get_next(datetime)
        return following

    def occurrence_key(self, due: datetime) -> datetime:
        """What instances of one app agree an occurrence is: the cron time itself, or for an interval the start of
        the window of that length (counted from the epoch) the run falls in, as each instance counts from its own
        start."""
        if self.interval is None:
            return due
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        return epoch + self.interval * ((due - epoch) // self.interval)


def parse_schedule(expression: str) -> Schedule:
    """The schedule `expression` stands for (setting references already resolved), or `ScheduleError`."""
    fields = expression.split()
    if len(fields) in (5, 6):
        cron = _cron(fields if len(fields) == 6 else ["0", *fields])
        if cron is not None:
            return Schedule(expression, cron=cron)
    interval = _timespan(expression)
    if interval is None:
        raise ScheduleError(f"The schedule expression '{expression}' was not recognized as a valid cron expression "
                            "or timespan string.")
    if interval <= timedelta(0):
        raise ScheduleError(f"The schedule '{expression}' is a TimeSpan of {interval}: Azure would run the function "
                            "back to back without pause.")
    return Schedule(expression, interval=interval)


def _cron(fields: list[str]) -> str | None:
    """Six NCRONTAB fields in croniter's numeric form, or None when NCrontab would not parse them."""
    numeric = []
    for text, (_, lowest, highest, names) in zip(fields, _FIELDS, strict=True):
        parts = []
        for item in text.split(","):
            part = _cron_item(item, lowest, highest, names)
            if part is None:
                return None
            parts.append(part)
        numeric.append(",".join(parts))
    return " ".join(numeric)


def _cron_item(item: str, lowest: int, highest: int, names: tuple[str, ...]) -> str | None:
    """One item of a field's list (`*`, `n`, `a-b`, each with an optional `/step`), as NCrontab's
    CrontabFieldImpl.InternalParse reads it; `n/step` means from n to the field's end."""
    body, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return None
    suffix = f"/{int(step)}" if slash else ""
    if body == "*":
        return "*" + suffix
    first, dash, last = body.partition("-")
    start, end = _cron_value(first, names, lowest), _cron_value(last, names, lowest) if dash else None
    if start is None or (dash and end is None):
        return None
    if end is None:
        end = highest if slash else start
    if not lowest <= start <= end <= highest:
        return None
    return (f"{start}" if start == end and not slash else f"{start}-{end}") + suffix


def _cron_value(text: str, names: tuple[str, ...], lowest: int) -> int | None:
    if text.isdigit() and text.isascii():
        return int(text)
    lowered = text.lower()
    if len(lowered) >= 3:
        for index, name in enumerate(names):
            if name.startswith(lowered):
                return index + lowest
    return None


def _timespan(text: str) -> timedelta | None:
    """`text` as .NET's TimeSpan.TryParse reads it (hours under 24, minutes and seconds under 60), else None."""
    text = text.strip()
    match = _TIMESPAN.fullmatch(text)
    if match is None:
        days_only = _DAYS_ONLY.fullmatch(text)
        if days_only is None:
            return None
        span = timedelta(days=int(days_only["days"]))
        return -span if days_only["sign"] else span
    hours, minutes = int(match["hours"]), int(match["minutes"])
    seconds = int(match["seconds"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    span = timedelta(days=int(match["days"] or 0), hours=hours, minutes=minutes, seconds=seconds,
                     microseconds=int((match["fraction"] or "0").ljust(7, "0")) / 10)
    return -span if match["sign"] else span
