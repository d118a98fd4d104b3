"""Query parameters of the GET endpoints: names checked, GUIDs, time zones, times and limits, each fault an
`InvalidRequest` naming its parameter."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from ..checks import is_guid
from ..errors import InvalidRequest
from ..localtime import is_zone_name, utc
from ..snapshots import HistoryQuery
from ..snapshots.rows import DEFAULT_LIMIT, DEFAULT_WINDOW, EPOCH, MAX_LIMIT

HISTORY_PARAMETERS = ("workstreamId", "queueId", "from", "to", "limit")
WORKSTREAMS_PARAMETERS = ("channel",)
AUTH_PARAMETERS = ("code",)  # the function key, read by the host
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_history_query(params: Mapping[str, str], now: Callable[[], datetime]) -> HistoryQuery:
    """Validate `GET /api/snapshots` parameters; every fault is an `InvalidRequest` naming its parameter.

    Without `to` the range ends at `now()`: the org's clock, on which the rows' slots are. A `from` before 1970
    means from 1970: no row is older (the RowKey holds Unix seconds). A `from` after `to` is an empty range.
    """
    check_parameter_names(params, HISTORY_PARAMETERS)
    workstream_id = guid_parameter(params, "workstreamId")
    queue_id = guid_parameter(params, "queueId")
    start = _time_parameter(params, "from", end_of_day=False)
    end = _time_parameter(params, "to", end_of_day=True)
    if end is None:
        end = utc(now())
    if start is None:
        start = end - DEFAULT_WINDOW
    start = max(start, EPOCH)
    limit = DEFAULT_LIMIT
    raw = params.get("limit")
    if raw is not None:
        text = raw.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6 and 1 <= int(text) <= MAX_LIMIT):
            raise InvalidRequest(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", target="limit")
        limit = int(text)
    return HistoryQuery(start=start, end=end, limit=limit, workstream_id=workstream_id, queue_id=queue_id)


def parse_workstreams_query(params: Mapping[str, str]) -> str | None:
    """The `channel` of `GET /api/workstreams` (None: every channel), spelt as the list names it; any fault is an
    `InvalidRequest` naming it."""
    from ..workstreams.channels import CHANNEL_NAMES

    check_parameter_names(params, WORKSTREAMS_PARAMETERS)
    channel = params.get("channel")
    if channel is not None and channel not in CHANNEL_NAMES:
        raise InvalidRequest(f"'channel' must be one of {', '.join(CHANNEL_NAMES)}.", target="channel")
    return channel


def check_parameter_names(params: Mapping[str, str], expected: Sequence[str]) -> None:
    """Refuse query parameters other than `expected` (and the function key), naming every unknown one."""
    unknown = sorted(name for name in params if name not in (*expected, *AUTH_PARAMETERS))
    if unknown:
        shown = ", ".join(f"'{name[:100]}'" for name in unknown[:10])
        raise InvalidRequest(f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {shown}; expected "
                             f"{', '.join(expected)}.", target=unknown[0][:100])


def guid_parameter(params: Mapping[str, str], name: str, *, blank_is_absent: bool = False) -> str | None:
    """The GUID query parameter `name`, lowercase; None when absent (or blank, with `blank_is_absent`)."""
    value = params.get(name)
    if value is None or (blank_is_absent and not value.strip()):
        return None
    value = value.strip()
    if not is_guid(value):
        raise InvalidRequest(f"'{name}' must be a GUID such as 00000000-0000-0000-0000-000000000000.",
                             target=name)
    return str(UUID(value))


def zone_parameter(params: Mapping[str, str], name: str) -> str | None:
    """The IANA time zone query parameter `name`; None when absent or blank."""
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if not is_zone_name(value):
        raise InvalidRequest(f"'{name}' must be an IANA time zone name such as Europe/Paris.", target=name)
    return value


def _time_parameter(params: Mapping[str, str], name: str, *, end_of_day: bool) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    text = value.strip()
    problem = (f"'{name}' must be an ISO-8601 time with 'Z' or an offset (2026-11-24T10:00:00Z) "
               f"or a date (2026-11-24).")
    if len(text) > 40:
        raise InvalidRequest(problem, target=name)
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(problem, target=name) from None
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # A day given as `to` means the whole of it.
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    # An unencoded '+' of an offset arrives as a space.
    text = re.sub(r" (\d{2}(?::?\d{2})?)$", r"+\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(problem, target=name) from None
    if moment.tzinfo is None:
        raise InvalidRequest(problem, target=name)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(problem, target=name) from None
