"""The operations of the API: paths, parameters, bodies and the statuses each can answer, as data both documents
are built from. Request and answer bodies are the shapes of `availability.schemas`; query parameters say what
`availability.http.params` and the dashboard accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..schemas import DELIVERY_HEADER as DELIVERY
from ..schemas import GUID_PATTERN, MAX_BATCH, MAX_BODY_BYTES, ref
from ..schemas import SIGNATURE_HEADER as SIGNATURE
from ..schemas import TIMED_SIGNATURE_HEADER as TIMED_SIGNATURE
from . import examples

# Query parameters may be left blank where the page's own form sends them empty: whitespace, as Python's
# str.strip() sees it (Rust's regex counts \x1c-\x1f as text, Python as whitespace).
_BLANK_PATTERN = r"^[\s\x1c-\x1f]*$"

CORRELATION_PARAMETER: dict[str, Any] = {
    "name": "x-correlation-id",
    "in": "header",
    "required": False,
    "title": "Correlation ID",
    "_visibility": "advanced",
    "description": "Your own ID for this request, echoed in the x-correlation-id response header: 1 to 64 letters, "
                   "digits and . _ : - are kept; anything else (or none) is replaced by a new one, never refused. "
                   "The gateway's logs and telemetry never record yours: the answer's x-request-id is its own ID "
                   "for the request; quote that when reporting a problem.",
    # Any value is accepted (a bad one is replaced), so the schema must not forbid any.
    "schema": {"type": "string"},
}

# status -> (description, the error codes it carries)
ERROR_RESPONSES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("invalid_request: malformed JSON, a missing or invalid field (target names it), too many items, or a "
          f"body over {MAX_BODY_BYTES // 1024} KiB.", ("invalid_request",)),
    401: ("The key is missing or wrong: the Functions host refuses the request before the app sees it, with an "
          "empty body (no error code, no x-correlation-id). Use a host key of the function app: a function key "
          "opens only its own function.", ()),
    404: ("not_found: Dynamics 365 does not know the workstream or conversation.", ("not_found",)),
    500: ("internal_error: an unexpected fault of the gateway; quote the x-correlation-id when reporting it.",
          ("internal_error",)),
    502: ("upstream_auth_failed: Dynamics 365 refused the gateway's own credentials (client secret, application "
          "user or its role); an administrator must act.", ("upstream_auth_failed",)),
    503: ("upstream_throttled (Dynamics 365 kept limiting requests; Retry-After says when to retry), "
          "upstream_unavailable (Dynamics 365 failing or unreachable and no recent answer to fall back on), or "
          "configuration_error (a setting is missing or Key Vault cannot be read).",
          ("upstream_throttled", "upstream_unavailable", "configuration_error")),
    504: ("upstream_timeout: Dynamics 365 did not answer within the time budget (the gateway always answers within "
          "25 seconds).", ("upstream_timeout",)),
}
RESPONSE_NAMES = {400: "InvalidRequest", 401: "Unauthorized", 404: "NotFound", 500: "InternalError",
                  502: "UpstreamAuthFailed", 503: "ServiceUnavailable", 504: "UpstreamTimeout"}
CHECK_ERRORS = (400, 401, 404, 500, 502, 503, 504)


@dataclass(frozen=True)
class Body:
    """A JSON request body: its shape and named examples."""

    schema: str
    title: str
    description: str
    examples: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Ok:
    """The 200 answer: its shape (None: any JSON object, or the page for text/html)."""

    schema: str | None
    description: str
    media: str | None = "application/json"  # None: no content (a 204)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)  # beside x-correlation-id


@dataclass(frozen=True)
class Notification:
    """What the callback of a webhook subscription receives: a POST of the shape `schema`, with these headers."""

    schema: str
    summary: str
    description: str
    headers: tuple[dict[str, Any], ...] = ()
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One endpoint: where, what it takes, what it answers; `connector` ones go into the Power Platform connector."""

    path: str
    method: str
    operation_id: str
    tag: str
    summary: str
    description: str
    ok: Ok
    errors: tuple[int, ...] = ()
    body: Body | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    # status -> (description, codes) where this operation's causes differ from ERROR_RESPONSES
    error_notes: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    connector: bool = False
    visibility: str | None = None
    public: bool = False
    not_modified: bool = False  # answers 304 to a matching If-None-Match, with the 200's headers
    admin: bool = False  # needs the master key: the host refuses any other key with its empty 401
    trigger: str | None = None  # the connector's x-ms-trigger: "single" for a webhook trigger
    notification: Notification | None = None  # what the webhook this operation subscribes to is sent


