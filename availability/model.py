"""Request and answer types: caller JSON → checks → upstream bodies; upstream payload → `Availability`.

Parsing is strict on the caller's side (every fault names its field in `target`) and tolerant on the
upstream side (names in any case, sentinel dates, older payloads without some fields).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal, Mapping
from zoneinfo import ZoneInfo

from .errors import InvalidRequest, UpstreamUnavailable

__all__ = [
    "ContextItem",
    "BeforeConversationCheck",
    "ForConversationCheck",
    "Check",
    "Availability",
    "parse_before_conversation",
    "parse_for_conversation",
    "parse_upstream",
    "availability_message",
    "format_time",
    "MAX_CONTEXT_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_LENGTH",
]

MAX_CONTEXT_ITEMS = 50
MAX_NAME_LENGTH = 100
MAX_VALUE_LENGTH = 1_000
# Dataverse Integer columns are 32-bit signed.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

API_VERSION = "1.0"
TEXT_DATATYPE = "192350000"
INTEGER_DATATYPE = "192350001"

ItemType = Literal["text", "integer"]
Status = Literal["available", "busy", "closed"]
Source = Literal["live", "cache", "stale"]

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# IANA names are ASCII path segments; checking the shape first keeps odd input away from the file system.
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_MAX_ZONE_NAME = 64


# ---------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class ContextItem:
    """One custom context item, as route-to-queue rules see it."""

    name: str
    value: str | int
    type: ItemType = "text"
    is_displayable: bool = True

    def upstream_entry(self) -> dict[str, Any]:
        """The item's entry inside `CustomContextItems`."""
        datatype = INTEGER_DATATYPE if self.type == "integer" else TEXT_DATATYPE
        return {"value": self.value, "isDisplayable": self.is_displayable, "datatype": datatype}


def _context_items_json(items: tuple[ContextItem, ...]) -> str:
    # Upstream wants the object double-encoded: a JSON string inside the JSON body.
    return json.dumps({item.name: item.upstream_entry() for item in items})


def _context_key(items: tuple[ContextItem, ...]) -> tuple[tuple[str, str, str | int, bool], ...]:
    # Order does not reach upstream (it becomes a JSON object), so it must not split the cache.
    return tuple(sorted(((i.name, i.type, i.value, i.is_displayable) for i in items), key=repr))


@dataclass(frozen=True)
class BeforeConversationCheck:
    """Where would a new customer of this workstream land, and is it staffed?"""

    action: ClassVar[str] = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"

    workstream_id: str
    context_items: tuple[ContextItem, ...] = ()
    engagement_context: tuple[tuple[str, str], ...] = ()
    time_zone: str | None = None

    def cache_key(self) -> tuple[Any, ...]:
        """Everything that can change the upstream answer; `time_zone` only rewords `message`."""
        return (
            "before-conversation",
            self.workstream_id.lower(),
            _context_key(self.context_items),
            tuple(sorted(self.engagement_context)),
        )

    def to_upstream_body(self) -> dict[str, str]:
        """The action's request body, exactly as upstream.md §1 describes it."""
        body = {"ApiVersion": API_VERSION, "LiveWorkStreamId": self.workstream_id}
        if self.context_items:
            body["CustomContextItems"] = _context_items_json(self.context_items)
        if self.engagement_context:
            body["ChannelEngagementContext"] = json.dumps(dict(self.engagement_context))
        return body


@dataclass(frozen=True)
class ForConversationCheck:
    """Is the queue of this ongoing conversation staffed (the AI-agent escalation case)?"""

    action: ClassVar[str] = "CCaaS_GetRepresentativeAvailabilityForConversation"

    conversation_id: str
    context_items: tuple[ContextItem, ...] = ()
    time_zone: str | None = None

    def cache_key(self) -> tuple[Any, ...]:
        """Everything that can change the upstream answer; `time_zone` only rewords `message`."""
        return ("for-conversation", self.conversation_id.lower(), _context_key(self.context_items))

    def to_upstream_body(self) -> dict[str, str]:
        """The action's request body, exactly as upstream.md §1 describes it."""
        body = {"ApiVersion": API_VERSION, "ConversationId": self.conversation_id}
        if self.context_items:
            body["CustomContextItems"] = _context_items_json(self.context_items)
        return body


Check = BeforeConversationCheck | ForConversationCheck


# ----------------------------------------------------------------------------------- parsing the requests


