"""Every request and answer shape of the HTTP API, written once as JSON Schema (draft 2020-12).

The request checks (`checks.py`) validate bodies with these very dicts, and both published documents
(`availability.openapi`: OpenAPI 3.1, whose schema dialect is this one, and the connector's Swagger 2.0) are
built from them, so what the API accepts and what its description says cannot drift apart. Beside JSON Schema
a node may carry private keys, which the validator never sees and the documents drop or translate: `_subject`
and `_messages` word the 400 a value gets there (see `checks.py`), `_visibility` becomes the connector's
`x-ms-visibility`, and `_swagger` holds keys that replace the node's own in Swagger 2.0 (None drops a key),
where JSON Schema says more than Swagger can (`oneOf`, `propertyNames`, `if`/`then`).

Nothing is built at import; `components()` builds the shapes once, on first use.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = [
    "components",
    "public",
    "ref",
    "GUID_PATTERN",
    "ALIAS_PATTERN",
    "CALLBACK_PATTERN",
    "MAX_CALLBACK_LENGTH",
    "MAX_SUBSCRIPTIONS_PER_WORKSTREAM",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_CONTEXT_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_LENGTH",
    "INT_MIN",
    "INT_MAX",
    "SCHEMA_PREFIX",
    "DIALECT",
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
# "Not blank", spelled so Python's `re` (the fuzzer's generator) and Rust's regex (the validator) agree:
# Python counts \x1c-\x1f as whitespace, Rust does not.
NOT_BLANK_PATTERN = r"[^\s\x1c-\x1f]"
# `type` of a long-form context item: "text" or "integer" in any letter case, as makers type it.
TEXT_PATTERN = "^[Tt][Ee][Xx][Tt]$"
INTEGER_PATTERN = "^[Ii][Nn][Tt][Ee][Gg][Ee][Rr]$"
TYPE_PATTERN = "^([Tt][Ee][Xx][Tt]|[Ii][Nn][Tt][Ee][Gg][Ee][Rr])$"

_WORKSTREAM = "5c0d7a1e-6b2f-4e8a-9d3c-1f2e3a4b5c6d"
_CONVERSATION = "b7e3c9d2-4a1f-4c8e-a6b5-0d9f8e7c6b5a"
_QUEUE = "85e55877-f27a-e911-a81a-000d3a1ca610"


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


# ===================================================================================== building blocks

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
_WHEN = {"type": "string", "format": "date-time"}
_NULLABLE_WHEN = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_INT = {"type": ["integer", "null"], "format": "int32"}
_STATUS_MEANING = ("closed = outside the queue's operating hours; busy = open but no representative is free; "
                   "available = open and a representative is free.")
_NAMES = (f"Names are 1 to {MAX_NAME_LENGTH} characters and not blank; at most {MAX_CONTEXT_ITEMS} entries. "
          "null is the same as leaving it out.")


def _named_values(values: dict[str, Any], **annotations: Any) -> dict[str, Any]:
    """An optional JSON object of name → value (context items, engagement context): the limits on its names."""
    return {
        "type": ["object", "null"],
        **annotations,
        "maxProperties": MAX_CONTEXT_ITEMS,
        "propertyNames": {"minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": NOT_BLANK_PATTERN},
        "additionalProperties": values,
        "_messages": {"propertyNames": f"Names in {{subject}} must be 1 to {MAX_NAME_LENGTH} characters long "
                                       "and not blank."},
    }


def _text_value(description: str, subject: str | None = None) -> dict[str, Any]:
    node = {"type": "string", "maxLength": MAX_VALUE_LENGTH, "title": "Text value", "description": description}
    return {**node, "_subject": subject} if subject else node


def _time_zone_field() -> dict[str, Any]:
    description = ("IANA time zone name (e.g. Europe/Paris) used only to word the answer's message, such as \"it "
                   "opens again tomorrow at 08:00 CET\". Times in the other fields stay UTC. Default UTC.")
    return {
        "anyOf": [ref("TimeZone"), {"type": "null"}],
        "title": "Time zone",
        "description": description + " null is the same as leaving it out.",
        "examples": ["Europe/Paris"],
        "_visibility": "advanced",
        "_messages": {"*": "{subject} must be an IANA time zone name such as Europe/Paris."},
        "_swagger": {"anyOf": None, "type": ["string", "null"], "maxLength": 64, "description": description},
    }


def _language_field() -> dict[str, Any]:
    from .language import LANGUAGE_TAG_PATTERN, MAX_TAG

    return {
        "type": ["string", "null"],
        "maxLength": MAX_TAG,
        "pattern": f"^{LANGUAGE_TAG_PATTERN}$",
        "title": "Language",
        "description": "BCP 47 tag of the language to word message in (fr, fr-CA, pt-BR); without it, the request's "
                       "Accept-Language. The best supported match is used (en, fr, de, es, it, pt, nl, ja), else "
                       "English: an unsupported language is not an error. null is the same as leaving it out.",
        "examples": ["fr"],
        "_visibility": "advanced",
        "_messages": {"*": "{subject} must be a BCP 47 language tag such as fr or pt-BR."},
    }


def _language_tag() -> dict[str, Any]:
    from .language import LANGUAGE_TAG_PATTERN, MAX_TAG

    return {"type": "string", "maxLength": MAX_TAG, "pattern": f"^{LANGUAGE_TAG_PATTERN}$", "title": "Language",
            "examples": ["fr"],
            "description": "A BCP 47 language tag (fr, fr-CA, pt-BR). The best supported match is used (en, fr, de, "
                           "es, it, pt, nl, ja), else English: an unsupported language is not an error."}


def _context_items() -> dict[str, Any]:
    entry = {
        "oneOf": [
            _text_value("A Text context item."),
            {**INT32, "title": "Integer value", "description": "An Integer context item (32-bit)."},
            ref("ContextItem"),
        ],
        "description": "A string (Text item), an integer (Integer item) or the long form.",
        "_subject": "Context item '{name}'",
        "_messages": {"oneOf": "{subject} must be a string, an integer, or an object with value, type and "
                               "isDisplayable."},
    }
    return _named_values(
        entry,
        title="Context items",
        description="Custom context items the workstream's route-to-queue rules read (they add to or override the "
                    "conversation's context). A string value is a Text item, an integer an Integer item; the long "
                    "form {value, type, isDisplayable} is accepted too. Floats, booleans, nested objects and null "
                    "values are refused. " + _NAMES,
        examples=[{"Language": "fr", "Tier": 2}],
        _swagger={
            "title": "Context items",
            "description": "Custom context items the workstream's routing rules read, as name/value pairs, e.g. "
                           "Language = fr. Values given here are Text items. When the body is written as JSON, an "
                           "integer value is an Integer item (e.g. \"Tier\": 2) and the long form "
                           "{\"value\": ..., \"type\": \"text\"|\"integer\", \"isDisplayable\": true|false} is "
                           "accepted too. " + _NAMES,
            "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
            "examples": [{"Language": "fr"}],
        },
    )


def _engagement_context() -> dict[str, Any]:
    return _named_values(
        _text_value("An engagement-context attribute.", subject="Engagement context attribute '{name}'"),
        title="Engagement context",
        description="Channel engagement-context attributes the routing rules read, e.g. msdyn_browser = Edge; "
                    f"values are strings of at most {MAX_VALUE_LENGTH} characters. " + _NAMES,
        examples=[{"msdyn_browser": "Edge"}],
        _visibility="advanced",
        _swagger={"additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH}},
    )


def _error_codes() -> list[str]:
    """The codes of the error tree's leaves, in its order (a base such as UpstreamError is never raised)."""
    from . import errors

    classes = [getattr(errors, name) for name in errors.__all__]
    leaves = [cls for cls in classes if not any(other is not cls and issubclass(other, cls) for other in classes)]
    return list(dict.fromkeys(cls.code for cls in leaves))


