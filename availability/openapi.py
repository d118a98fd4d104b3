"""The HTTP API described once, as Python data, and the two documents built from it.

- `openapi_document(server_url)`: OpenAPI 3.0.3, served at `GET /api/openapi.json`; every endpoint.
- `swagger_document(host)`: the Power Platform custom connector (Swagger 2.0, `apiDefinition.swagger.json`)
  with the operations a maker uses, and `api_properties()` (`apiProperties.json`).

The definition is written in the OpenAPI 3 dialect (`nullable`, `oneOf`, `#/components/schemas/...`) with
`title` as the display name, plus two private keys the builders strip: `_visibility` (becomes the
connector's `x-ms-visibility`) and `_swagger` (a replacement schema for Swagger 2.0 where the OpenAPI 3 form
cannot be expressed, e.g. `oneOf`). In the connector `title` becomes `x-ms-summary` and `nullable` becomes
`x-nullable`.

Nothing is built at import: the documents are built on first call and cached; callers get their own copy.

    python -m availability.openapi [--check] [--host HOST] [DIR]

writes (or with `--check` compares) `apiDefinition.swagger.json` and `apiProperties.json` in DIR
(default: the repository's `connector/` folder).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "openapi_document",
    "swagger_document",
    "api_properties",
    "connector_files",
    "DEFAULT_HOST",
    "CONNECTOR_DIR",
    "main",
]

DEFAULT_HOST = "contoso-availability.azurewebsites.net"
CONNECTOR_DIR = Path(__file__).resolve().parent.parent / "connector"
SWAGGER_FILE = "apiDefinition.swagger.json"
PROPERTIES_FILE = "apiProperties.json"
REGENERATE = "python -m availability.openapi"

# Mirrors of http_api's limits (that module imports azure.functions; this one must stay light).
# tests/availability/test_openapi.py checks they agree.
MAX_BATCH = 25
MAX_BODY_BYTES = 64 * 1024
MAX_ZONE_NAME = 64
ZONE_NAME_PATTERN = r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$"

TITLE = "Contact Center Availability"
ERROR_CODES = (
    "invalid_request",
    "unauthorized",
    "not_found",
    "upstream_auth_failed",
    "upstream_throttled",
    "upstream_unavailable",
    "configuration_error",
    "upstream_timeout",
    "internal_error",
)

_SCHEMA_PREFIX = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _SCHEMA_PREFIX + name}


# ================================================================================ the definition: examples

_WORKSTREAM = "5c0d7a1e-6b2f-4e8a-9d3c-1f2e3a4b5c6d"
_WORKSTREAM_2 = "8e4f2b1a-3c5d-4a6e-8f7b-9c0d1e2f3a4b"
_CONVERSATION = "b7e3c9d2-4a1f-4c8e-a6b5-0d9f8e7c6b5a"
_QUEUE = "85e55877-f27a-e911-a81a-000d3a1ca610"
_QUEUE_FR = "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def _examples() -> dict[str, Any]:
    """Sample bodies. The availability ones are exactly what the model renders for those facts (tested)."""
    available = {
        "queueId": _QUEUE,
        "status": "available",
        "canEscalate": True,
        "withinOperatingHours": True,
        "representativesAvailable": True,
        "availableRepresentatives": 3,
        "positionInQueue": 3,
        "averageWaitSeconds": 90,
        "nextTransitionTime": "2026-11-24T17:00:00Z",
        "nextOpeningTime": None,
        "nextClosingTime": None,
        "message": "A representative is available now; the estimated wait is about 2 minutes.",
        "retrievedAt": "2026-11-24T14:02:11.250Z",
        "source": "live",
        "ageSeconds": 0.004,
    }
    busy = {
        **available,
        "status": "busy",
        "canEscalate": False,
        "representativesAvailable": False,
        "availableRepresentatives": 0,
        "positionInQueue": 6,
        "averageWaitSeconds": 340,
        "message": "The queue is open but no representative is free right now; the estimated wait is about 6 minutes.",
        "source": "cache",
        "ageSeconds": 7.5,
    }
    closed = {
        "queueId": _QUEUE_FR,
        "status": "closed",
        "canEscalate": False,
        "withinOperatingHours": False,
        "representativesAvailable": False,
        "availableRepresentatives": None,
        "positionInQueue": 1,
        "averageWaitSeconds": None,
        "nextTransitionTime": "2026-11-25T07:00:00Z",
        "nextOpeningTime": "2026-11-25T07:00:00Z",
        "nextClosingTime": "2026-11-25T17:00:00Z",
        "message": "The queue is closed; it opens again tomorrow at 08:00 CET.",
        "retrievedAt": "2026-11-24T20:15:00Z",
        "source": "live",
        "ageSeconds": 0.012,
    }
    return {
        "availability": {"available": available, "busy": busy, "closed": closed},
        "before": {
            "minimal": {"workstreamId": _WORKSTREAM},
            "withContext": {
                "workstreamId": _WORKSTREAM,
                "contextItems": {"Language": "fr", "Tier": 2},
                "engagementContext": {"msdyn_browser": "Edge"},
                "timeZone": "Europe/Paris",
            },
            "longForm": {
                "workstreamId": _WORKSTREAM,
                "contextItems": {"Tier": {"value": 2, "type": "integer", "isDisplayable": False}},
            },
        },
        "for": {
            "minimal": {"conversationId": _CONVERSATION},
            "withContext": {"conversationId": _CONVERSATION, "contextItems": {"Language": "fr"},
                            "timeZone": "Europe/Paris"},
        },
        "batch_request": {
            "checks": [
                {"workstreamId": _WORKSTREAM, "contextItems": {"Language": "fr"}, "timeZone": "Europe/Paris"},
                {"workstreamId": _WORKSTREAM_2},
            ]
        },
        "batch_response": {
            "results": [
                {"status": 200, "availability": closed},
                {"status": 404, "error": {"code": "not_found",
                                          "message": "The workstream or conversation was not found."}},
            ]
        },
        "snapshots": {
            "snapshots": [
                {"workstreamId": _WORKSTREAM, "queueId": _QUEUE, "capturedAt": "2026-11-24T14:05:00Z",
                 "status": "available", "withinOperatingHours": True, "representativesAvailable": True,
                 "availableRepresentatives": 3, "positionInQueue": 3, "averageWaitSeconds": 90, "error": None},
                {"workstreamId": _WORKSTREAM, "queueId": None, "capturedAt": "2026-11-24T14:00:00Z",
                 "status": None, "withinOperatingHours": None, "representativesAvailable": None,
                 "availableRepresentatives": None, "positionInQueue": None, "averageWaitSeconds": None,
                 "error": "upstream_timeout"},
            ]
        },
        "errors": {
            "invalid_request": {"error": {
                "code": "invalid_request",
                "message": "workstreamId must be a GUID such as 00000000-0000-0000-0000-000000000000.",
                "target": "workstreamId"}},
            "unauthorized": {"error": {
                "code": "unauthorized",
                "message": "A valid function key is required in the x-functions-key header or the code "
                           "query parameter."}},
            "not_found": {"error": {"code": "not_found",
                                    "message": "The workstream or conversation was not found."}},
            "upstream_auth_failed": {"error": {
                "code": "upstream_auth_failed",
                "message": "Dynamics 365 refused the gateway's credentials; an administrator must check the "
                           "app registration."}},
            "upstream_throttled": {"error": {
                "code": "upstream_throttled",
                "message": "Dynamics 365 is limiting requests right now; please try again in 30 seconds."}},
            "upstream_unavailable": {"error": {
                "code": "upstream_unavailable",
                "message": "Dynamics 365 could not be reached; please try again shortly."}},
            "configuration_error": {"error": {
                "code": "configuration_error",
                "message": "The app setting DATAVERSE_URL is missing or malformed."}},
            "upstream_timeout": {"error": {
                "code": "upstream_timeout",
                "message": "Dynamics 365 did not answer in time; please try again shortly."}},
            "internal_error": {"error": {"code": "internal_error",
                                         "message": "The request could not be completed."}},
        },
    }


# ================================================================================= the definition: schemas


def _schemas() -> dict[str, dict[str, Any]]:
    from .checks import INT_MAX, INT_MIN, MAX_CONTEXT_ITEMS, MAX_NAME_LENGTH, MAX_VALUE_LENGTH

    names = (f"Names are 1 to {MAX_NAME_LENGTH} characters and not blank; at most {MAX_CONTEXT_ITEMS} entries. "
             "null is the same as leaving it out.")
    text_value = {"type": "string", "maxLength": MAX_VALUE_LENGTH, "title": "Text value",
                  "description": "A Text context item."}
    integer_value = {"type": "integer", "format": "int32", "minimum": INT_MIN, "maximum": INT_MAX,
                     "title": "Integer value", "description": "An Integer context item (32-bit)."}
    uuid = {"type": "string", "format": "uuid"}
    when = {"type": "string", "format": "date-time"}
    status_meaning = ("closed = outside the queue's operating hours; busy = open but no representative is "
                      "free; available = open and a representative is free.")
    nullable_int = {"type": "integer", "format": "int32", "nullable": True}
    workstream_id = {
        **uuid, "title": "Workstream ID", "_visibility": "important", "example": _WORKSTREAM,
        "description": "ID of the Dynamics 365 Contact Center workstream (msdyn_liveworkstreamid) the customer "
                       "would contact, e.g. the website chat.",
    }
    context_items = {
        "type": "object",
        "nullable": True,
        "title": "Context items",
        "maxProperties": MAX_CONTEXT_ITEMS,
        "description": "Custom context items the workstream's route-to-queue rules read (they add to or override "
                       "the conversation's context). A string value is a Text item, an integer an Integer item; "
                       "the long form {value, type, isDisplayable} is accepted too. Floats, booleans, nested "
                       "objects and null values are refused. " + names,
        "additionalProperties": {
            "oneOf": [text_value, integer_value, _ref("ContextItem")],
            "description": "A string (Text item), an integer (Integer item) or the long form.",
        },
        "example": {"Language": "fr", "Tier": 2},
        "_swagger": {
            "type": "object",
            "nullable": True,
            "title": "Context items",
            "maxProperties": MAX_CONTEXT_ITEMS,
            "description": "Custom context items the workstream's routing rules read, as name/value pairs, e.g. "
                           "Language = fr. Values given here are Text items. When the body is written as JSON, "
                           "an integer value is an Integer item (e.g. \"Tier\": 2) and the long form "
                           "{\"value\": ..., \"type\": \"text\"|\"integer\", \"isDisplayable\": true|false} is "
                           "accepted too. " + names,
            "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
            "example": {"Language": "fr"},
        },
    }
    time_zone = {
        "type": "string",
        "nullable": True,
        "title": "Time zone",
        "maxLength": MAX_ZONE_NAME,
        "pattern": ZONE_NAME_PATTERN,
        "_visibility": "advanced",
        "example": "Europe/Paris",
        "description": "IANA time zone name (e.g. Europe/Paris) used only to word the answer's message, such as "
                       "\"it opens again tomorrow at 08:00 CET\". Times in the other fields stay UTC. Default UTC.",
    }
    return {
        "ContextItem": {
            "type": "object",
            "title": "Context item (long form)",
            "description": "A context item with its type and display flag spelled out.",
            "required": ["value"],
            "additionalProperties": False,
            "properties": {
                "value": {"title": "Value", "description": "The item's value; must match type when type is given.",
                          "oneOf": [text_value, integer_value]},
                "type": {"type": "string", "enum": ["text", "integer"], "title": "Type",
                         "description": "text (Text item) or integer (Integer item), any letter case; "
                                        "default: taken from the value."},
                "isDisplayable": {"type": "boolean", "default": True, "title": "Is displayable",
                                  "description": "Whether representatives see the item; default true."},
            },
        },
        "BeforeConversationRequest": {
            "type": "object",
            "title": "Before-conversation check",
            "description": "Which queue would a new customer of this workstream reach, and is it staffed?",
            "required": ["workstreamId"],
            "additionalProperties": False,
            "properties": {
                "workstreamId": workstream_id,
                "contextItems": context_items,
                "engagementContext": {
                    "type": "object",
                    "nullable": True,
                    "title": "Engagement context",
                    "maxProperties": MAX_CONTEXT_ITEMS,
                    "_visibility": "advanced",
                    "description": "Channel engagement-context attributes the routing rules read, e.g. "
                                   "msdyn_browser = Edge; values are strings of at most "
                                   f"{MAX_VALUE_LENGTH} characters. " + names,
                    "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
                    "example": {"msdyn_browser": "Edge"},
                },
                "timeZone": time_zone,
            },
        },
        "ForConversationRequest": {
            "type": "object",
            "title": "For-conversation check",
            "description": "Is the queue of this ongoing conversation staffed?",
            "required": ["conversationId"],
            "additionalProperties": False,
            "properties": {
                "conversationId": {
                    **uuid, "title": "Conversation ID", "_visibility": "important", "example": _CONVERSATION,
                    "description": "ID of the ongoing Dynamics 365 conversation (msdyn_ocliveworkitemid). In a "
                                   "Copilot Studio agent connected to Contact Center it is usually the "
                                   "msdyn_ConversationId context variable.",
                },
                "contextItems": context_items,
                "timeZone": time_zone,
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
                    "description": f"1 to {MAX_BATCH} before-conversation checks; an invalid entry gets its own "
                                   "400 result and does not fail the others.",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "items": _ref("BeforeConversationRequest"),
                },
            },
        },
        "Availability": {
            "type": "object",
            "title": "Availability",
            "description": "Where the customer would be routed and whether a human representative can take "
                           "them now. Decide with canEscalate; say message as is.",
            "required": ["queueId", "status", "canEscalate", "withinOperatingHours", "representativesAvailable",
                         "availableRepresentatives", "positionInQueue", "averageWaitSeconds",
                         "nextTransitionTime", "nextOpeningTime", "nextClosingTime", "message", "retrievedAt",
                         "source", "ageSeconds"],
            "properties": {
                "queueId": {**uuid, "title": "Queue ID", "example": _QUEUE,
                            "description": "The queue the customer would be routed to (first matching routing "
                                           "rule)."},
                "status": {"type": "string", "enum": ["available", "busy", "closed"], "title": "Status",
                           "example": "available", "description": status_meaning},
                "canEscalate": {"type": "boolean", "title": "Can escalate", "example": True,
                                "description": "True exactly when status is available: a representative can "
                                               "take the customer now."},
                "withinOperatingHours": {"type": "boolean", "title": "Within operating hours",
                                         "description": "True inside the queue's operating hours."},
                "representativesAvailable": {"type": "boolean", "title": "Representative available",
                                             "description": "True when a representative of the queue can take "
                                                            "the request now."},
                "availableRepresentatives": {**nullable_int, "minimum": 0,
                                             "title": "Number of available representatives",
                                             "description": "Representatives free to take a conversation now; "
                                                            "null when Dynamics 365 does not say."},
                "positionInQueue": {**nullable_int, "title": "Position in queue",
                                    "description": "Position the customer would have (or has) in the queue; "
                                                   "null when unknown."},
                "averageWaitSeconds": {**nullable_int, "minimum": 0, "title": "Average wait (seconds)",
                                       "description": "Average wait in the queue in seconds; null when "
                                                      "unknown."},
                "nextTransitionTime": {**when, "nullable": True, "title": "Next change of hours",
                                       "description": "UTC time the queue next opens (when closed) or closes "
                                                      "(when open); null when no change is coming (e.g. open "
                                                      "around the clock)."},
                "nextOpeningTime": {**when, "nullable": True, "title": "Next opening time",
                                    "description": "UTC start of the next operating window when the queue is "
                                                   "closed; null while it is open."},
                "nextClosingTime": {**when, "nullable": True, "title": "Next closing time",
                                    "description": "UTC end of that next operating window when the queue is "
                                                   "closed; null while it is open."},
                "message": {"type": "string", "title": "Message",
                            "example": "A representative is available now; the estimated wait is about 2 "
                                       "minutes.",
                            "description": "One plain English sentence a bot can say as is, with times in the "
                                           "requested time zone."},
                "retrievedAt": {**when, "title": "Retrieved at",
                                "description": "UTC time Dynamics 365 produced this answer."},
                "source": {"type": "string", "enum": ["live", "cache", "stale"], "title": "Source",
                           "_visibility": "advanced",
                           "description": "live = fetched for this request; cache = served from the gateway's "
                                          "short cache; stale = Dynamics 365 failed and an older answer is "
                                          "served."},
                "ageSeconds": {"type": "number", "format": "double", "minimum": 0, "title": "Age (seconds)",
                               "_visibility": "advanced",
                               "description": "Seconds between retrievedAt and this response."},
            },
        },
        "BatchResult": {
            "type": "object",
            "title": "Check result",
            "description": "The outcome of one check: status 200 with availability, or an error status with "
                           "error.",
            "required": ["status"],
            "properties": {
                "status": {"type": "integer", "format": "int32", "title": "HTTP status", "example": 200,
                           "description": "200 when availability is given; otherwise the status the check "
                                          "would have had alone (400, 404, 502, 503, 504)."},
                "availability": _ref("Availability"),
                "error": _ref("ErrorDetail"),
            },
        },
        "BatchResponse": {
            "type": "object",
            "title": "Batch results",
            "required": ["results"],
            "properties": {
                "results": {"type": "array", "title": "Results", "items": _ref("BatchResult"),
                            "description": "One result per check, in the order of checks."},
            },
        },
        "Snapshot": {
            "type": "object",
            "title": "Snapshot",
            "description": "One workstream's availability as recorded by a run of the snapshot timer. When "
                           "the check failed, error holds its code and the availability fields are null.",
            "required": ["workstreamId", "queueId", "capturedAt", "status", "withinOperatingHours",
                         "representativesAvailable", "availableRepresentatives", "positionInQueue",
                         "averageWaitSeconds", "error"],
            "properties": {
                "workstreamId": {**uuid, "title": "Workstream ID", "description": "The workstream checked."},
                "queueId": {**uuid, "nullable": True, "title": "Queue ID",
                            "description": "The queue a new customer would have been routed to."},
                "capturedAt": {**when, "title": "Captured at",
                               "description": "UTC time of the timer's schedule slot."},
                "status": {"type": "string", "nullable": True, "enum": ["available", "busy", "closed", None],
                           "title": "Status", "description": status_meaning},
                "withinOperatingHours": {"type": "boolean", "nullable": True, "title": "Within operating hours",
                                         "description": "True inside the queue's operating hours."},
                "representativesAvailable": {"type": "boolean", "nullable": True,
                                             "title": "Representative available",
                                             "description": "True when a representative could take a request."},
                "availableRepresentatives": {**nullable_int, "minimum": 0,
                                             "title": "Number of available representatives",
                                             "description": "Representatives free at that time."},
                "positionInQueue": {**nullable_int, "title": "Position in queue",
                                    "description": "Position a new customer would have had."},
                "averageWaitSeconds": {**nullable_int, "minimum": 0, "title": "Average wait (seconds)",
                                       "description": "Average wait in the queue in seconds."},
                "error": {"type": "string", "nullable": True, "enum": [*ERROR_CODES, None], "title": "Error code",
                          "description": "null, or the error code when that workstream's check failed in that "
                                         "run."},
            },
        },
        "SnapshotList": {
            "type": "object",
            "title": "Availability history",
            "required": ["snapshots"],
            "properties": {
                "snapshots": {"type": "array", "title": "Snapshots", "items": _ref("Snapshot"),
                              "description": "Newest first."},
            },
        },
        "ErrorDetail": {
            "type": "object",
            "title": "Error",
            "description": "What went wrong, in a sentence that can be shown to a maker.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": list(ERROR_CODES), "title": "Error code",
                         "example": "invalid_request",
                         "description": "invalid_request (400), unauthorized (401), not_found (404), "
                                        "upstream_auth_failed (502), upstream_throttled, upstream_unavailable "
                                        "or configuration_error (503), upstream_timeout (504), internal_error "
                                        "(500, a fault of the gateway)."},
                "message": {"type": "string", "title": "Error message",
                            "description": "One sentence explaining the error; never holds a secret."},
                "target": {"type": "string", "title": "Field at fault", "example": "contextItems.Tier",
                           "description": "The request field at fault, when there is one (e.g. "
                                          "checks[2].workstreamId)."},
            },
        },
        "Error": {
            "type": "object",
            "title": "Error response",
            "required": ["error"],
            "properties": {"error": _ref("ErrorDetail")},
        },
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


# ============================================================================== the definition: operations

_CORRELATION_PARAMETER = {
    "name": "x-correlation-id",
    "in": "header",
    "required": False,
    "title": "Correlation ID",
    "_visibility": "advanced",
    "description": "Your own ID for this request (1 to 64 letters, digits and . _ : -); echoed in the "
                   "x-correlation-id response header and the gateway's logs. A new one is made when absent.",
    "schema": {"type": "string", "maxLength": 64, "pattern": r"^[A-Za-z0-9._:\-]{1,64}$"},
}

# status -> (description, error codes it carries)
_ERROR_RESPONSES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("invalid_request: malformed JSON, a missing or invalid field (target names it), too many items, or a "
          f"body over {MAX_BODY_BYTES // 1024} KiB.", ("invalid_request",)),
    401: ("unauthorized: the function key is missing or wrong (in Azure the Functions host answers this "
          "itself, possibly with an empty body).", ("unauthorized",)),
    404: ("not_found: Dynamics 365 does not know the workstream or conversation.", ("not_found",)),
    500: ("internal_error: an unexpected fault of the gateway; quote the x-correlation-id when reporting it.",
          ("internal_error",)),
    502: ("upstream_auth_failed: Dynamics 365 refused the gateway's own credentials (client secret, "
          "application user or its role); an administrator must act.", ("upstream_auth_failed",)),
    503: ("upstream_throttled (Dynamics 365 kept limiting requests; Retry-After says when to retry), "
          "upstream_unavailable (Dynamics 365 failing or unreachable and no recent answer to fall back on), or "
          "configuration_error (a setting is missing or Key Vault cannot be read).",
          ("upstream_throttled", "upstream_unavailable", "configuration_error")),
    504: ("upstream_timeout: Dynamics 365 did not answer within the time budget (the gateway always answers "
          "within 25 seconds).", ("upstream_timeout",)),
}
_RESPONSE_NAMES = {400: "InvalidRequest", 401: "Unauthorized", 404: "NotFound", 500: "InternalError",
                   502: "UpstreamAuthFailed", 503: "ServiceUnavailable", 504: "UpstreamTimeout"}

_CHECK_ERRORS = (400, 401, 404, 500, 502, 503, 504)


def _operations() -> list[dict[str, Any]]:
    from . import __version__

    examples = _examples()
    availability_examples = {
        name: {"summary": summary, "value": examples["availability"][name]}
        for name, summary in (("available", "A representative is free"),
                              ("busy", "Open, nobody free (served from cache)"),
                              ("closed", "Outside operating hours, worded for Europe/Paris"))
    }
    return [
        {
            "path": "/availability/before-conversation",
            "method": "post",
            "operationId": "CheckAvailabilityBeforeConversation",
            "tags": ["Availability"],
            "connector": True,
            "_visibility": "important",
            "summary": "Check availability before a conversation",
            "description": (
                "Tells whether a customer starting a conversation on a workstream now would reach a human "
                "representative: the queue the routing rules pick, whether it is within operating hours, "
                "whether a representative is free, the expected wait and when it opens next, plus a sentence "
                "the bot can say as is. Call it before offering a live chat, a call or an escalation to a "
                "representative, or when the customer asks whether someone is available. Decide with "
                "canEscalate; when it is false, offer to leave a message or to come back at nextOpeningTime. "
                "Pass context items (e.g. Language, Tier) when the workstream routes on them."
            ),
            "body": {"schema": "BeforeConversationRequest", "title": "Check",
                     "description": "The workstream and, optionally, the routing context.",
                     "examples": {"minimal": {"summary": "Workstream only", "value": examples["before"]["minimal"]},
                                  "withContext": {"summary": "With routing context and a time zone",
                                                  "value": examples["before"]["withContext"]},
                                  "longForm": {"summary": "Context item in the long form",
                                               "value": examples["before"]["longForm"]}}},
            "ok": {"schema": "Availability", "description": "The availability answer.",
                   "examples": availability_examples},
            "errors": _CHECK_ERRORS,
        },
        {
            "path": "/availability/for-conversation",
            "method": "post",
            "operationId": "CheckAvailabilityForConversation",
            "tags": ["Availability"],
            "connector": True,
            "_visibility": "important",
            "summary": "Check availability for the current conversation",
            "description": (
                "Tells whether the queue of an ongoing Dynamics 365 conversation has a human representative "
                "free now, with the expected wait, the customer's position and when the queue opens next, plus "
                "a sentence the bot can say as is. Call it when an AI agent is about to transfer (escalate) the "
                "current conversation to a representative: transfer when canEscalate is true, otherwise offer "
                "an alternative such as leaving a message. Needs the conversation's ID."
            ),
            "body": {"schema": "ForConversationRequest", "title": "Check",
                     "description": "The conversation and, optionally, context items that change its routing.",
                     "examples": {"minimal": {"summary": "Conversation only", "value": examples["for"]["minimal"]},
                                  "withContext": {"summary": "With a context item and a time zone",
                                                  "value": examples["for"]["withContext"]}}},
            "ok": {"schema": "Availability", "description": "The availability answer.",
                   "examples": availability_examples},
            "errors": _CHECK_ERRORS,
        },
        {
            "path": "/availability/batch",
            "method": "post",
            "operationId": "CheckAvailabilityBatch",
            "tags": ["Availability"],
            "connector": True,
            "summary": "Check availability for several workstreams",
            "description": (
                f"Runs 1 to {MAX_BATCH} before-conversation checks in one call, in parallel, and returns one "
                "result per check in the same order: status 200 with availability, or an error status with "
                "error. One failing check never fails the others. Use it to pick the first workstream or "
                "channel with a free representative, or to fill a dashboard."
            ),
            "body": {"schema": "BatchRequest", "title": "Checks",
                     "description": f"1 to {MAX_BATCH} before-conversation checks.",
                     "examples": {"twoChecks": {"summary": "Two workstreams",
                                                "value": examples["batch_request"]}}},
            "ok": {"schema": "BatchResponse", "description": "One result per check, in order.",
                   "examples": {"mixed": {"summary": "One answer, one unknown workstream",
                                          "value": examples["batch_response"]}}},
            "errors": (400, 401, 500, 503),
        },
        {
            "path": "/snapshots",
            "method": "get",
            "operationId": "GetAvailabilityHistory",
            "tags": ["History"],
            "connector": True,
            "summary": "Get availability history",
            "description": (
                "Returns the availability snapshots the gateway records every few minutes for each workstream, "
                "newest first (the last 24 hours by default). Use it for questions about the past, such as how "
                "often support was busy this morning, and for reports or charts. Do not use it to decide "
                "whether to escalate now: call Check availability before a conversation for that."
            ),
            "parameters": [
                {"name": "workstreamId", "in": "query", "required": False, "title": "Workstream ID",
                 "_visibility": "important", "description": "Only this workstream's snapshots.",
                 "schema": {"type": "string", "format": "uuid"}, "example": _WORKSTREAM},
                {"name": "queueId", "in": "query", "required": False, "title": "Queue ID",
                 "_visibility": "advanced", "description": "Only snapshots routed to this queue.",
                 "schema": {"type": "string", "format": "uuid"}, "example": _QUEUE},
                {"name": "from", "in": "query", "required": False, "title": "From",
                 "description": "Start of the period: an ISO-8601 time with Z or an offset (e.g. "
                                "2026-11-24T08:00:00Z) or a date (2026-11-24); default 24 hours before to.",
                 "schema": {"type": "string", "format": "date-time"}, "example": "2026-11-24T08:00:00Z"},
                {"name": "to", "in": "query", "required": False, "title": "To",
                 "description": "End of the period (inclusive): an ISO-8601 time with Z or an offset, or a "
                                "date meaning the whole of that day (UTC); default now.",
                 "schema": {"type": "string", "format": "date-time"}, "example": "2026-11-24T18:00:00Z"},
                {"name": "limit", "in": "query", "required": False, "title": "Maximum number of snapshots",
                 "_visibility": "advanced", "description": "1 to 5000; default 500.",
                 "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 5000,
                            "default": 500}},
            ],
            "ok": {"schema": "SnapshotList", "description": "The snapshots, newest first.",
                   "examples": {"history": {"summary": "A good run and a failed one",
                                            "value": examples["snapshots"]}}},
            "errors": (400, 401, 500, 503),
            # status -> (description, codes), where this operation's causes differ from _ERROR_RESPONSES
            "error_notes": {
                400: ("invalid_request: an unknown query parameter, a workstreamId or queueId that is not a GUID, "
                      "from or to that is not an ISO-8601 time with Z or an offset (or a date), from after to, "
                      "or limit outside 1 to 5000; target names the parameter.", ("invalid_request",)),
                503: ("upstream_unavailable (the snapshot table cannot be reached) or configuration_error "
                      "(AzureWebJobsStorage is missing or refused).", ("upstream_unavailable", "configuration_error")),
            },
        },
        {
            "path": "/dashboard",
            "method": "get",
            "operationId": "GetDashboard",
            "tags": ["History"],
            "summary": "Open the supervisor dashboard",
            "description": (
                "One self-contained HTML page for a browser (put the function key in the code query parameter): "
                "per workstream, the status right now, a timeline of the last 24 hours and an hour-of-week "
                "heatmap of when customers could be escalated."
            ),
            "parameters": [
                {"name": "workstreamId", "in": "query", "required": False, "title": "Workstream ID",
                 "description": "Only this workstream.", "schema": {"type": "string", "format": "uuid"},
                 "example": _WORKSTREAM},
                {"name": "days", "in": "query", "required": False, "title": "Days",
                 "description": "Days the heatmap covers, 1 to 31; default 7.",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 31, "default": 7}},
                {"name": "tz", "in": "query", "required": False, "title": "Time zone",
                 "description": "IANA time zone the page shows times in; default UTC.",
                 "schema": {"type": "string"}, "example": "Europe/Paris"},
            ],
            "ok": {"schema": None, "media": "text/html", "description": "The dashboard page."},
            "errors": (400, 401, 500),
        },
        {
            "path": "/health",
            "method": "get",
            "operationId": "GetHealth",
            "tags": ["Service"],
            "public": True,
            "summary": "Check that the service is running",
            "description": "Answers without calling Dynamics 365; needs no function key.",
            "ok": {"schema": "Health", "description": "The service is running.",
                   "examples": {"ok": {"summary": "Running", "value": {"status": "ok", "version": __version__}}}},
            "errors": (),
        },
        {
            "path": "/openapi.json",
            "method": "get",
            "operationId": "GetOpenApiDocument",
            "tags": ["Service"],
            "public": True,
            "summary": "Get this OpenAPI document",
            "description": "The OpenAPI 3 description of every endpoint; needs no function key.",
            "ok": {"schema": None, "description": "An OpenAPI 3.0.3 document."},
            "errors": (),
        },
    ]


_INFO_DESCRIPTION = (
    "Representative availability for Dynamics 365 Contact Center: before a bot offers a live chat or escalates "
    "to a human, ask whether the queue the customer would reach is open and staffed, how long the wait is and "
    "when it opens next.\n\n"
    "Authentication: a function key of the function app, in the x-functions-key header or the code query "
    "parameter (not needed for /api/health and /api/openapi.json).\n\n"
    "Every response carries an x-correlation-id header. Errors have the body "
    "{\"error\": {\"code\", \"message\", \"target\"}}. Times are UTC ISO-8601 ending in Z."
)
_CONNECTOR_DESCRIPTION = (
    "Checks whether a human representative of Dynamics 365 Contact Center can take a customer now: the queue "
    "the customer would reach, its operating hours, free representatives, expected wait and next opening time, "
    "with a sentence a bot can say as is. Use it before offering a live chat or escalating to a representative."
)


# ================================================================================ building: OpenAPI 3.0.3


def _strip_private(node: Any) -> Any:
    """The OpenAPI 3 form of a definition node: everything but the private `_` keys."""
    if isinstance(node, dict):
        return {key: _strip_private(value) for key, value in node.items() if not key.startswith("_")}
    if isinstance(node, list):
        return [_strip_private(value) for value in node]
    return node


def _correlation_header() -> dict[str, Any]:
    return {"$ref": "#/components/headers/CorrelationId"}


@lru_cache(maxsize=1)
def _openapi_json() -> str:
    from . import __version__

    examples = _examples()["errors"]

    def error_response(description: str, codes: tuple[str, ...]) -> dict[str, Any]:
        headers = {"x-correlation-id": _correlation_header()}
        if "upstream_throttled" in codes:
            headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
        return {
            "description": description,
            "headers": headers,
            "content": {"application/json": {
                "schema": _ref("Error"),
                "examples": {code: {"value": examples[code]} for code in codes},
            }},
        }

    error_responses = {_RESPONSE_NAMES[status]: error_response(*entry) for status, entry in _ERROR_RESPONSES.items()}

    paths: dict[str, dict[str, Any]] = {}
    for op in _operations():
        operation: dict[str, Any] = {
            "operationId": op["operationId"],
            "summary": op["summary"],
            "description": op["description"],
            "tags": op["tags"],
        }
        parameters = [{"$ref": "#/components/parameters/CorrelationId"}]
        for param in op.get("parameters", ()):
            parameters.append({key: _strip_private(value) for key, value in param.items()
                               if key != "title" and not key.startswith("_")})
        operation["parameters"] = parameters
        if "body" in op:
            body = op["body"]
            operation["requestBody"] = {
                "required": True,
                "description": body["description"],
                "content": {"application/json": {"schema": _ref(body["schema"]), "examples": body["examples"]}},
            }
        ok = op["ok"]
        media_type = ok.get("media", "application/json")
        media: dict[str, Any] = {"schema": _ref(ok["schema"]) if ok["schema"] else
                                 {"type": "string"} if media_type == "text/html" else {"type": "object"}}
        if ok.get("examples"):
            media["examples"] = ok["examples"]
        responses: dict[str, Any] = {
            "200": {"description": ok["description"], "headers": {"x-correlation-id": _correlation_header()},
                    "content": {media_type: media}},
        }
        notes = op.get("error_notes", {})
        for status in op["errors"]:
            name = _RESPONSE_NAMES[status]
            # The shared response, or this operation's own when its causes differ.
            responses[str(status)] = (error_response(*notes[status]) if status in notes
                                      else {"$ref": "#/components/responses/" + name})
        operation["responses"] = responses
        if op.get("public"):
            operation["security"] = []
        paths.setdefault("/api" + op["path"], {})[op["method"]] = operation

    document = {
        "openapi": "3.0.3",
        "info": {"title": TITLE + " API", "version": __version__, "description": _INFO_DESCRIPTION},
        "tags": [
            {"name": "Availability", "description": "Is a human representative available now?"},
            {"name": "History", "description": "Availability recorded over time by the snapshot timer."},
            {"name": "Service", "description": "Liveness and this description."},
        ],
        "security": [{"functionKeyHeader": []}, {"functionKeyQuery": []}],
        "paths": paths,
        "components": {
            "schemas": _strip_private(_schemas()),
            "parameters": {"CorrelationId": _strip_private(
                {key: value for key, value in _CORRELATION_PARAMETER.items() if key != "title"})},
            "headers": {
                "CorrelationId": {"description": "The request's correlation ID (yours when you sent a valid "
                                                 "one); quote it when reporting a problem.",
                                  "schema": {"type": "string"}},
                "RetryAfter": {"description": "Seconds to wait before retrying (upstream_throttled).",
                               "schema": {"type": "integer", "minimum": 0}},
            },
            "responses": error_responses,
            "securitySchemes": {
                "functionKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                                      "description": "Function key of the function app."},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                                     "description": "Function key of the function app, as a query parameter."},
            },
        },
    }
    return json.dumps(document)


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of every endpoint (a fresh copy; paths carry the `/api` prefix).

    `server_url` is the app's origin, e.g. `https://contoso-availability.azurewebsites.net`; a trailing `/` or
    `/api` is dropped. Without it the document has no `servers` (clients then use the URL it was read from).
    """
    document = json.loads(_openapi_json())
    if server_url:
        url = server_url.rstrip("/")
        if url.endswith("/api"):
            url = url[: -len("/api")]
        ordered = {key: document[key] for key in ("openapi", "info")}
        ordered["servers"] = [{"url": url}]
        ordered.update((key, value) for key, value in document.items() if key not in ordered)
        document = ordered
    return document