def _guid_parameter(name: str, title: str, description: str, example: str, *, blank: bool = False,
                    visibility: str | None = None) -> dict[str, Any]:
    guid = {"type": "string", "format": "uuid", "pattern": GUID_PATTERN}
    schema = {"anyOf": [guid, {"type": "string", "pattern": _BLANK_PATTERN}]} if blank else guid
    parameter = {"name": name, "in": "query", "required": False, "title": title, "description": description,
                 "schema": schema, "example": example}
    return {**parameter, "_visibility": visibility} if visibility else parameter


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
        Operation(
            path="/snapshots", method="get",
            operation_id="GetAvailabilityHistory", tag="History", connector=True, visibility="advanced",
            summary="Get availability history",
            description=(
                "Returns the availability snapshots the gateway records every few minutes for each workstream, "
                "newest first (the last 24 hours by default). Use it for questions about the past, such as how "
                "often support was busy this morning, and for reports or charts. Do not use it to decide whether to "
                "escalate now: call Check availability before a conversation for that."
            ),
            parameters=(
                {**_guid_parameter("workstreamId", "Workstream", "Only this workstream's snapshots: pick it by name, "
                                   "or enter its ID.", examples.WORKSTREAM, visibility="important"),
                 "_pick": "workstream"},
                _guid_parameter("queueId", "Queue ID", "Only snapshots routed to this queue.", examples.QUEUE,
                                visibility="advanced"),
                {"name": "from", "in": "query", "required": False, "title": "From",
                 "description": "Start of the period: an ISO-8601 time with Z or an offset (e.g. "
                                "2026-11-24T08:00:00Z) or a date (2026-11-24); default 24 hours before to.",
                 "schema": {"type": "string", "format": "date-time"}, "example": "2026-11-24T08:00:00Z"},
                {"name": "to", "in": "query", "required": False, "title": "To",
                 "description": "End of the period (inclusive): an ISO-8601 time with Z or an offset, or a date "
                                "meaning the whole of that day (UTC); default now.",
                 "schema": {"type": "string", "format": "date-time"}, "example": "2026-11-24T18:00:00Z"},
                {"name": "limit", "in": "query", "required": False, "title": "Maximum number of snapshots",
                 "_visibility": "advanced", "description": "1 to 5000; default 500.",
                 "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 5000, "default": 500}},
            ),
            ok=Ok("SnapshotList", "The snapshots, newest first.",
                  examples={"history": {"summary": "A good run and a failed one", "value": examples.snapshots()}}),
            errors=(400, 401, 500, 503),
            error_notes={
                400: ("invalid_request: an unknown query parameter, a workstreamId or queueId that is not a GUID, "
                      "from or to that is not an ISO-8601 time with Z or an offset (or a date), from after to, or "
                      "limit outside 1 to 5000; target names the parameter.", ("invalid_request",)),
                503: ("upstream_unavailable (the snapshot table cannot be reached) or configuration_error "
                      "(AzureWebJobsStorage is missing or refused).", ("upstream_unavailable", "configuration_error")),
            },
        ),
        Operation(
            path="/dashboard", method="get",
            operation_id="GetDashboard", tag="History",
            summary="Open the supervisor dashboard",
            description=(
                "One self-contained HTML page for a browser (put a host key in the code query parameter): per "
                "workstream, the status right now, a timeline of the last 24 hours and an hour-of-week heatmap of "
                "when customers could be escalated."
            ),
            parameters=(
                _guid_parameter("workstreamId", "Workstream ID", "Only this workstream; blank means all.",
                                examples.WORKSTREAM, blank=True),
                {"name": "days", "in": "query", "required": False, "title": "Days",
                 "description": "Days the heatmap covers, 1 to 31; default 7.",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 31, "default": 7}},
                {"name": "tz", "in": "query", "required": False, "title": "Time zone",
                 "description": "IANA time zone the page shows times in; blank or absent means UTC.",
                 "schema": {"anyOf": [ref("TimeZone"), {"type": "string", "pattern": _BLANK_PATTERN}]},
                 "example": "Europe/Paris"},
            ),
            ok=Ok(None, "The dashboard page.", media="text/html"),
            errors=(400, 401, 500),
        ),
        _best_times_operation(),
        *_subscription_operations(),
        *_workstream_operations(),
        *_public_operations(),
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