# ========================================================================================= the shapes


def _answer_fields() -> dict[str, dict[str, Any]]:
    """The fields of an availability answer (the `Availability` shape; the public one takes some of them as is)."""
    return {
        "queueId": {"type": "string", "format": "uuid", "title": "Queue ID", "examples": [_QUEUE],
                    "description": "The queue the customer would be routed to (first matching routing "
                                   "rule)."},
        "status": {"type": "string", "enum": ["available", "busy", "closed"], "title": "Status",
                   "examples": ["available"], "description": _STATUS_MEANING},
        "canEscalate": {"type": "boolean", "title": "Can escalate", "examples": [True],
                        "description": "True exactly when status is available: a representative can take "
                                       "the customer now."},
        "withinOperatingHours": {"type": "boolean", "title": "Within operating hours",
                                 "description": "True inside the queue's operating hours."},
        "representativesAvailable": {"type": "boolean", "title": "Representative available",
                                     "description": "True when a representative of the queue can take the "
                                                    "request now."},
        "availableRepresentatives": {**_NULLABLE_INT, "minimum": 0,
                                     "title": "Number of available representatives",
                                     "description": "Representatives free to take a conversation now; null "
                                                    "when Dynamics 365 does not say."},
        "positionInQueue": {**_NULLABLE_INT, "title": "Position in queue",
                            "description": "Position the customer would have (or has) in the queue; null "
                                           "when unknown."},
        "averageWaitSeconds": {**_NULLABLE_INT, "minimum": 0, "title": "Average wait (seconds)",
                               "description": "Average wait in the queue in seconds; null when unknown."},
        "nextTransitionTime": {**_NULLABLE_WHEN, "title": "Next change of hours",
                               "description": "UTC time the queue next opens (when closed) or closes (when "
                                              "open); null when no change is coming (e.g. open around the "
                                              "clock)."},
        "nextOpeningTime": {**_NULLABLE_WHEN, "title": "Next opening time",
                            "description": "UTC start of the next operating window when the queue is "
                                           "closed; null while it is open."},
        "nextClosingTime": {**_NULLABLE_WHEN, "title": "Next closing time",
                            "description": "UTC end of that next operating window when the queue is "
                                           "closed; null while it is open."},
        "message": {"type": "string", "title": "Message",
                    "examples": ["A representative is available now; the estimated wait is about 2 "
                                 "minutes."],
                    "description": "One plain English sentence a bot can say as is, with times in the "
                                   "requested time zone."},
        "retrievedAt": {**_WHEN, "title": "Retrieved at",
                        "description": "UTC time Dynamics 365 produced this answer."},
        "source": {"type": "string", "enum": ["live", "cache", "stale"], "title": "Source",
                   "_visibility": "advanced",
                   "description": "live = fetched for this request; cache = served from the gateway's "
                                  "short cache; stale = Dynamics 365 failed and an older answer is served."},
        "ageSeconds": {"type": "number", "format": "double", "minimum": 0, "title": "Age (seconds)",
                       "_visibility": "advanced",
                       "description": "Seconds between retrievedAt and this response."},
        "language": {"type": "string", "title": "Language", "examples": ["en"], "_visibility": "advanced",
                     "description": "The language message is worded in: the best supported match of the "
                                    "language asked for (en when none was asked for or none matched)."},
    }