def _at(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if prefix else field


def _shown(name: str) -> str:
    # Names end up in targets and messages: keep a runaway key from flooding the error body.
    return name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "…"


def _check_fields(obj: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    # Unknown fields are refused rather than ignored: a maker's "workstreamID" typo must not pass silently.
    for key in obj:
        if key in allowed:
            continue
        hint = next((f"; did you mean '{a}'" for a in allowed if a.lower() == key.lower()), "")
        raise InvalidRequest(
            f"Unknown field '{_shown(key)}'{hint}. Allowed fields: {', '.join(allowed)}.",
            target=_at(prefix, _shown(key)),
        )


def _require_object(obj: Any, prefix: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        where = f"Each entry of {prefix.split('[')[0]}" if prefix else "The request body"
        raise InvalidRequest(f"{where} must be a JSON object.", target=prefix or None)
    return obj


def _guid(obj: Mapping[str, Any], field: str, prefix: str) -> str:
    value = obj.get(field)
    if value is None:
        raise InvalidRequest(f"{field} is required.", target=_at(prefix, field))
    if not isinstance(value, str) or not _GUID.fullmatch(value):
        raise InvalidRequest(
            f"{field} must be a GUID such as 00000000-0000-0000-0000-000000000000.", target=_at(prefix, field)
        )
    return value.lower()


def _mapping(obj: Mapping[str, Any], field: str, prefix: str, what: str) -> Mapping[str, Any]:
    value = obj.get(field)
    if value is None:
        # Low-code tools often send null for an optional field left empty.
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field} must be a JSON object of {what}.", target=_at(prefix, field))
    if len(value) > MAX_CONTEXT_ITEMS:
        raise InvalidRequest(f"{field} may hold at most {MAX_CONTEXT_ITEMS} entries.", target=_at(prefix, field))
    for name in value:
        if not name.strip():
            raise InvalidRequest(f"Names in {field} must not be empty.", target=_at(prefix, field))
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequest(
                f"Names in {field} may be at most {MAX_NAME_LENGTH} characters long.", target=_at(prefix, field)
            )
    return value


def _text(value: str, field: str, target: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidRequest(f"{field} may be at most {MAX_VALUE_LENGTH} characters long.", target=target)
    return value


def _integer(value: int, field: str, target: str) -> int:
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidRequest(f"{field} must be a 32-bit integer ({INT_MIN} to {INT_MAX}).", target=target)
    return value


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _context_item(name: str, raw: Any, target: str) -> ContextItem:
    shown = f"Context item '{_shown(name)}'"
    if isinstance(raw, str):
        return ContextItem(name, _text(raw, shown, target), "text", True)
    if _is_integer(raw):
        return ContextItem(name, _integer(raw, shown, target), "integer", True)
    if not isinstance(raw, dict):
        raise InvalidRequest(
            f"{shown} must be a string, an integer, or an object with value, type and isDisplayable.",
            target=target,
        )
    _check_fields(raw, ("value", "type", "isDisplayable"), target)
    value, declared, displayable = raw.get("value"), raw.get("type"), raw.get("isDisplayable", True)

    if declared is not None:
        if not isinstance(declared, str) or declared.lower() not in ("text", "integer"):
            raise InvalidRequest(f"{shown}: type must be \"text\" or \"integer\".", target=f"{target}.type")
        declared = declared.lower()
    if not isinstance(displayable, bool):
        raise InvalidRequest(f"{shown}: isDisplayable must be true or false.", target=f"{target}.isDisplayable")

    value_target = f"{target}.value"
    if value is None:
        raise InvalidRequest(f"{shown}: value is required.", target=value_target)
    if isinstance(value, str) and declared in (None, "text"):
        return ContextItem(name, _text(value, shown, value_target), "text", displayable)
    if _is_integer(value) and declared in (None, "integer"):
        return ContextItem(name, _integer(value, shown, value_target), "integer", displayable)
    expected = {"text": "a string", "integer": "an integer"}.get(declared or "", "a string or an integer")
    raise InvalidRequest(f"{shown}: value must be {expected}.", target=value_target)


def _context_items(obj: Mapping[str, Any], prefix: str) -> tuple[ContextItem, ...]:
    items = _mapping(obj, "contextItems", prefix, "context items")
    return tuple(_context_item(name, raw, _at(prefix, f"contextItems.{name}")) for name, raw in items.items())


def _engagement_context(obj: Mapping[str, Any], prefix: str) -> tuple[tuple[str, str], ...]:
    attributes = _mapping(obj, "engagementContext", prefix, "string attributes")
    pairs = []
    for name, value in attributes.items():
        target = _at(prefix, f"engagementContext.{name}")
        if not isinstance(value, str):
            raise InvalidRequest(f"Engagement context attribute '{_shown(name)}' must be a string.", target=target)
        pairs.append((name, _text(value, f"Engagement context attribute '{_shown(name)}'", target)))
    return tuple(pairs)


def _time_zone(obj: Mapping[str, Any], prefix: str) -> str | None:
    name = obj.get("timeZone")
    if name is None:
        return None
    target = _at(prefix, "timeZone")
    problem = InvalidRequest("timeZone must be an IANA time zone name such as Europe/Paris.", target=target)
    if not isinstance(name, str) or len(name) > _MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name):
        raise problem
    try:
        ZoneInfo(name)
    except Exception:
        # Unknown names, directories ("America") and anything else zoneinfo refuses.
        raise problem from None
    return name


def parse_before_conversation(obj: Any, prefix: str = "") -> BeforeConversationCheck:
    """Validate a before-conversation body; `prefix` (e.g. "checks[3]") is put in front of every target."""
    body = _require_object(obj, prefix)
    _check_fields(body, ("workstreamId", "contextItems", "engagementContext", "timeZone"), prefix)
    return BeforeConversationCheck(
        workstream_id=_guid(body, "workstreamId", prefix),
        context_items=_context_items(body, prefix),
        engagement_context=_engagement_context(body, prefix),
        time_zone=_time_zone(body, prefix),
    )


def parse_for_conversation(obj: Any, prefix: str = "") -> ForConversationCheck:
    """Validate a for-conversation body; `prefix` is put in front of every target."""
    body = _require_object(obj, prefix)
    _check_fields(body, ("conversationId", "contextItems", "timeZone"), prefix)
    return ForConversationCheck(
        conversation_id=_guid(body, "conversationId", prefix),
        context_items=_context_items(body, prefix),
        time_zone=_time_zone(body, prefix),
    )


# ------------------------------------------------------------------------------------------------ answer


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def format_time(moment: datetime | None, milliseconds: bool = False) -> str | None:
    """ISO-8601 UTC ending in `Z`; seconds precision, or milliseconds when asked and non-zero."""
    if moment is None:
        return None
    moment = _utc(moment)
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

    def age_seconds(self, now: datetime) -> float:
        """now − retrieved_at in seconds, never negative (clocks of two hosts may disagree slightly)."""
        return max(0.0, round((_utc(now) - _utc(self.retrieved_at)).total_seconds(), 3))

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


def _zone(time_zone: str | None) -> ZoneInfo | timezone:
    if not time_zone:
        return timezone.utc
    try:
        return ZoneInfo(time_zone)
    except Exception:
        # Parsing already refused bad names; a wording problem must never fail an answer.
        return timezone.utc


def _when_phrase(moment: datetime, now: datetime, time_zone: str | None) -> str:
    zone = _zone(time_zone)
    local, today = _utc(moment).astimezone(zone), _utc(now).astimezone(zone).date()
    abbreviation = local.tzname() or ""
    # Zones without a letter abbreviation ("+04") read better by name.
    label = "UTC" if zone is timezone.utc else (abbreviation if abbreviation.isalpha() else f"({time_zone})")
    clock = f"{local:%H:%M} {label}"
    if local.date() == today:
        return f"today at {clock}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow at {clock}"
    day = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"
    if local.year != today.year:
        day += f" {local.year}"
    return f"on {day} at {clock}"


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


# --------------------------------------------------------------------------------- parsing upstream


def _malformed() -> UpstreamUnavailable:
    # Never echo the payload: it is upstream's data, not ours to show.
    return UpstreamUnavailable("Dynamics 365 gave an availability answer the gateway could not read.")


def _upstream_bool(fields: Mapping[str, Any], name: str) -> bool:
    value = fields.get(name)
    if not isinstance(value, bool):
        raise _malformed()
    return value


def _upstream_number(fields: Mapping[str, Any], name: str) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _malformed()
    # Dataverse numbers are Int32 or Double; anything beyond is not an answer we can trust (or float()).
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > 2**53:
        raise _malformed()
    return value


def _upstream_int(fields: Mapping[str, Any], name: str) -> int | None:
    value = _upstream_number(fields, name)
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise _malformed()
    return int(value)


def _upstream_time(fields: Mapping[str, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _malformed()
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _malformed() from None
    # 0001-01-01 and 9999-12-31 mean "no such time" whatever their precision or offset; checked before
    # converting to UTC, which would overflow at the edges of the calendar.
    if moment.year in (1, 9999):
        return None
    return _utc(moment).replace(microsecond=0)


def _average_wait(fields: Mapping[str, Any]) -> int | None:
    seconds = _upstream_number(fields, "averagewaittimeinseconds")
    minutes = _upstream_number(fields, "averagewaittime")
    if seconds is not None:
        return round(seconds)
    return None if minutes is None else round(minutes * 60)


def parse_upstream(payload: Any, retrieved_at: datetime) -> Availability:
    """Normalize an action's 200 body; raises `UpstreamUnavailable` when it lacks what the contract needs."""
    if not isinstance(payload, dict):
        raise _malformed()
    # The docs' table says camelCase, their samples PascalCase: match names case-insensitively.
    fields = {key.lower(): value for key, value in payload.items() if isinstance(key, str) and not key.startswith("@")}
    queue_id = fields.get("queueid")
    if not isinstance(queue_id, str) or not _GUID.fullmatch(queue_id.strip()):
        raise _malformed()
    return Availability(
        queue_id=queue_id.strip().lower(),
        within_operating_hours=_upstream_bool(fields, "isqueueavailable"),
        representatives_available=_upstream_bool(fields, "isagentavailable"),
        available_representatives=_upstream_int(fields, "numberofexpertsavailableinqueue"),
        position_in_queue=_upstream_int(fields, "positioninqueue"),
        average_wait_seconds=_average_wait(fields),
        next_transition_time=_upstream_time(fields, "nexttransitiontime"),
        next_opening_time=_upstream_time(fields, "starttimeofnextoperatinghour"),
        next_closing_time=_upstream_time(fields, "endtimeofnextoperatinghour"),
        retrieved_at=_utc(retrieved_at),
    )