# -- best times: suggestions from the snapshot history ----------------------------------------------------------------


def _best_times_operation() -> Operation:
    from ..besttimes.windows import (
        DEFAULT_COUNT,
        DEFAULT_MIN_SHARE,
        DEFAULT_WITHIN_HOURS,
        MAX_COUNT,
        MAX_WITHIN_HOURS,
        MIN_WEEKS,
    )
    from ..language import SUPPORTED

    blank = {"type": "string", "pattern": _BLANK_PATTERN}
    samples = examples.best_times()
    return Operation(
        path="/workstreams/{id}/best-times", method="get",
        operation_id="GetBestTimes", tag="History", connector=True, visibility="advanced",
        summary="Get the best times to reach a workstream",
        description=(
            "Suggests when to come back when nobody is free or the queue is closed: the coming windows of whole "
            "hours in which, over the last weeks of recorded history, a representative was free most of the time "
            "(at least minAvailableShare of the snapshots of each hour), earliest first, with a sentence a bot can "
            "say, the share of the time someone was free, a lower bound of it and how sure the suggestion is. With "
            f"too little history (an hour of the week seen in fewer than {MIN_WEEKS} weeks) the list is empty and "
            "reason says so. Reads only the recorded history: never a call to Dynamics 365."
        ),
        parameters=(
            {"name": "id", "in": "path", "required": True, "title": "Workstream ID",
             "description": "The workstream whose history to read.",
             "schema": {"type": "string", "format": "uuid", "pattern": GUID_PATTERN}, "example": examples.WORKSTREAM},
            {"name": "count", "in": "query", "required": False, "title": "Number of suggestions",
             "description": f"1 to {MAX_COUNT}; default {DEFAULT_COUNT}.",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": DEFAULT_COUNT}},
            {"name": "within", "in": "query", "required": False, "title": "Hours ahead", "_visibility": "advanced",
             "description": f"How far ahead a suggestion may start, in hours: 1 to {MAX_WITHIN_HOURS}; default "
                            f"{DEFAULT_WITHIN_HOURS}.",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_WITHIN_HOURS,
                        "default": DEFAULT_WITHIN_HOURS}},
            {"name": "minAvailableShare", "in": "query", "required": False, "title": "Least share with someone free",
             "_visibility": "advanced",
             "description": "Each hour of a suggestion had a representative free in at least this share of its "
                            f"snapshots: 0 to 1; default {DEFAULT_MIN_SHARE}.",
             "schema": {"type": "number", "minimum": 0, "maximum": 1, "default": DEFAULT_MIN_SHARE}},
            {"name": "tz", "in": "query", "required": False, "title": "Time zone",
             "description": "IANA time zone the messages word times in (and whose days end the windows); blank or "
                            "absent means UTC.",
             "schema": {"anyOf": [ref("TimeZone"), blank], "_swagger": {"anyOf": None, "type": "string"}},
             "example": "Europe/Paris"},
            {"name": "lang", "in": "query", "required": False, "title": "Language", "_visibility": "advanced",
             "description": f"BCP 47 tag of the language of the messages ({', '.join(SUPPORTED)}; else English); "
                            "blank or absent: the request's Accept-Language, else English.",
             "schema": {"anyOf": [ref("LanguageTag"), blank], "_swagger": {"anyOf": None, "type": "string"}},
             "example": "fr"},
        ),
        ok=Ok("BestTimes", "The suggestions, earliest first, and what they rest on.",
              examples={"suggestions": {"summary": "Eight weeks of history, worded in French for Europe/Paris",
                                        "value": samples["suggestions"]},
                        "notEnoughHistory": {"summary": "One week of history: nothing suggested, and why",
                                             "value": samples["notEnoughHistory"]}}),
        errors=(400, 401, 500, 503, 504),
        error_notes={
            400: ("invalid_request: the workstream ID is not a GUID, count, within or minAvailableShare is out of "
                  "range, tz is not an IANA time zone name, lang is not a BCP 47 tag, or the query has another "
                  "parameter; target names it.", ("invalid_request",)),
            503: ("upstream_unavailable (the snapshot table cannot be reached) or configuration_error "
                  "(AzureWebJobsStorage is missing or refused).", ("upstream_unavailable", "configuration_error")),
            504: ("upstream_timeout: the snapshot table did not return the history in time.", ("upstream_timeout",)),
        },
    )


