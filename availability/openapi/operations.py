"""The operations of the API: paths, parameters, bodies and the statuses each can answer, as data both documents
are built from. Request and answer bodies are the shapes of `availability.schemas`; query parameters say what
`availability.http.params` and the dashboard accept."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..schemas import MAX_BATCH
from . import examples
from .history_operations import history_operations
from .operation import (
    CHECK_ERRORS,
    Body,
    Ok,
    Operation,
)
from .subscription_operations import subscription_operations
from .web_operations import public_operations


def _availability_examples() -> dict[str, dict[str, Any]]:
    answers = examples.answers()
    return {name: {"summary": summary, "value": answers[name]}
            for name, summary in (("available", "A representative is free"),
                                  ("busy", "Open, nobody free (served from cache)"),
                                  ("closed", "Outside operating hours, worded for Europe/Paris"))}


def operations() -> list[Operation]:
    """Every operation, in the order the documents list them."""
    before = examples.before_conversation()
    for_ = examples.for_conversation()
    return [
        Operation(
            path="/availability/before-conversation", method="post",
            operation_id="CheckAvailabilityBeforeConversation", tag="Availability", connector=True,
            visibility="important",
            summary="Check availability before a conversation",
            description=(
                "Tells whether a customer starting a conversation on a workstream now would reach a human "
                "representative: the queue the routing rules pick, whether it is within operating hours, whether a "
                "representative is free, the expected wait and when it opens next, plus a sentence the bot can say "
                "as is. Call it before offering a live chat, a call or an escalation to a representative, or when "
                "the customer asks whether someone is available. Decide with canEscalate; when it is false, offer "
                "to leave a message or to come back at nextOpeningTime. Pass context items (e.g. Language, Tier) "
                "when the workstream routes on them."
            ),
            body=Body("BeforeConversationRequest", "Check", "The workstream and, optionally, the routing context.",
                      {"minimal": {"summary": "Workstream only", "value": before["minimal"]},
                       "withContext": {"summary": "With routing context and a time zone",
                                       "value": before["withContext"]},
                       "longForm": {"summary": "Context item in the long form", "value": before["longForm"]}}),
            ok=Ok("Availability", "The availability answer.", examples=_availability_examples()),
            errors=CHECK_ERRORS,
        ),
        Operation(
            path="/availability/for-conversation", method="post",
            operation_id="CheckAvailabilityForConversation", tag="Availability", connector=True,
            visibility="important",
            summary="Check availability for the current conversation",
            description=(
                "Tells whether the queue of an ongoing Dynamics 365 conversation has a human representative free "
                "now, with the expected wait, the customer's position and when the queue opens next, plus a "
                "sentence the bot can say as is. Call it when an AI agent is about to transfer (escalate) the "
                "current conversation to a representative: transfer when canEscalate is true, otherwise offer an "
                "alternative such as leaving a message. Needs the conversation's ID."
            ),
            body=Body("ForConversationRequest", "Check",
                      "The conversation and, optionally, context items that change its routing.",
                      {"minimal": {"summary": "Conversation only", "value": for_["minimal"]},
                       "withContext": {"summary": "With a context item and a time zone",
                                       "value": for_["withContext"]}}),
            ok=Ok("Availability", "The availability answer.", examples=_availability_examples()),
            errors=CHECK_ERRORS,
        ),
        Operation(
            path="/escalation/decision", method="post",
            operation_id="DecideEscalation", tag="Availability", connector=True, visibility="important",
            summary="Decide whether to escalate to a representative",
            description=(
                "Decides whether to hand the customer to a human representative now, and says why: escalate (a "
                "representative is free, or the expected wait is within the limit), offer_alternative (the wait is "
                "too long, the queue closes before the customer would be served, or nobody is free and no wait is "
                "known) or closed (outside operating hours, with the next opening time). Gives a sentence to say "
                "to the customer, in their language, with the wait as a range (about 5 to 10 minutes). Call it when "
                "the customer asks for a person, before transferring the conversation: give conversationId for an "
                "ongoing conversation, or workstreamId before one, and maxWaitSeconds when this customer may wait "
                "more or less than the default (600 seconds). Transfer only when decision is escalate; otherwise say "
                "message and offer to leave a message, a callback or coming back at nextOpeningTime. Costs no more "
                "than one availability check."
            ),
            body=Body("EscalationRequest", "Decision",
                      "The conversation (or the workstream) and how long this customer may wait.",
                      {name: {"summary": summary, "value": examples.escalation_requests()[name]}
                       for name, summary in (("conversation", "The current conversation"),
                                             ("withLimit", "At most 5 minutes of wait, worded in French"),
                                             ("beforeConversation", "Before a conversation, with routing context"))}),
            ok=Ok("EscalationDecision", "The decision, its reason and what to say.",
                  examples={name: {"summary": summary, "value": examples.escalation_decisions()[name]}
                            for name, summary in (("shortWait", "Busy, but the wait is short: escalate"),
                                                  ("longWait", "Busy with a long wait: offer an alternative (in "
                                                               "French)"),
                                                  ("closed", "Outside operating hours"))}),
            errors=CHECK_ERRORS,
            error_notes={
                400: ("invalid_request: a missing or invalid field (target names it): neither or both of "
                      "conversationId and workstreamId, engagementContext with a conversation, maxWaitSeconds "
                      "outside 0 to 86400, or what the two checks refuse.", ("invalid_request",)),
            },
        ),
        Operation(
            path="/availability/batch", method="post",
            operation_id="CheckAvailabilityBatch", tag="Availability", connector=True, visibility="advanced",
            summary="Check availability for several workstreams",
            description=(
                f"Runs 1 to {MAX_BATCH} before-conversation checks in one call, in parallel, and returns one result "
                "per check in the same order: status 200 with availability, or an error status with error. One "
                "failing check never fails the others. Use it to pick the first workstream or channel with a free "
                "representative, or to fill a dashboard."
            ),
            body=Body("BatchRequest", "Checks", f"1 to {MAX_BATCH} before-conversation checks.",
                      {"twoChecks": {"summary": "Two workstreams", "value": examples.batch_request()}}),
            ok=Ok("BatchResponse", "One result per check, in order.",
                  examples={"mixed": {"summary": "One answer, one unknown workstream",
                                      "value": examples.batch_response()}}),
            errors=(400, 401, 500, 503),
        ),
        *history_operations(),
        *subscription_operations(),
        *_workstream_operations(),
        *public_operations(),
        Operation(
            path="/health", method="get",
            operation_id="GetHealth", tag="Service", public=True,
            summary="Check that the service is running",
            description="Answers without calling Dynamics 365; needs no key.",
            ok=Ok("Health", "The service is running.",
                  examples={"ok": {"summary": "Running", "value": {"status": "ok", "version": __version__}}}),
        ),
        Operation(
            path="/openapi.json", method="get",
            operation_id="GetOpenApiDocument", tag="Service", public=True,
            summary="Get this OpenAPI document",
            description="The OpenAPI 3 description of every endpoint; needs no key.",
            ok=Ok(None, "An OpenAPI 3.1 document."),
        ),
    ]


TAGS = [
    {"name": "Availability", "description": "Is a human representative available now?"},
    {"name": "History", "description": "Availability recorded over time by the snapshot timer, and the best times "
                                       "to reach a workstream it suggests."},
    {"name": "Notifications", "description": "Be told when availability changes: change subscriptions (the "
                                         "connector's trigger) and the signed changes sent to their callbacks."},
    {"name": "Web pages", "description": "Anonymous, cacheable answers for the checks published in the app setting "
                                         "PUBLIC_AVAILABILITY, and the drop-in script for a page's chat button."},
    {"name": "Workstreams", "description": "The org's workstreams, to pick one from by name."},
    {"name": "Service", "description": "Liveness and this description."},
]
INFO_DESCRIPTION = (
    "Representative availability for Dynamics 365 Contact Center: before a bot offers a live chat or escalates to "
    "a human, ask whether the queue the customer would reach is open and staffed, how long the wait is and when it "
    "opens next.\n\n"
    "Authentication: a host key of the function app (a function key opens only its own function), in the "
    "x-functions-key header or the code query parameter (not needed for /api/health, /api/openapi.json and "
    "/api/public/...). Without a valid key the Functions host answers 401 with an empty body, and a path no "
    "function serves 404 with an empty body; a method a path does not answer is the app's 405 with Allow. A query "
    "parameter sent empty (name=) counts as absent: the Functions host drops it before the app.\n\n"
    "Every answer of the app carries an x-correlation-id header. Its errors have the body "
    "{\"error\": {\"code\", \"message\", \"target\"}}. Times are UTC ISO-8601 ending in Z."
)
CONNECTOR_DESCRIPTION = (
    "Checks whether a human representative of your contact center can take a customer now: the queue the customer "
    "would reach, its operating hours, free representatives, the expected wait and the next opening time, with a "
    "sentence a bot can say as is. Use it before offering a live chat or escalating to a representative, pick "
    "workstreams by name, and start a flow when availability changes."
)
TITLE = "Contact Center Availability"
# The connector's own title names no product it does not own (certification), hence not TITLE.
CONNECTOR_TITLE = "Representative Availability"


# -- the org's workstreams: what the connector's dropdowns are filled from -------------------------------------------

LIST_WORKSTREAMS = "ListWorkstreams"


def _workstream_operations() -> list[Operation]:
    from ..schemas.workstreams import channel_field

    return [
        Operation(
            path="/workstreams", method="get",
            operation_id=LIST_WORKSTREAMS, tag="Workstreams", connector=True, visibility="internal",
            summary="List workstreams",
            description=(
                "Lists the org's active workstreams, sorted by name, with their channel: what a workstream is "
                "picked from. The list is kept for WORKSTREAMS_CACHE_SECONDS (10 minutes by default), so a new "
                "workstream can take that long to appear; while Dynamics 365 fails, the last list is served with "
                "source stale."
            ),
            parameters=(
                {"name": "channel", "in": "query", "required": False, "title": "Channel",
                 "description": "Only the workstreams of this channel; absent means every channel.",
                 "schema": channel_field(), "example": "chat"},
            ),
            ok=Ok("WorkstreamList", "The org's active workstreams, sorted by name.",
                  examples={"three": {"summary": "Chat, voice and SMS", "value": examples.workstreams()}}),
            errors=(400, 401, 500, 502, 503, 504),
            error_notes={
                400: ("invalid_request: channel is not one of the channels named, or the query has another "
                      "parameter; target names it.", ("invalid_request",)),
            },
        ),
    ]
