"""The best times (`/api/workstreams/{id}/best-times`): suggestions from a workstream's snapshot history, what
they rest on, and the next good time a web page may show."""

from __future__ import annotations

from typing import Any, get_args

from .core import NULLABLE_INT, NULLABLE_WHEN, WHEN, ref

__all__ = ["best_times_shapes"]

_SHARE: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}


def _confidences() -> list[str]:
    from ..besttimes.windows import Confidence

    return list(get_args(Confidence))


def _reasons() -> list[str | None]:
    from ..besttimes.windows import Reason

    return [*get_args(Reason), None]


def _confidence() -> dict[str, Any]:
    return {"type": "string", "enum": _confidences(), "title": "Confidence", "examples": ["high"],
            "_enum_names": {value: value.capitalize() for value in _confidences()},
            "description": "How sure the suggestion is: high when shareLow is at least 0.75 over 4 weeks or more, "
                           "medium when at least 0.5 over 3 weeks or more, else low."}


def best_times_shapes() -> dict[str, dict[str, Any]]:
    """`BestTimes` (the answer), its `BestTimesBasis` and `BestTime` suggestions, and the public `NextGoodTime`."""
    from ..besttimes.windows import MIN_WEEKS

    return {
        "BestTime": {
            "type": "object",
            "title": "Suggested time",
            "description": "A coming window of whole hours, each of which had a representative free in at least "
                           "minAvailableShare of its snapshots in the weeks of history it was seen in.",
            "required": ["start", "end", "availableShare", "shareLow", "weeks", "waitSeconds", "confidence",
                         "message"],
            "additionalProperties": False,
            "properties": {
                "start": {**WHEN, "title": "Start", "description": "UTC start of the window."},
                "end": {**WHEN, "title": "End", "description": "UTC end of the window (exclusive)."},
                "availableShare": {**_SHARE, "title": "Share with a representative free",
                                   "description": "Share of the window's past snapshots in which a representative "
                                                  "was free."},
                "shareLow": {**_SHARE, "title": "Lower bound of the share",
                             "description": "The lowest of its hours' 90 % lower bounds (Wilson, one-sided, the "
                                            "weeks each hour was seen in as the sample size): every hour of the "
                                            "window is at least this good nine times out of ten."},
                "weeks": {"type": "integer", "minimum": MIN_WEEKS, "title": "Weeks of history",
                          "description": "The fewest weeks any hour of the window was seen in."},
                "waitSeconds": {
                    "type": "object", "title": "Wait in seconds", "required": ["median", "p90"],
                    "additionalProperties": False,
                    "description": "The average waits Dynamics 365 reported in the window while open.",
                    "properties": {
                        "median": {**NULLABLE_INT, "minimum": 0, "title": "Median wait",
                                   "description": "Median, in seconds; null when none was reported."},
                        "p90": {**NULLABLE_INT, "minimum": 0, "title": "90th percentile wait",
                                "description": "90th percentile, in seconds; null when none was reported."},
                    },
                },
                "confidence": _confidence(),
                "message": {"type": "string", "title": "Message",
                            "description": "One plain sentence suggesting the window, in language, with times "
                                           "in the time zone asked for (tz), else UTC."},
            },
        },
        "BestTimesBasis": {
            "type": "object",
            "title": "Basis",
            "description": "The history the suggestions rest on.",
            "required": ["weeks", "snapshots", "from", "to", "minWeeks", "enough", "timeZone"],
            "additionalProperties": False,
            "properties": {
                "weeks": {"type": "integer", "minimum": 0, "title": "Weeks of history",
                          "description": "The most weeks any of the hours looked at (those ahead, up to within "
                                         "hours) was seen in, of the last 8."},
                "snapshots": {"type": "integer", "minimum": 0, "title": "Snapshots",
                              "description": "Snapshots with an answer in the history read."},
                "from": {**NULLABLE_WHEN, "title": "From", "description": "The oldest of them; null with none."},
                "to": {**NULLABLE_WHEN, "title": "To", "description": "The newest of them; null with none."},
                "minWeeks": {"type": "integer", "title": "Weeks needed",
                             "description": "Weeks an hour of the week must have been seen in to be suggested."},
                "enough": {"type": "boolean", "title": "History enough",
                           "description": "weeks is at least minWeeks. False: none of the hours ahead was seen "
                                          "often enough, too little history to suggest anything."},
                "timeZone": {"type": "string", "title": "Time zone of the hours",
                             "description": "The zone whose hours of the week the history is counted in "
                                            "(BEST_TIMES_TIME_ZONE)."},
            },
        },
        "BestTimes": {
            "type": "object",
            "title": "Best times",
            "description": "When a workstream is usually staffed, from its snapshot history: suggestions earliest "
                           "first, or none with the reason why.",
            "required": ["workstreamId", "basis", "suggestions", "reason", "message", "language"],
            "additionalProperties": False,
            "properties": {
                "workstreamId": {"type": "string", "format": "uuid", "title": "Workstream ID",
                                 "description": "The workstream asked about."},
                "basis": ref("BestTimesBasis"),
                "suggestions": {"type": "array", "items": ref("BestTime"), "title": "Suggestions",
                                "description": "Earliest first; empty when the history is too short or no hour "
                                               "ahead was staffed often enough."},
                "reason": {"type": ["string", "null"], "enum": _reasons(), "title": "Reason",
                           "_enum_names": {value: value.replace("_", " ").capitalize()
                                           for value in _reasons() if value},
                           "description": "Why there is no suggestion: not_enough_history or no_good_time; null "
                                          "when there are suggestions."},
                "message": {"type": "string", "title": "Message",
                            "description": "The first suggestion's sentence, or why there is none."},
                "language": {"type": "string", "title": "Language", "examples": ["en"],
                             "description": "The language the messages are worded in."},
            },
        },
        "NextGoodTime": {
            "type": ["object", "null"],
            "title": "Next good time",
            "description": "The first time this week the history suggests to come back (no staffing figures); null "
                           "when it suggests none.",
            "required": ["start", "end", "confidence", "message"],
            "additionalProperties": False,
            "properties": {
                "start": {**WHEN, "title": "Start", "description": "UTC start of the window."},
                "end": {**WHEN, "title": "End", "description": "UTC end of the window (exclusive)."},
                "confidence": _confidence(),
                "message": {"type": "string", "title": "Message",
                            "description": "One plain sentence for the page, in language, times in tz."},
            },
        },
    }
