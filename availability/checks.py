"""The checks callers ask for, and their validation: caller JSON → `BeforeConversationCheck` / `ForConversationCheck`.

Parsing is strict: unknown fields are refused, and every fault is an `InvalidRequest` naming its field in
`target` (prefixed, inside a batch, with the check's place: `checks[3].workstreamId`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from .errors import InvalidRequest
from .localtime import is_zone_name

__all__ = [
    "ContextItem",
    "BeforeConversationCheck",
    "ForConversationCheck",
    "Check",
    "parse_before_conversation",
    "parse_for_conversation",
    "is_guid",
    "MAX_CONTEXT_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_LENGTH",
]

MAX_CONTEXT_ITEMS = 50
MAX_NAME_LENGTH = 100
MAX_VALUE_LENGTH = 1_000
# Dataverse Integer columns are 32-bit signed.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


ItemType = Literal["text", "integer"]

GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = re.compile(GUID_PATTERN)


def is_guid(value: object) -> bool:
    """True for a GUID in its 8-4-4-4-12 hexadecimal form."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None




@dataclass(frozen=True)
class ContextItem:
    """One custom context item, as route-to-queue rules see it."""

    name: str
    value: str | int
    type: ItemType = "text"
    is_displayable: bool = True


def _context_key(items: tuple[ContextItem, ...]) -> tuple[tuple[str, str, str | int, bool], ...]:
    # Order does not reach upstream (it becomes a JSON object), so it must not split the cache.
    return tuple(sorted(((i.name, i.type, i.value, i.is_displayable) for i in items), key=repr))


@dataclass(frozen=True)
class BeforeConversationCheck:
    """Where would a new customer of this workstream land, and is it staffed?"""

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



@dataclass(frozen=True)
class ForConversationCheck:
    """Is the queue of this ongoing conversation staffed (the AI-agent escalation case)?"""

    conversation_id: str
    context_items: tuple[ContextItem, ...] = ()
    time_zone: str | None = None

    def cache_key(self) -> tuple[Any, ...]:
        """Everything that can change the upstream answer; `time_zone` only rewords `message`."""
        return ("for-conversation", self.conversation_id.lower(), _context_key(self.context_items))



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
    if not isinstance(value, str) or not is_guid(value):
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
    if not is_zone_name(name):
        raise InvalidRequest("timeZone must be an IANA time zone name such as Europe/Paris.", target=target)
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