# -- the public endpoints (web pages): anonymous, so never in the connector, which is for makers with keys --------

_PUBLIC_HEADERS: dict[str, dict[str, Any]] = {
    "Cache-Control": {"description": "public, max-age=<seconds the answer stays fresh, rounded up: 1 to "
                                     "AVAILABILITY_CACHE_SECONDS, never past its next opening or closing (0 in the "
                                     "last second before one); a stale answer 5 at most>, stale-while-revalidate=0, "
                                     "stale-if-error=<seconds it may still be served stale after that>.",
                      "schema": {"type": "string"},
                      "example": "public, max-age=12, stale-while-revalidate=0, stale-if-error=287"},
    "ETag": {"description": "Weak validator of what the page shows (all but retrievedAt): send it back in "
                            "If-None-Match to get a 304 while it holds.",
             "schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {"description": "The request's Origin when PUBLIC_ALLOWED_ORIGINS lists it, or * "
                                                   "when it lists *; absent otherwise.",
                                    "schema": {"type": "string"}},
    "Access-Control-Expose-Headers": {"description": "Age, with Access-Control-Allow-Origin: a page may read how old "
                                                     "a shared cache's copy is.", "schema": {"type": "string"}},
    "Vary": {"description": "Origin, when PUBLIC_ALLOWED_ORIGINS lists origins.", "schema": {"type": "string"}},
}
_ALIAS_PARAMETER: dict[str, Any] = {
    "name": "alias", "in": "path", "required": True, "title": "Alias", "schema": ref("PublicAlias"),
    "example": "support",
    "description": "A name of PUBLIC_AVAILABILITY; an alias not there (or none configured) is a 404.",
}
_ORIGIN_PARAMETER: dict[str, Any] = {
    "name": "Origin", "in": "header", "required": False, "title": "Origin", "schema": {"type": "string"},
    "example": "https://www.contoso.com",
    "description": "Sent by browsers: the page's origin, granted CORS when PUBLIC_ALLOWED_ORIGINS lists it.",
}


