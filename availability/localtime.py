"""Time zones and the wording of local times: one check of IANA names, one way to say which day a time falls on.

Requests (`timeZone`), query parameters (`tz`), the schedule's `WEBSITE_TIME_ZONE` and the dashboard all name
zones; they are validated here, shape first, so odd input never reaches the file system behind zoneinfo.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

MAX_ZONE_NAME = 64
# IANA names are ASCII path segments.
ZONE_NAME_PATTERN = r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*"
_ZONE_NAME = re.compile(ZONE_NAME_PATTERN)

Day = Literal["today", "tomorrow", "this-week", "later"]


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The IANA names of the tz database the app ships (tzdata), sorted: the time zones requests may name.

    tzdata's list rather than the machine's: the same names on every host, and none of the aliases a system
    folder adds ("localtime", "posix/...").
    """
    try:
        from importlib import resources

        text = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    except (ImportError, OSError):
        from zoneinfo import available_timezones

        return tuple(sorted(available_timezones()))
    return tuple(sorted(text.split()))


@lru_cache(maxsize=1)
def _zone_set() -> frozenset[str]:
    return frozenset(zone_names())


def is_zone_name(name: object) -> bool:
    """True when `name` is one of `zone_names()` (not a directory such as "America", not a system alias)."""
    if not isinstance(name, str) or len(name) > MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name):
        return False
    return name in _zone_set()


def zone(name: str | None) -> tzinfo:
    """The zone `name` stands for; UTC for None, "UTC" or a name that is not a zone."""
    if not name or name.upper() in ("UTC", "ETC/UTC") or not is_zone_name(name):
        return UTC
    return ZoneInfo(name)


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive moment is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local(moment: datetime, where: tzinfo) -> datetime:
    """`moment` as a wall-clock time in `where`."""
    return utc(moment).astimezone(where)


def day_of(moment: datetime, now: datetime, where: tzinfo) -> Day:
    """Which day `moment` falls on, seen from `now`, both in `where`: the shared cut of every "when" wording."""
    day: date = local(moment, where).date()
    today = local(now, where).date()
    if day == today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    return "this-week" if abs((day - today).days) < 7 else "later"