@lru_cache(maxsize=1)
def components() -> dict[str, dict[str, Any]]:
    """Every shape by name, with its private keys: treat as read-only (use `public()` for a copy)."""
    from .localtime import zone_names

    codes = _error_codes()
    answer = _answer_fields()
    int32_bounds = {key: INT32[key] for key in ("minimum", "maximum", "_messages")}
    return {
        "TimeZone": {
            "type": "string",
            "enum": list(zone_names()),
            "title": "IANA time zone",
            "description": "A time zone of the IANA tz database, as the app's tzdata package names it "
                           "(e.g. Europe/Paris, America/New_York, UTC).",
        },
        "ContextItem": {
            "type": "object",
            "title": "Context item (long form)",
            "description": "A context item with its type and display flag spelled out. value must match type "
                           "when type is given.",
            "required": ["value"],
            "additionalProperties": False,
            "properties": {
                "value": {"type": ["string", "integer"], "maxLength": MAX_VALUE_LENGTH, **int32_bounds,
                          "title": "Value", "description": "The item's value: a string (Text) or a 32-bit integer "
                                                           "(Integer); must match type when type is given."},
                "type": {"type": "string", "pattern": TYPE_PATTERN,
                         "title": "Type", "examples": ["text", "integer"],
                         "description": "text (Text item) or integer (Integer item), any letter case; default: "
                                        "taken from the value.",
                         "_messages": {"*": "{subject} must be \"text\" or \"integer\"."},
                         "_swagger": {"pattern": None, "enum": ["text", "integer"]}},
                "isDisplayable": {"type": "boolean", "default": True, "title": "Is displayable",
                                  "description": "Whether representatives see the item; default true."},
            },
            # The declared type decides what value must be.
            "allOf": [
                {"if": {"required": ["type"], "properties": {"type": {"type": "string", "pattern": TEXT_PATTERN}}},
                 "then": {"properties": {"value": {"type": "string"}}}},
                {"if": {"required": ["type"],
                        "properties": {"type": {"type": "string", "pattern": INTEGER_PATTERN}}},
                 "then": {"properties": {"value": {"type": "integer"}}}},
            ],
            "_swagger": {"allOf": None},
        },
        "BeforeConversationRequest": {
            "type": "object",
            "title": "Before conversation check",
            "description": "Which queue would a new customer of this workstream reach, and is it staffed?",
            "required": ["workstreamId"],
            "additionalProperties": False,
            "properties": {
                "workstreamId": {
                    **GUID, "title": "Workstream ID", "_visibility": "important", "examples": [_WORKSTREAM],
                    "description": "ID of the Dynamics 365 Contact Center workstream (msdyn_liveworkstreamid) the "
                                   "customer would contact, e.g. the website chat.",
                },
                "contextItems": _context_items(),
                "engagementContext": _engagement_context(),
                "timeZone": _time_zone_field(),
                "language": _language_field(),
            },
        },
        "ForConversationRequest": {
            "type": "object",
            "title": "For conversation check",
            "description": "Is the queue of this ongoing conversation staffed?",
            "required": ["conversationId"],
            "additionalProperties": False,
            "properties": {
                "conversationId": {
                    **GUID, "title": "Conversation ID", "_visibility": "important", "examples": [_CONVERSATION],
                    "description": "ID of the ongoing Dynamics 365 conversation (msdyn_ocliveworkitemid). In a "
                                   "Copilot Studio agent connected to Contact Center it is usually the "
                                   "msdyn_ConversationId context variable.",
                    # Certified connectors name no Power Platform product in their descriptions.
                    "_swagger": {"description": "ID of the ongoing Dynamics 365 conversation (msdyn_ocliveworkitemid). "
                                                "In an agent connected to Contact Center it is usually the "
                                                "msdyn_ConversationId context variable."},
                },
                "contextItems": _context_items(),
                "timeZone": _time_zone_field(),
                "language": _language_field(),
            },
        },
        "BatchRequest": {
            "type": "object",
            "title": "Batch of checks",
            "description": f"1 to {MAX_BATCH} before-conversation checks.",
            "required": ["checks"],
            "additionalProperties": False,
            "properties": {
                "checks": {
                    "type": "array",
                    "title": "Checks",
                    "description": f"1 to {MAX_BATCH} before-conversation checks, each a body of "
                                   "before-conversation (BeforeConversationRequest). Every entry is answered: one "
                                   "that is not a valid check gets its own 400 result and does not fail the others.",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    # Open on purpose: the batch answers 200 whatever an entry holds (see description).
                    "items": {"title": "Check", "description": "A before-conversation check "
                                                               "(BeforeConversationRequest)."},
                    "_messages": {"*": f"{{subject}} must be a list of 1 to {MAX_BATCH} before-conversation "
                                       "checks."},
                    "_swagger": {"items": ref("BeforeConversationRequest")},
                },
            },
        },
        "Availability": {
            "type": "object",
            "title": "Availability",
            "description": "Where the customer would be routed and whether a human representative can take them "
                           "now. Decide with canEscalate; say message as is.",
            "required": ["queueId", "status", "canEscalate", "withinOperatingHours", "representativesAvailable",
                         "availableRepresentatives", "positionInQueue", "averageWaitSeconds", "nextTransitionTime",
                         "nextOpeningTime", "nextClosingTime", "message", "retrievedAt", "source", "ageSeconds",
                         "language"],
            "properties": answer,
        },
        "BatchResult": {
            "type": "object",
            "title": "Check result",
            "description": "The outcome of one check: status 200 with availability, or an error status with error.",
            "required": ["status"],
            "properties": {
                "status": {"type": "integer", "format": "int32", "title": "HTTP status", "examples": [200],
                           "description": "200 when availability is given; otherwise the status the check would "
                                          "have had alone (400, 404, 502, 503, 504)."},
                "availability": ref("Availability"),
                "error": ref("ErrorDetail"),
            },
        },
        "BatchResponse": {
            "type": "object",
            "title": "Batch results",
            "required": ["results"],
            "properties": {
                "results": {"type": "array", "title": "Results", "items": ref("BatchResult"),
                            "description": "One result per check, in the order of checks."},
            },
        },
        "Snapshot": {
            "type": "object",
            "title": "Snapshot",
            "description": "One workstream's availability as recorded by a run of the snapshot timer. When the "
                           "check failed, error holds its code and the availability fields are null.",
            "required": ["workstreamId", "queueId", "capturedAt", "status", "withinOperatingHours",
                         "representativesAvailable", "availableRepresentatives", "positionInQueue",
                         "averageWaitSeconds", "error"],
            "properties": {
                "workstreamId": {"type": "string", "format": "uuid", "title": "Workstream ID",
                                 "description": "The workstream checked."},
                "queueId": {"type": ["string", "null"], "format": "uuid", "title": "Queue ID",
                            "description": "The queue a new customer would have been routed to."},
                "capturedAt": {**_WHEN, "title": "Captured at",
                               "description": "UTC time of the timer's schedule slot."},
                "status": {"type": ["string", "null"], "enum": ["available", "busy", "closed", None],
                           "title": "Status", "description": _STATUS_MEANING},
                "withinOperatingHours": {"type": ["boolean", "null"], "title": "Within operating hours",
                                         "description": "True inside the queue's operating hours."},
                "representativesAvailable": {"type": ["boolean", "null"], "title": "Representative available",
                                             "description": "True when a representative could take a request."},
                "availableRepresentatives": {**_NULLABLE_INT, "minimum": 0,
                                             "title": "Number of available representatives",
                                             "description": "Representatives free at that time."},
                "positionInQueue": {**_NULLABLE_INT, "title": "Position in queue",
                                    "description": "Position a new customer would have had."},
                "averageWaitSeconds": {**_NULLABLE_INT, "minimum": 0, "title": "Average wait (seconds)",
                                       "description": "Average wait in the queue in seconds."},
                "error": {"type": ["string", "null"], "enum": [*codes, None], "title": "Error code",
                          "description": "null, or the error code when that workstream's check failed in that run."},
            },
        },
        "SnapshotList": {
            "type": "object",
            "title": "Availability history",
            "required": ["snapshots"],
            "properties": {
                "snapshots": {"type": "array", "title": "Snapshots", "items": ref("Snapshot"),
                              "description": "Newest first."},
            },
        },
        "ErrorDetail": {
            "type": "object",
            "title": "Error",
            "description": "What went wrong, in a sentence that can be shown to a maker.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": codes, "title": "Error code", "examples": ["invalid_request"],
                         "description": "invalid_request (400), unauthorized (401), not_found (404), "
                                        "upstream_auth_failed (502), upstream_throttled, upstream_unavailable or "
                                        "configuration_error (503), upstream_timeout (504), internal_error (500, a "
                                        "fault of the gateway)."},
                "message": {"type": "string", "title": "Error message",
                            "description": "One sentence explaining the error; never holds a secret."},
                "target": {"type": "string", "title": "Field at fault", "examples": ["contextItems.Tier"],
                           "description": "The request field at fault, when there is one (e.g. "
                                          "checks[2].workstreamId)."},
            },
        },
        "Error": {
            "type": "object",
            "title": "Error response",
            "required": ["error"],
            "properties": {"error": ref("ErrorDetail")},
        },
        "PublicAlias": {
            "type": "string",
            "pattern": ALIAS_PATTERN,
            "title": "Alias",
            "examples": ["support"],
            "description": "A name of the app setting PUBLIC_AVAILABILITY (1 to 40 of a-z, 0-9 and -): the one check "
                           "it stands for is the only thing an anonymous caller can ask about.",
        },
        "LanguageTag": _language_tag(),
        "PublicAvailability": {
            "type": "object",
            "title": "Public availability",
            "description": "What a web page may know about a published check: whether to offer a chat now and what "
                           "to say. No queue ID and no staffing figures.",
            "required": ["alias", "status", "canEscalate", "message", "language", "averageWaitSeconds",
                         "nextOpeningTime", "nextClosingTime", "retrievedAt"],
            "additionalProperties": False,
            "properties": {
                "alias": ref("PublicAlias"),
                "status": dict(answer["status"]),
                "canEscalate": {"type": "boolean", "title": "Can escalate",
                                "description": "True exactly when status is available: offer the chat now."},
                "message": {"type": "string", "title": "Message",
                            "description": "One plain sentence for the page, in language, with times in the time "
                                           "zone asked for (tz), else UTC."},
                "language": {"type": "string", "title": "Language", "examples": ["en"],
                             "description": "The language message is worded in: the best supported match of lang "
                                            "(en when none was asked for or none matched)."},
                **{name: dict(answer[name])
                   for name in ("averageWaitSeconds", "nextOpeningTime", "nextClosingTime", "retrievedAt")},
            },
        },
        **_subscription_shapes(),
        "Health": {
            "type": "object",
            "title": "Health",
            "required": ["status", "version"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"], "title": "Status"},
                "version": {"type": "string", "title": "Version", "description": "The app's version."},
            },
        },
    }