def _public_operations() -> list[Operation]:
    from ..language import SUPPORTED

    blank = {"type": "string", "pattern": _BLANK_PATTERN}
    return [
        Operation(
            path="/public/availability/{alias}", method="get",
            operation_id="GetPublicAvailability", tag="Web pages", public=True, not_modified=True,
            summary="Get a published check's availability (no key)",
            description=(
                "For web pages: whether to offer a chat now and what to say, for one of the checks the operator "
                "published in PUBLIC_AVAILABILITY (a workstream with its routing context, fixed there: the caller "
                "can add nothing). No queue ID and no staffing figures. Cacheable: Cache-Control max-age is what is "
                "left of the answer's freshness and the ETag answers If-None-Match with a 304; a cacheable answer "
                "carries the gateway's own x-correlation-id, never the caller's. Readable by the "
                "pages of PUBLIC_ALLOWED_ORIGINS (CORS). Whatever the traffic, Dynamics 365 sees at most one call "
                "per alias per AVAILABILITY_CACHE_SECONDS."
            ),
            parameters=(
                _ALIAS_PARAMETER,
                {"name": "tz", "in": "query", "required": False, "title": "Time zone",
                 "description": "IANA time zone the message words times in; blank or absent: the alias's own "
                                "timeZone, else UTC. Changes the wording only.",
                 "schema": {"anyOf": [ref("TimeZone"), blank]}, "example": "Europe/Paris"},
                {"name": "lang", "in": "query", "required": False, "title": "Language",
                 "description": f"BCP 47 tag of the language of message ({', '.join(SUPPORTED)}; else "
                                "English); blank or absent: the alias's own language, else English. Accept-Language "
                                "is not read: the URL alone decides the wording, as shared caches key by it.",
                 "schema": {"anyOf": [ref("LanguageTag"), blank]}, "example": "fr"},
                {"name": "include", "in": "query", "required": False, "title": "Optional fields",
                 "description": "nextGoodTime: add the time the history suggests to come back (null when it "
                                "suggests none). Blank or absent: none. Part of the URL, so each variant is cached "
                                "on its own.",
                 "schema": {"anyOf": [{"type": "string", "enum": ["nextGoodTime"]}, blank]},
                 "example": "nextGoodTime"},
                {"name": "If-None-Match", "in": "header", "required": False, "title": "If-None-Match",
                 "description": "An ETag of an earlier answer: a 304 without a body while it still holds.",
                 "schema": {"type": "string"}},
                _ORIGIN_PARAMETER,
            ),
            ok=Ok("PublicAvailability", "The published check's availability.", headers=_PUBLIC_HEADERS,
                  examples={"closed": {"summary": "Closed, worded in French for Europe/Paris",
                                        "value": examples.public_answer()},
                            "nextGoodTime": {"summary": "Closed, with the next good time (include=nextGoodTime)",
                                             "value": examples.public_answer(next_good_time=True)}}),
            errors=(400, 404, 500, 502, 503, 504),
            error_notes={
                400: ("invalid_request: tz is not an IANA time zone name, lang is not a BCP 47 tag, include names "
                      "something other than nextGoodTime, or the query has another parameter; target names it.",
                      ("invalid_request",)),
                404: ("not_found: no check is published under this alias (or none at all), or Dynamics 365 does "
                      "not know its workstream.", ("not_found",)),
                503: ("configuration_error (PUBLIC_AVAILABILITY or PUBLIC_ALLOWED_ORIGINS is malformed, or another "
                      "setting is missing), upstream_throttled or upstream_unavailable.",
                      ("configuration_error", "upstream_throttled", "upstream_unavailable")),
            },
        ),
        Operation(
            path="/public/availability/{alias}", method="options",
            operation_id="PreflightPublicAvailability", tag="Web pages", public=True,
            summary="CORS preflight of a published check (no key)",
            description=(
                "A browser's CORS preflight (Origin and Access-Control-Request-Method) is answered by the Functions "
                "host itself on Flex Consumption, before the app and whatever the path: a 204 granting an origin of "
                "the platform's CORS list (set from PUBLIC_ALLOWED_ORIGINS) the method and headers it asked for, and "
                "a 204 that grants nothing to any other origin. Any other OPTIONS reaches the app: a 204 with Allow "
                "(granting an allowed origin GET and OPTIONS, with Access-Control-Max-Age), or a 404 for an alias "
                "not published, as for GET."
            ),
            parameters=(_ALIAS_PARAMETER, _ORIGIN_PARAMETER),
            ok=Ok(None, "The preflight's answer.", media=None, status=204, headers={
                "Allow": {"description": "GET, OPTIONS", "schema": {"type": "string"}},
                "Access-Control-Allow-Origin": _PUBLIC_HEADERS["Access-Control-Allow-Origin"],
                "Access-Control-Allow-Methods": {"description": "For an allowed origin: the method the preflight "
                                                                "asked for (the host's answer), or GET, OPTIONS "
                                                                "(the app's).",
                                                 "schema": {"type": "string"}},
                "Access-Control-Allow-Headers": {"description": "For an allowed origin: the headers the preflight "
                                                                "asked for (the host's answer), or those the app "
                                                                "lets a page add.",
                                                 "schema": {"type": "string"}},
                "Access-Control-Max-Age": {"description": "Seconds a browser may remember the app's grant (the "
                                                          "host's answer has none).",
                                           "schema": {"type": "string"}},
                "Vary": _PUBLIC_HEADERS["Vary"]}),
            errors=(404, 500, 503),
            error_notes={404: ("not_found: no check is published under this alias (or none at all).", ("not_found",)),
                         503: ("configuration_error: PUBLIC_AVAILABILITY or PUBLIC_ALLOWED_ORIGINS is malformed, or "
                               "another setting.", ("configuration_error",))},
        ),
        Operation(
            path="/public/widget.js", method="get",
            operation_id="GetWidgetScript", tag="Web pages", public=True, not_modified=True,
            summary="Get the drop-in script for web pages (no key)",
            description=(
                "A small script (no dependencies, no eval, no inline style) that shows or hides a page's elements "
                "by the current status of a published check: <script src=\"https://<app>/api/public/widget.js\" "
                "data-alias=\"support\" async></script>, then data-availability-show=\"available\" on the chat "
                "button and data-availability-text=\"message\" where the sentence goes."
            ),
            ok=Ok(None, "The script.", media="text/javascript", headers={
                "Cache-Control": {"description": "public, max-age=3600", "schema": {"type": "string"}},
                "ETag": {"description": "Validator of the script.", "schema": {"type": "string"}}}),
            parameters=({"name": "If-None-Match", "in": "header", "required": False, "title": "If-None-Match",
                         "description": "The script's ETag: a 304 while it is unchanged.",
                         "schema": {"type": "string"}},),
            errors=(500,),
        ),
    ]


