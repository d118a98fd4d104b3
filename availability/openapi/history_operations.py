"""The history's operations: the snapshots, the supervisor dashboard, and the best times suggested from them."""

from __future__ import annotations

from ..schemas import GUID_PATTERN, ref
from . import examples
from .operation import (
    BLANK_PATTERN,
    Ok,
    Operation,
    guid_parameter,
)


def history_operations() -> list[Operation]:
    """The snapshots, the dashboard and the best times, in the order the documents list them."""
    return [
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
                {**guid_parameter("workstreamId", "Workstream", "Only this workstream's snapshots: pick it by name, "
                                   "or enter its ID.", examples.WORKSTREAM, visibility="important"),
                 "_pick": "workstream"},
                guid_parameter("queueId", "Queue ID", "Only snapshots routed to this queue.", examples.QUEUE,
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
                guid_parameter("workstreamId", "Workstream ID", "Only this workstream; blank means all.",
                                examples.WORKSTREAM, blank=True),
                {"name": "days", "in": "query", "required": False, "title": "Days",
                 "description": "Days the heatmap covers, 1 to 31; default 7.",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 31, "default": 7}},
                {"name": "tz", "in": "query", "required": False, "title": "Time zone",
                 "description": "IANA time zone the page shows times in; blank or absent means UTC.",
                 "schema": {"anyOf": [ref("TimeZone"), {"type": "string", "pattern": BLANK_PATTERN}]},
                 "example": "Europe/Paris"},
            ),
            ok=Ok(None, "The dashboard page.", media="text/html"),
            errors=(400, 401, 500),
        ),
        best_times_operation(),
    ]


def best_times_operation() -> Operation:
    from ..besttimes.windows import (
        DEFAULT_COUNT,
        DEFAULT_MIN_SHARE,
        DEFAULT_WITHIN_HOURS,
        MAX_COUNT,
        MAX_WITHIN_HOURS,
        MIN_WEEKS,
    )
    from ..language import SUPPORTED

    blank = {"type": "string", "pattern": BLANK_PATTERN}
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
        errors=(400, 401, 404, 500, 503, 504),
        error_notes={
            404: ("not_found: no snapshot of this workstream was ever recorded and the org does not list it among its "
                  "active workstreams (a mistaken ID).", ("not_found",)),
            400: ("invalid_request: the workstream ID is not a GUID, count, within or minAvailableShare is out of "
                  "range, tz is not an IANA time zone name, lang is not a BCP 47 tag, or the query has another "
                  "parameter; target names it.", ("invalid_request",)),
            503: ("upstream_unavailable (the snapshot table cannot be reached) or configuration_error "
                  "(AzureWebJobsStorage is missing or refused).", ("upstream_unavailable", "configuration_error")),
            504: ("upstream_timeout: the snapshot table did not return the history in time.", ("upstream_timeout",)),
        },
    )
