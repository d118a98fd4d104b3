"""Schedule slots: a row's identity is the latest NCRONTAB occurrence at or before the run's start.

A timer that fires a few milliseconds early (12:04:59.998 for 12:05) belongs to the occurrence it fired for:
`timer_slot` takes the next occurrence when the start is at most 5 s before it. Schedules are evaluated in UTC,
as the Functions host does by default, or in the IANA zone `WEBSITE_TIME_ZONE` names (Premium and Dedicated
plans; Azure ignores it on the Consumption plans, where it must stay unset). A name zoneinfo does not know
(a Windows name) is logged and UTC is used. Slot times are stored and shown in UTC either way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from ..errors import ConfigurationError
from ..localtime import is_zone_name, utc, zone

log = logging.getLogger(__name__)

EARLY_FIRE = timedelta(seconds=5)  # a timer start this close before an occurrence belongs to that occurrence


def _cron(schedule: str, start: datetime) -> Any:
    from croniter import croniter

    try:
        return croniter(schedule, start, second_at_beginning=True)
    except (ValueError, KeyError) as exc:  # croniter's errors derive from ValueError
        raise ConfigurationError(message=f"The app setting SNAPSHOT_SCHEDULE is not a valid NCRONTAB expression "
                                         f"({exc}).", setting="SNAPSHOT_SCHEDULE") from None


def schedule_zone(name: str | None) -> tzinfo:
    """The zone NCRONTAB schedules are evaluated in: UTC, or the IANA zone `WEBSITE_TIME_ZONE` names.

    A name zoneinfo does not know (a Windows name such as "W. Europe Standard Time", which Linux apps do not
    take) is logged and UTC is used: the default `0 */5 * * * *` gives the same slots in any zone anyway.
    """
    name = (name or "").strip()
    if not name or name.upper() in ("UTC", "ETC/UTC"):
        return UTC
    if is_zone_name(name):
        return zone(name)
    log.warning("WEBSITE_TIME_ZONE '%s' is not an IANA time zone name: snapshot slots are computed in UTC",
                name[:100])
    return UTC


def schedule_slot(schedule: str, moment: datetime, zone: tzinfo = UTC) -> datetime:
    """The latest occurrence of the NCRONTAB `schedule` (evaluated in `zone`) at or before `moment`.

    Whole seconds, returned in UTC. Strict: 12:04:59.998 is in the 12:00 slot of `0 */5 * * * *`; a timer run
    takes `timer_slot`, which gives a start that early the occurrence it fired for.
    """
    # croniter's get_prev is strictly before its start: start one second past the (truncated) moment so
    # that a moment exactly on an occurrence is its own slot.
    start = utc(moment).replace(microsecond=0) + timedelta(seconds=1)
    return utc(_cron(schedule, start.astimezone(zone)).get_prev(datetime))


def timer_slot(schedule: str, started: datetime, zone: tzinfo = UTC) -> datetime:
    """The slot of a timer run that started at `started`: its `schedule_slot`, or the next occurrence when the
    start is at most `EARLY_FIRE` (5 s) before it and nearer to it (a timer firing a few milliseconds early)."""
    slot = schedule_slot(schedule, started, zone)
    following = next_slot(schedule, slot, zone)
    ahead = following - utc(started)
    if ahead <= EARLY_FIRE and ahead < utc(started) - slot:
        return following
    return slot


def next_slot(schedule: str, slot: datetime, zone: tzinfo = UTC) -> datetime:
    """The first occurrence of `schedule` (evaluated in `zone`) strictly after `slot`, in UTC."""
    return utc(_cron(schedule, utc(slot).replace(microsecond=0).astimezone(zone)).get_next(datetime))


def is_first_slot_of_day(schedule: str, slot: datetime, zone: tzinfo = UTC) -> bool:
    """True when the occurrence before `slot` falls on an earlier UTC day."""
    slot = utc(slot).replace(microsecond=0)
    previous = utc(_cron(schedule, slot.astimezone(zone)).get_prev(datetime))
    return previous.date() < slot.date()
