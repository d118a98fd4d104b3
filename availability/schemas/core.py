"""What the shapes share: the limits and patterns a request is held to, the node builders every family uses
(a GUID, a 32-bit integer, a UTC time, a status) and the two functions that turn nodes into documents."""

from __future__ import annotations

from typing import Any, get_args

__all__ = [
    "ALIAS_PATTERN",
    "CALLBACK_PATTERN",
    "DELIVERY_HEADER",
    "DIALECT",
    "EXAMPLE_CONVERSATION",
    "EXAMPLE_QUEUE",
    "EXAMPLE_SUBSCRIPTION",
    "EXAMPLE_WORKSTREAM",
    "GUID",
    "GUID_PATTERN",
    "INT32",
    "INTEGER_PATTERN",
    "INT_MAX",
    "INT_MIN",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_CALLBACK_LENGTH",
    "MAX_CONTEXT_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_SUBSCRIPTIONS_PER_WORKSTREAM",
    "MAX_VALUE_LENGTH",
    "NOT_BLANK_PATTERN",
    "NULLABLE_INT",
    "NULLABLE_WHEN",
    "SCHEMA_PREFIX",
    "SIGNATURE_HEADER",
    "STATUS_MEANING",
    "STATUS_NAMES",
    "TEXT_PATTERN",
    "TIMED_SIGNATURE_HEADER",
    "TYPE_PATTERN",
    "WHEN",
    "nullable_status_field",
    "public",
    "ref",
    "status_field",
    "statuses",
]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PREFIX = "#/components/schemas/"

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 25
MAX_CONTEXT_ITEMS = 50
MAX_NAME_LENGTH = 100
MAX_VALUE_LENGTH = 1_000
# Dataverse Integer columns are 32-bit signed.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# An alias of PUBLIC_AVAILABILITY: the name a web page asks for its check by.
ALIAS_PATTERN = r"^[a-z0-9-]{1,40}$"
# A change subscription's callback: an absolute http(s) URL of a host name or IPv4 address, an optional port
# (1-65535), then a path and query of URL characters (RFC 3986, %-escapes whole; no fragment, no user name or
# password). The scheme and the address it resolves to are checked beyond this (notifications/guard.py).
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
CALLBACK_PATTERN = (f"^[Hh][Tt][Tt][Pp][Ss]?://{_LABEL}(?:\\.{_LABEL})*(?::{_PORT})?"
                    "(?:[/?](?:[-A-Za-z0-9._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)?$")
MAX_CALLBACK_LENGTH = 2048
MAX_SUBSCRIPTIONS_PER_WORKSTREAM = 100
# The headers a delivery to a callback carries: its id (the same on every retry), the body's signature, and the
# signature over the time it was sent, its id and its body.
DELIVERY_HEADER, SIGNATURE_HEADER, TIMED_SIGNATURE_HEADER = ("x-availability-delivery", "x-availability-signature",
                                                             "x-availability-signature-timed")
# "Not blank", spelled so Python's `re` (the fuzzer's generator) and Rust's regex (the validator) agree:
# Python counts \x1c-\x1f as whitespace, Rust does not.
NOT_BLANK_PATTERN = r"[^\s\x1c-\x1f]"
# `type` of a long-form context item: "text" or "integer" in any letter case, as makers type it.
TEXT_PATTERN = "^[Tt][Ee][Xx][Tt]$"
INTEGER_PATTERN = "^[Ii][Nn][Tt][Ee][Gg][Ee][Rr]$"
TYPE_PATTERN = "^([Tt][Ee][Xx][Tt]|[Ii][Nn][Tt][Ee][Gg][Ee][Rr])$"

# The IDs the examples of both documents use.
EXAMPLE_WORKSTREAM = "5c0d7a1e-6b2f-4e8a-9d3c-1f2e3a4b5c6d"
EXAMPLE_CONVERSATION = "b7e3c9d2-4a1f-4c8e-a6b5-0d9f8e7c6b5a"
EXAMPLE_QUEUE = "85e55877-f27a-e911-a81a-000d3a1ca610"
EXAMPLE_SUBSCRIPTION = "0f8e2d1c-3b4a-4c5d-8e6f-7a8b9c0d1e2f"


def ref(name: str) -> dict[str, str]:
    """A reference to the component `name`."""
    return {"$ref": SCHEMA_PREFIX + name}


def public(node: Any) -> Any:
    """`node` without its private `_` keys: what the validator and the OpenAPI document see (a fresh copy)."""
    if isinstance(node, dict):
        return {key: public(value) for key, value in node.items() if not key.startswith("_")}
    if isinstance(node, list):
        return [public(value) for value in node]
    return node


GUID: dict[str, Any] = {
    "type": "string",
    "format": "uuid",
    "pattern": GUID_PATTERN,
    "_messages": {"*": "{subject} must be a GUID such as 00000000-0000-0000-0000-000000000000."},
}
_INT32_MESSAGE = f"{{subject}} must be a 32-bit integer ({INT_MIN} to {INT_MAX})."
INT32: dict[str, Any] = {
    "type": "integer",
    "format": "int32",
    "minimum": INT_MIN,
    "maximum": INT_MAX,
    "_messages": {"minimum": _INT32_MESSAGE, "maximum": _INT32_MESSAGE},
}
WHEN: dict[str, Any] = {"type": "string", "format": "date-time"}
NULLABLE_WHEN: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_INT: dict[str, Any] = {"type": ["integer", "null"], "format": "int32"}
STATUS_NAMES = {"available": "Available", "busy": "Busy", "closed": "Closed"}
STATUS_MEANING = ("closed = outside the queue's operating hours; busy = open but no representative is free; "
                  "available = open and a representative is free.")


def statuses() -> list[str]:
    """The statuses an answer can have, as the answer model defines them."""
    from ..answer import Status

    return list(get_args(Status))


def status_field() -> dict[str, Any]:
    """An answer's `status`."""
    return {"type": "string", "enum": statuses(), "title": "Status", "examples": ["available"],
            "_enum_names": {status: STATUS_NAMES[status] for status in statuses()}, "description": STATUS_MEANING}


def nullable_status_field() -> dict[str, Any]:
    """A `status` that is null where no answer was had."""
    return {"type": ["string", "null"], "enum": [*statuses(), None], "title": "Status",
            "_enum_names": {status: STATUS_NAMES[status] for status in statuses()}, "description": STATUS_MEANING}
