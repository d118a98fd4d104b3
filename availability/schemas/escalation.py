"""The escalation decision (`/api/escalation/decision`): its request, which is either check's with the wait this
customer accepts, and its answer."""

from __future__ import annotations

from typing import Any

from .core import EXAMPLE_CONVERSATION, EXAMPLE_WORKSTREAM, GUID, NULLABLE_WHEN, ref
from .fields import context_items, engagement_context, language_field, time_zone_field

__all__ = ["MAX_WAIT_SECONDS", "WHICH_CHECK", "escalation_shapes"]

MAX_WAIT_SECONDS = 86_400
WHICH_CHECK = ("Give conversationId (an ongoing conversation) or workstreamId (before a conversation), not both; "
               "engagementContext goes with workstreamId only.")


def _decision_meanings() -> str:
    from ..escalation import RULES

    seen: dict[str, list[str]] = {}
    for rule in RULES:
        seen.setdefault(rule.decision, []).append(rule.reason)
    return "; ".join(f"{decision} ({', '.join(reasons)})" for decision, reasons in seen.items())


def _enum(kind: str) -> list[str]:
    from ..escalation import decisions, reasons

    return decisions() if kind == "decision" else reasons()


def _names(kind: str) -> dict[str, str]:
    """Each value as a designer shows it: `offer_alternative` → "Offer alternative"."""
    return {value: value.replace("_", " ").capitalize() for value in _enum(kind)}


def escalation_shapes() -> dict[str, dict[str, Any]]:
    """`EscalationRequest` and `EscalationDecision`."""
    return {
        "EscalationRequest": {
            "type": "object",
            "title": "Escalation decision request",
            "description": "The check to decide on (an ongoing conversation, or a workstream before a conversation) "
                           "and how long this customer may wait. " + WHICH_CHECK,
            "additionalProperties": False,
            "properties": {
                "conversationId": {
                    **GUID, "title": "Conversation ID", "_visibility": "important",
                    "examples": [EXAMPLE_CONVERSATION],
                    "description": "ID of the ongoing Dynamics 365 conversation (msdyn_ocliveworkitemid) to escalate; "
                                   "in an agent connected to Contact Center usually the msdyn_ConversationId context "
                                   "variable. Leave it out when giving workstreamId.",
                },
                "workstreamId": {
                    **GUID, "title": "Workstream ID", "examples": [EXAMPLE_WORKSTREAM],
                    "description": "ID of the workstream (msdyn_liveworkstreamid) a new customer would contact, for a "
                                   "decision before any conversation. Leave it out when giving conversationId.",
                },
                "contextItems": context_items(),
                "engagementContext": {**engagement_context(),
                                      "description": engagement_context()["description"] + " With workstreamId only."},
                "maxWaitSeconds": {
                    "type": ["integer", "null"], "format": "int32", "minimum": 0, "maximum": MAX_WAIT_SECONDS,
                    "title": "Longest acceptable wait in seconds", "examples": [300], "_visibility": "advanced",
                    "description": f"How long this customer may wait for a representative, 0 to {MAX_WAIT_SECONDS} "
                                   "seconds: a longer expected wait gives offer_alternative. Default: the app setting "
                                   "ESCALATION_MAX_WAIT_SECONDS (600). null is the same as leaving it out.",
                    "_messages": {"*": f"{{subject}} must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}."},
                },
                "timeZone": time_zone_field(),
                "language": language_field(),
            },
            # Which check: exactly one of the two ids; a conversation brings its own engagement context.
            "oneOf": [
                {"required": ["conversationId"], "not": {"required": ["workstreamId"]},
                 "properties": {"engagementContext": {"type": "null"}}},
                {"required": ["workstreamId"], "not": {"required": ["conversationId"]}},
            ],
            "_messages": {"oneOf": WHICH_CHECK},
            "_swagger": {"oneOf": None},
        },
        "EscalationDecision": {
            "type": "object",
            "title": "Escalation decision",
            "description": "Whether to hand the customer to a representative now, why, and what to say. Act on "
                           "decision; say message as is.",
            "required": ["decision", "reason", "message", "waitRange", "nextOpeningTime", "maxWaitSeconds",
                         "availability"],
            "properties": {
                "decision": {
                    "type": "string", "enum": _enum("decision"), "_enum_names": _names("decision"),
                    "title": "Decision", "examples": ["escalate"],
                    "description": "escalate: hand the customer to a representative now. offer_alternative: the queue "
                                   "is open but escalating now would not serve the customer well; offer leaving a "
                                   "message, a callback or coming back. closed: outside operating hours; say when it "
                                   "opens (nextOpeningTime). With their reasons: " + _decision_meanings() + ".",
                },
                "reason": {
                    "type": "string", "enum": _enum("reason"), "_enum_names": _names("reason"), "title": "Reason",
                    "examples": ["representatives_available"],
                    "description": "Why: representatives_available (one is free now), short_wait (nobody free, the "
                                   "expected wait is within maxWaitSeconds), long_wait (it is longer), "
                                   "closes_before_served (the queue closes before the expected wait is over), "
                                   "no_representatives (nobody free and no expected wait), outside_hours.",
                },
                "message": {
                    "type": "string", "title": "Message",
                    "examples": ["All representatives are busy right now; one should be with you in about 5 to 15 "
                                 "minutes."],
                    "description": "One sentence the agent can say as is, in the language asked for, the wait said as "
                                   "a range and times in the requested time zone.",
                },
                "waitRange": {
                    "type": ["object", "null"], "title": "Expected wait in seconds", "required": ["low", "high"],
                    "description": "The expected wait as a range of seconds, as message says it: from half the org's "
                                   "average wait to one and a half times it, rounded outwards to whole minutes (5 "
                                   "minutes past 20 minutes, hours past 2 hours). null when the queue is closed or the "
                                   "org gives no average.",
                    "examples": [{"low": 300, "high": 900}],
                    "properties": {
                        "low": {"type": "integer", "format": "int32", "minimum": 0,
                                "title": "Shortest expected wait in seconds",
                                "description": "The short end of the range, in seconds."},
                        "high": {"type": "integer", "format": "int32", "minimum": 0,
                                 "title": "Longest expected wait in seconds",
                                 "description": "The long end of the range, in seconds."},
                    },
                },
                "nextOpeningTime": {
                    **NULLABLE_WHEN, "title": "Next opening time",
                    "description": "UTC time the queue opens again when decision is closed; null otherwise.",
                },
                "maxWaitSeconds": {
                    "type": "integer", "format": "int32", "minimum": 0, "title": "Longest acceptable wait in seconds",
                    "_visibility": "advanced",
                    "description": "The longest wait the decision accepted: the request's maxWaitSeconds, else the "
                                   "app's default.",
                },
                # When decision is not escalate and the history suggests one: its first coming window.
                "bestTime": ref("NextGoodTime"),
                "availability": ref("Availability"),  # the answer the decision was made on
            },
        },
    }