def _subscription_shapes() -> dict[str, dict[str, Any]]:
    """Change subscriptions (contract §3): the request, what list and get show, the 201, and what a delivery holds."""
    when_delivered = {**_NULLABLE_WHEN, "title": "Last delivery at",
                      "description": "UTC time of the last delivery attempt; null before the first."}
    status = {"type": "string", "enum": ["available", "busy", "closed"], "title": "Status", "examples": ["available"],
              "description": _STATUS_MEANING}
    subscription_id = {"type": "string", "format": "uuid", "title": "Subscription ID",
                       "examples": ["0f8e2d1c-3b4a-4c5d-8e6f-7a8b9c0d1e2f"],
                       "description": "The subscription's ID, as in its Location (/api/subscriptions/{id})."}
    workstream = {"type": "string", "format": "uuid", "title": "Workstream ID", "examples": [_WORKSTREAM],
                  "description": "The workstream watched."}
    notify_on = {"type": "string", "enum": ["status", "canEscalate"], "title": "Notify on",
                 "description": "status: every change of status; canEscalate: only when canEscalate changes."}
    created = {**_WHEN, "title": "Created at", "description": "UTC time the subscription was made."}
    return {
        "SubscriptionRequest": {
            "type": "object",
            "title": "Change subscription",
            "description": "Where to send the changes of one check's availability, and which changes.",
            "required": ["callbackUrl", "workstreamId"],
            "additionalProperties": False,
            "properties": {
                "callbackUrl": {
                    "type": "string", "format": "uri", "maxLength": MAX_CALLBACK_LENGTH,
                    "pattern": CALLBACK_PATTERN, "title": "Callback URL", "_visibility": "internal",
                    "_notification_url": True, "_swagger": {"pattern": None},  # the platform fills it in
                    "examples": ["https://hooks.contoso.com/availability"],
                    "description": "The https URL each change is sent to (POST, JSON, signed with the secret the "
                                   "201 answer gives). It must not resolve to a loopback, private or link-local "
                                   "address; http and such addresses are allowed only where the app setting "
                                   "NOTIFY_ALLOW_PRIVATE_CALLBACKS is true (local development). It is stored but "
                                   "never shown again: list and get show its host only.",
                    "_messages": {"*": "{subject} must be an absolute https URL of a host name, such as "
                                       "https://hooks.contoso.com/availability (no user name or password, no "
                                       f"fragment, at most {MAX_CALLBACK_LENGTH} characters)."},
                },
                "workstreamId": {
                    **GUID, "title": "Workstream ID", "_visibility": "important", "examples": [_WORKSTREAM],
                    "description": f"ID of the workstream to watch (msdyn_liveworkstreamid); at most "
                                   f"{MAX_SUBSCRIPTIONS_PER_WORKSTREAM} subscriptions per workstream.",
                },
                "contextItems": _context_items(),
                "engagementContext": _engagement_context(),
                "notifyOn": {
                    "type": ["string", "null"], "enum": ["status", "canEscalate", None], "default": "status",
                    "title": "Notify on", "_visibility": "important", "examples": ["canEscalate"],
                    "description": "status (default): be told of every change of status (available, busy, closed). "
                                   "canEscalate: be told only when a representative becomes free or stops being "
                                   "free. null is the same as leaving it out.",
                    "_messages": {"*": "{subject} must be status or canEscalate."},
                },
                "timeZone": _time_zone_field(),
                "language": _language_field(),
            },
        },
        "SubscriptionCreated": {
            "type": "object",
            "title": "New change subscription",
            "description": "The subscription just made, with its baseline status and the secret that signs its "
                           "deliveries (shown only here).",
            "required": ["id", "workstreamId", "notifyOn", "createdAt", "status", "secret"],
            "properties": {
                "id": subscription_id,
                "workstreamId": workstream,
                "notifyOn": notify_on,
                "createdAt": created,
                "status": {**status, "title": "Current status",
                           "description": "The status now, the baseline changes are told against. "
                                          + _STATUS_MEANING},
                "secret": {"type": "string", "title": "Signing secret", "_visibility": "advanced",
                           "description": "Key of the HMAC-SHA256 signature each delivery carries in "
                                          "x-availability-signature (sha256=<hex of the raw body>). Shown only "
                                          "in this answer: keep it."},
            },
        },
        "Subscription": {
            "type": "object",
            "title": "Change subscription",
            "description": "A change subscription as list and get show it: never its full callback URL nor its "
                           "secret.",
            "required": ["id", "workstreamId", "notifyOn", "createdAt", "callbackHost", "lastDeliveryAt",
                         "lastDeliveryStatus", "lastResponseStatus", "consecutiveFailures", "enabled"],
            "properties": {
                "id": subscription_id,
                "workstreamId": workstream,
                "notifyOn": notify_on,
                "createdAt": created,
                "callbackHost": {"type": "string", "title": "Callback host", "examples": ["hooks.contoso.com"],
                                 "description": "The host of the callback URL (the rest, which may hold a "
                                                "signature, is never shown)."},
                "lastDeliveryAt": when_delivered,
                "lastDeliveryStatus": {
                    "type": ["string", "null"], "enum": ["delivered", "retrying", "failed", None],
                    "title": "Last delivery status",
                    "description": "delivered: the callback answered 2xx; retrying: it failed (5xx, 429, timeout) "
                                   "and is tried again with back-off; failed: it was refused (another 4xx, a "
                                   "redirect or an address not allowed) or given up; null before the first."},
                "lastResponseStatus": {**_NULLABLE_INT, "title": "Last response status",
                                       "description": "HTTP status of the callback's last answer; null when it "
                                                      "gave none (timeout, refused address) or before the first."},
                "consecutiveFailures": {"type": "integer", "format": "int32", "minimum": 0,
                                        "title": "Consecutive failures",
                                        "description": "Failed attempts since the last delivery; at 10 the "
                                                       "subscription is disabled."},
                "enabled": {"type": "boolean", "title": "Enabled",
                            "description": "False once 10 attempts in a row failed: nothing more is sent (delete "
                                           "it and subscribe again)."},
            },
        },
        "SubscriptionList": {
            "type": "object",
            "title": "Change subscriptions",
            "required": ["subscriptions"],
            "properties": {
                "subscriptions": {"type": "array", "title": "Subscriptions", "items": ref("Subscription"),
                                  "description": "Every change subscription of this app, oldest first."},
            },
        },
        "AvailabilityChange": {
            "type": "object",
            "title": "Availability change",
            "description": "What the callback receives when the watched availability changes.",
            "required": ["subscriptionId", "workstreamId", "previousStatus", "status", "canEscalate", "changedAt",
                         "availability"],
            "properties": {
                "subscriptionId": subscription_id,
                "workstreamId": workstream,
                "previousStatus": {**status, "title": "Previous status",
                                   "description": "The status last told (or the one when subscribing)."},
                "status": {**status, "title": "Status", "description": "The status now. " + _STATUS_MEANING},
                "canEscalate": {"type": "boolean", "title": "Can escalate",
                                "description": "True exactly when status is available: a representative can take "
                                               "a customer now."},
                "changedAt": {**_WHEN, "title": "Changed at",
                              "description": "UTC time of the change: the opening or closing time when the queue's "
                                             "hours changed it, else when the gateway saw it."},
                "availability": ref("Availability"),
            },
        },
    }
