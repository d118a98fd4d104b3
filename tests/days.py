"""Days for the sandbox clock, computed from today: a test never pins a calendar day (it passes, or it hides a mix-up
of the org's clock and the gateway's until it does).

A clock-sensitive test runs with the sandbox on a day well before today and on one well after (`SIDES`), so that
neither direction of a mix-up can hide: "the org's times are in the past" and "in the future" break different code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SIDES = (-400, 400)  # days from today
PAST_SIDE, FUTURE_SIDE = SIDES
SIDE_NAMES = ("past", "future")


WEEKDAYS = range(5)
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)


def sandbox_day(offset_days: int, *, on: Iterable[int] = range(7), today: date | None = None) -> date:
    """A day about `offset_days` from today, moved further away from today until it falls `on` one of the given
    weekdays (0 = Monday) and outside 24 December–1 January (the scenarios' holidays)."""
    allowed = set(on)
    day = (today or datetime.now(UTC).date()) + timedelta(days=offset_days)
    step = timedelta(days=1 if offset_days >= 0 else -1)
    while day.weekday() not in allowed or (day.month, day.day) >= (12, 24) or (day.month, day.day) == (1, 1):
        day += step
    return day


def at(day: date, clock: str, zone: str = "UTC") -> str:
    """`clock` ("07:59:55") on `day` in the IANA `zone`, as the sandbox clock's UTC ISO string."""
    local = datetime.combine(day, time.fromisoformat(clock), ZoneInfo(zone))
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


PAST, FUTURE = (sandbox_day(offset) for offset in SIDES)
