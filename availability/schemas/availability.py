"""The checks and their answers (`/api/availability/...`): the before- and for-conversation requests, the batch
of checks, the `Availability` answer and a batch's results."""

from __future__ import annotations

from typing import Any, get_args

from .core import (
    EXAMPLE_CONVERSATION,
    EXAMPLE_QUEUE,
    EXAMPLE_WORKSTREAM,
    GUID,
    MAX_BATCH,
    NULLABLE_INT,
    NULLABLE_WHEN,
    WHEN,
    ref,
    status_field,
)
from .fields import context_items, engagement_context, language_field, time_zone_field

__all__ = ["answer_fields", "availability_shapes"]


def _sources() -> list[str]:
    from ..answer import Source

    return list(get_args(Source))


def answer_fields() -> dict[str, dict[str, Any]]:
    """The fields of an availability answer (the `Availability` shape; the public one takes some of them as is)."""
    return {
        "queueId": {"type": "string", "format": "uuid", "title": "Queue ID", "examples": [EXAMPLE_QUEUE],
                    "description": "The queue the customer would be routed to (first matching routing "
                                   "rule)."},
        "status": status_field(),
        "canEscalate": {"type": "boolean", "title": "Can escalate", "examples": [True],
                        "description": "True exactly when status is available: a representative can take "
                                       "the customer now."},
        "withinOperatingHours": {"type": "boolean", "title": "Within operating hours",
                                 "description": "True inside the queue's operating hours."},
        "representativesAvailable": {"type": "boolean", "title": "Representative available",
                                     "description": "True when a representative of the queue can take the "
                                                    "request now."},
        "availableRepresentatives": {**NULLABLE_INT, "minimum": 0,
                                     "title": "Number of available representatives",
                                     "description": "Representatives free to take a conversation now; null "
                                                    "when Dynamics 365 does not say."},
        "positionInQueue": {**NULLABLE_INT, "title": "Position in queue",
                            "description": "Position the customer would have (or has) in the queue; null "
                                           "when unknown."},
        "averageWaitSeconds": {**NULLABLE_INT, "minimum": 0, "title": "Average wait in seconds",
                               "description": "Average wait in the queue in seconds; null when unknown."},
        "nextTransitionTime": {**NULLABLE_WHEN, "title": "Next change of hours",
                               "description": "UTC time the queue next opens (when closed) or closes (when "
                                              "open); null when no change is coming (e.g. open around the "
                                              "clock)."},
        "nextOpeningTime": {**NULLABLE_WHEN, "title": "Next opening time",
                            "description": "UTC start of the next operating window when the queue is "
                                           "closed; null while it is open."},
        "nextClosingTime": {**NULLABLE_WHEN, "title": "Next closing time",
                            "description": "UTC end of that next operating window when the queue is "
                                           "closed; null while it is open."},
        "message": {"type": "string", "title": "Message",
                    "examples": ["A representative is available now; the estimated wait is about 2 "
                                 "minutes."],
                    "description": "One sentence a bot can say as is, in the requested language, with times "
                                   "in the requested time zone."},
        "retrievedAt": {**WHEN, "title": "Retrieved at",
                        "description": "UTC time Dynamics 365 produced this answer."},
        "source": {"type": "string", "enum": _sources(), "title": "Source",
                   "_visibility": "advanced", "_enum_names": {"live": "Live", "cache": "Cache", "stale": "Stale"},
                   "description": "live = fetched for this request; cache = served from the gateway's "
                                  "short cache; stale = Dynamics 365 failed and an older answer is served."},
        "ageSeconds": {"type": "number", "format": "double", "minimum": 0, "title": "Age in seconds",
                       "_visibility": "advanced",
                       "description": "Seconds between retrievedAt and this response."},
        "language": {"type": "string", "title": "Language", "examples": ["en"], "_visibility": "advanced",
                     "description": "The language message is worded in: the best supported match of the "
                                    "language asked for (en when none was asked for or none matched)."},
    }


def availability_shapes() -> dict[str, dict[str, Any]]:
    """The two check requests, the batch request, the answer and a batch's results."""
    return {
        "BeforeConversationRequest": {
            "type": "object",
            "title": "Before conversation check",
            "description": "Which queue would a new customer of this workstream reach, and is it staffed?",
            "required": ["workstreamId"],
            "additionalProperties": False,
            "properties": {
                "workstreamId": {
                    **GUID, "title": "Workstream", "_visibility": "important", "_pick": "workstream",
                    "examples": [EXAMPLE_WORKSTREAM],
                    "description": "The Dynamics 365 Contact Center workstream the customer would contact, e.g. the "
                                   "website chat: its ID (msdyn_liveworkstreamid), picked by name in the connector.",
                },
                "contextItems": context_items(),
                "engagementContext": engagement_context(),
                "timeZone": time_zone_field(),
                "language": language_field(),
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
                    **GUID, "title": "Conversation ID", "_visibility": "important",
                    "examples": [EXAMPLE_CONVERSATION],
                    "description": "ID of the ongoing Dynamics 365 conversation (msdyn_ocliveworkitemid). In a "
                                   "Copilot Studio agent connected to Contact Center it is usually the "
                                   "msdyn_ConversationId context variable.",
                    # Certified connectors name no Power Platform product in their descriptions.
                    "_swagger": {"description": "ID of the ongoing Dynamics 365 conversation (msdyn_ocliveworkitemid). "
                                                "In an agent connected to Contact Center it is usually the "
                                                "msdyn_ConversationId context variable."},
                },
                "contextItems": context_items(),
                "timeZone": time_zone_field(),
                "language": language_field(),
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
            "properties": answer_fields(),
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
    }