# ============================================================================== building: Swagger 2.0


def _swagger_schema(node: Any, where: str = "") -> Any:
    """The Swagger 2.0 / Power Platform form of a definition schema node."""
    if isinstance(node, list):
        return [_swagger_schema(value, where) for value in node]
    if not isinstance(node, dict):
        return node
    if "_swagger" in node:
        node = node["_swagger"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("oneOf", "anyOf", "not"):
            raise ValueError(f"{where or 'schema'}: '{key}' has no Swagger 2.0 form; give it a '_swagger' form")
        if key == "_visibility":
            out["x-ms-visibility"] = value
        elif key.startswith("_"):
            continue
        elif key == "title":
            out["x-ms-summary"] = value
        elif key == "nullable":
            if value:
                out["x-nullable"] = True
        elif key == "enum":
            out["enum"] = [item for item in value if item is not None]
        elif key == "$ref":
            out["$ref"] = "#/definitions/" + value[len(_SCHEMA_PREFIX):]
        elif key == "additionalProperties" and value is False:
            continue  # Power Platform tooling expects a schema here; the service refuses unknown fields anyway
        elif key == "properties":
            out["properties"] = {name: _swagger_schema(sub, f"{where}.{name}") for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _swagger_schema(value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


def _swagger_parameter(param: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param["name"], "in": param["in"], "required": param["required"],
                           "x-ms-summary": param["title"], "description": param["description"]}
    if "_visibility" in param:
        out["x-ms-visibility"] = param["_visibility"]
    out.update(_swagger_schema(param["schema"], param["name"]))
    return out


@lru_cache(maxsize=8)
def _swagger_json(host: str) -> str:
    from . import __version__

    correlation_header = {"type": "string", "description": "The request's correlation ID; quote it when "
                                                           "reporting a problem."}
    paths: dict[str, dict[str, Any]] = {}
    for op in _operations():
        if not op.get("connector"):
            continue
        operation: dict[str, Any] = {
            "operationId": op["operationId"],
            "summary": op["summary"],
            "description": op["description"],
        }
        if "_visibility" in op:
            operation["x-ms-visibility"] = op["_visibility"]
        if "body" in op:
            operation["consumes"] = ["application/json"]
        operation["produces"] = ["application/json"]
        parameters = []
        if "body" in op:
            body = op["body"]
            parameters.append({"name": "body", "in": "body", "required": True, "x-ms-summary": body["title"],
                               "description": body["description"],
                               "schema": {"$ref": "#/definitions/" + body["schema"]}})
        parameters += [_swagger_parameter(param) for param in op.get("parameters", ())]
        parameters.append(_swagger_parameter(_CORRELATION_PARAMETER))
        operation["parameters"] = parameters
        ok = op["ok"]
        responses: dict[str, Any] = {"200": {"description": ok["description"],
                                             "schema": {"$ref": "#/definitions/" + ok["schema"]},
                                             "headers": {"x-correlation-id": correlation_header}}}
        for status in op["errors"]:
            description, codes = op.get("error_notes", {}).get(status, _ERROR_RESPONSES[status])
            headers = {"x-correlation-id": correlation_header}
            if "upstream_throttled" in codes:
                headers["Retry-After"] = {"type": "integer", "description": "Seconds to wait before retrying."}
            responses[str(status)] = {"description": description, "schema": {"$ref": "#/definitions/Error"},
                                      "headers": headers}
        operation["responses"] = responses
        paths.setdefault(op["path"], {})[op["method"]] = operation

    # Only the definitions the connector's operations reach, in the definition's order.
    schemas = _schemas()
    wanted: set[str] = set()
    pending = {ref.rsplit("/", 1)[1] for ref in _refs(paths)}
    while pending:
        name = pending.pop()
        wanted.add(name)
        converted_refs = _refs(_swagger_schema(schemas[name], name))
        pending |= {ref.rsplit("/", 1)[1] for ref in converted_refs} - wanted
    definitions = {name: _swagger_schema(schema, name) for name, schema in schemas.items() if name in wanted}

    document = {
        "swagger": "2.0",
        "info": {"title": TITLE, "description": _CONNECTOR_DESCRIPTION, "version": __version__},
        "host": host,
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": definitions,
        "parameters": {},
        "responses": {},
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                        "description": "Function key: a function or host key of the function app (Azure portal, "
                                       "Function App > App keys)."},
        },
        "security": [{"api_key": []}],
        "tags": [],
    }
    return json.dumps(document)


def swagger_document(host: str = DEFAULT_HOST) -> dict[str, Any]:
    """The Power Platform custom connector definition (Swagger 2.0) for the function app at `host`."""
    return json.loads(_swagger_json(host))


def api_properties() -> dict[str, Any]:
    """The connector's `apiProperties.json`: the function key as its one connection parameter."""
    return {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function key",
                        "description": "A function key (or host key) of the availability function app.",
                        "tooltip": "In the Azure portal: Function App > App keys (or Functions > Function keys). "
                                   "Sent in the x-functions-key header.",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                },
            },
            "iconBrandColor": "#0f6cbd",
            "capabilities": [],
            "publisher": "Contoso",
            "stackOwner": "Contoso",
        },
    }


# ================================================================================= the connector files


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def connector_files(host: str = DEFAULT_HOST) -> dict[str, str]:
    """File name -> exact text of the connector files, as written to `connector/`."""
    return {SWAGGER_FILE: _dump(swagger_document(host)), PROPERTIES_FILE: _dump(api_properties())}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog=REGENERATE,
        description="Write (or check) the Power Platform custom connector files built from the API definition.",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=CONNECTOR_DIR,
                        help="where the connector files go (default: the repository's connector/ folder)")
    parser.add_argument("--check", action="store_true",
                        help="compare instead of writing; exit 1 when a file is missing or out of date")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"host name of the function app in the connector (default: {DEFAULT_HOST})")
    args = parser.parse_args(argv)

    files = connector_files(args.host)
    if args.check:
        stale = []
        for name, text in files.items():
            path = args.directory / name
            try:
                current = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                current = None
            if current != text:
                stale.append(f"{path} is {'missing' if current is None else 'out of date'}")
        if stale:
            print("\n".join(stale) + f"\nRegenerate with: {REGENERATE}", file=sys.stderr)
            return 1
        print(f"{', '.join(files)} in {args.directory} are up to date.")
        return 0

    args.directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.directory / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"Wrote {', '.join(files)} to {args.directory}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