# -- change subscriptions: the webhook trigger of the connector, and its management ----------------------------------

_SUBSCRIPTION_ID: dict[str, Any] = {
    "name": "id", "in": "path", "required": True, "title": "Subscription ID",
    "description": "The subscription's ID, as in the Location of its 201.",
    "schema": {"type": "string"}, "example": examples.SUBSCRIPTION,
}
_NOT_A_SUBSCRIPTION = {404: ("not_found: no change subscription has this ID.", ("not_found",))}
_STORAGE_FAULT = {503: ("upstream_unavailable (the subscriptions table cannot be reached) or configuration_error "
                        "(AzureWebJobsStorage is missing or refused).",
                        ("upstream_unavailable", "configuration_error"))}


def _subscription_operations() -> list[Operation]:
    bodies = examples.subscription_requests()
    return [
        Operation(
            path="/subscriptions", method="post",
            operation_id="WhenAvailabilityChanges", tag="Notifications", connector=True, trigger="single",
            visibility="important",
            summary="When availability changes",
            description=(
                "Starts when a workstream's availability changes: when its queue opens or closes, or when a "
                "representative becomes free or stops being free. Pick the workstream to watch (with the context "
                "items its routing reads, if any) and whether to start on every change of status or only when a "
                "customer can, or can no longer, be escalated to a representative. A change at an opening or "
                "closing is sent within 90 seconds; a change of staffing within one snapshot interval (5 minutes by "
                "default). Each change carries the previous and the new status and the whole availability answer, "
                "with a sentence a bot can say as is. Use it instead of checking again and again."
            ),
            body=Body("SubscriptionRequest", "Subscription",
                      "The callback to call, the workstream to watch and which changes to send.",
                      {"status": {"summary": "Every change of status", "value": bodies["status"]},
                       "canEscalate": {"summary": "Only when escalating becomes possible or impossible, in French",
                                       "value": bodies["canEscalate"]}}),
            ok=Ok("SubscriptionCreated", "The subscription, with the status now (the baseline) and the secret that "
                                         "signs its deliveries, shown only here.", status=201,
                  headers={"Location": {"description": "The subscription's absolute URL, on the host the request "
                                                       "arrived on (https://<app>/api/subscriptions/{id}): a DELETE "
                                                       "there with the same key ends it.",
                                        "schema": {"type": "string", "format": "uri"}}},
                  examples={"created": {"summary": "Made while the queue is closed",
                                        "value": examples.subscription_created()}}),
            errors=CHECK_ERRORS,
            error_notes={
                400: ("invalid_request: a missing or invalid field (target names it): a callbackUrl that is not "
                      "https on port 443 or does not resolve to public addresses only, a workstreamId that is not a "
                      "GUID, context items the checks would refuse; or the workstream already has the most "
                      "subscriptions it may have.", ("invalid_request",)),
                404: ("not_found: Dynamics 365 does not know the workstream.", ("not_found",)),
            },
            notification=Notification(
                "AvailabilityChange", "A change of availability",
                "Sent to the subscription's callbackUrl (POST, JSON) when the watched field changes. Headers: "
                f"{TIMED_SIGNATURE} is t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<delivery ID>.<raw body>\" "
                "keyed with the subscription's secret>: check it and refuse a t more than 5 minutes from your clock, "
                f"so that a copy sent again later or under another ID fails; {SIGNATURE} is sha256= and the hex "
                f"HMAC-SHA256 of the raw body alone; {DELIVERY} is the delivery's ID, the same on every retry. "
                "Answer 2xx to take it, with the status line within 5 seconds of the connection (nothing after it is "
                "read); 5xx, 429 or no status line in time is retried with back-off; 410 deletes the subscription; "
                "after 10 failures in a row it is disabled.",
                headers=(
                    {"name": TIMED_SIGNATURE, "in": "header", "required": True,
                     "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<delivery ID>.<raw body>\", keyed "
                                    "with the subscription's secret>. Refuse a t more than 5 minutes from your clock.",
                     "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"}},
                    {"name": SIGNATURE, "in": "header", "required": True,
                     "description": "sha256=<hex HMAC-SHA256 of the raw body, keyed with the subscription's secret>.",
                     "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}},
                    {"name": DELIVERY, "in": "header", "required": True,
                     "description": "The delivery's ID: the same on every retry of one change.",
                     "schema": {"type": "string", "format": "uuid"}},
                ),
                examples={"opened": {"summary": "The queue opened", "value": examples.availability_change()}}),
        ),
        Operation(
            path="/subscriptions", method="get",
            operation_id="ListSubscriptions", tag="Notifications", admin=True,
            summary="List change subscriptions",
            description="Every change subscription of this app, oldest first, with how its last delivery went; never "
                        "a callback URL (only its host) nor a secret. Needs the master key: it lists everyone's "
                        "subscriptions, with the ids that open them.",
            ok=Ok("SubscriptionList", "The subscriptions.",
                  examples={"one": {"summary": "One subscription", "value": {"subscriptions": [
                      examples.subscription()]}}}),
            errors=(401, 500, 503),
            error_notes={401: ("The master key is missing or wrong: any other key (a function or host key) is refused "
                               "by the Functions host, with an empty body.", ()), **_STORAGE_FAULT},
        ),
        Operation(
            path="/subscriptions/{id}", method="get",
            operation_id="GetSubscription", tag="Notifications",
            summary="Get a change subscription",
            description="One change subscription and how its last delivery went; never its callback URL (only its "
                        "host) nor its secret. Its ID, unguessable and shown only to whoever made it, is what opens "
                        "it, with any key of the app.",
            parameters=(_SUBSCRIPTION_ID,),
            ok=Ok("Subscription", "The subscription.",
                  examples={"delivered": {"summary": "Last delivery taken", "value": examples.subscription()}}),
            errors=(401, 404, 500, 503),
            error_notes={**_NOT_A_SUBSCRIPTION, **_STORAGE_FAULT},
        ),
        Operation(
            path="/subscriptions/{id}", method="delete",
            operation_id="DeleteSubscription", tag="Notifications", connector=True, visibility="internal",
            summary="Delete a change subscription",
            description="Ends a change subscription: nothing more is sent to its callback. The platform calls it "
                        "when a flow using the trigger is turned off or deleted.",
            parameters=(_SUBSCRIPTION_ID,),
            ok=Ok(None, "Deleted.", media=None, status=204),
            errors=(401, 404, 500, 503),
            error_notes={**_NOT_A_SUBSCRIPTION, **_STORAGE_FAULT},
        ),
    ]


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
