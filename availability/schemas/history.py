"""The availability history (`/api/snapshots`): what a run of the snapshot timer recorded per workstream."""

from __future__ import annotations

from typing import Any

from .core import NULLABLE_INT, WHEN, nullable_status_field, ref
from .error import error_codes, error_names

__all__ = ["history_shapes"]


def history_shapes() -> dict[str, dict[str, Any]]:
    """`Snapshot` and the `SnapshotList` answer."""
    return {
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
                "capturedAt": {**WHEN, "title": "Captured at",
                               "description": "UTC time of the timer's schedule slot, on the org's clock."},
                "status": nullable_status_field(),
                "withinOperatingHours": {"type": ["boolean", "null"], "title": "Within operating hours",
                                         "description": "True inside the queue's operating hours."},
                "representativesAvailable": {"type": ["boolean", "null"], "title": "Representative available",
                                             "description": "True when a representative could take a request."},
                "availableRepresentatives": {**NULLABLE_INT, "minimum": 0,
                                             "title": "Number of available representatives",
                                             "description": "Representatives free at that time."},
                "positionInQueue": {**NULLABLE_INT, "title": "Position in queue",
                                    "description": "Position a new customer would have had."},
                "averageWaitSeconds": {**NULLABLE_INT, "minimum": 0, "title": "Average wait in seconds",
                                       "description": "Average wait in the queue in seconds."},
                "error": {"type": ["string", "null"], "enum": [*error_codes(), None], "title": "Error code",
                          "_enum_names": error_names(),
                          "description": "null, or the error code when that workstream's check failed in that run."},
            },
        },
        "SnapshotList": {
            "type": "object",
            "title": "Availability history",
            "required": ["snapshots", "truncated"],
            "properties": {
                "snapshots": {"type": "array", "title": "Snapshots", "items": ref("Snapshot"),
                              "description": "Newest first."},
                "truncated": {"type": "boolean", "title": "Truncated",
                              "description": "True when more rows match than limit: ask again with to set to the "
                                             "oldest capturedAt returned (the same from), and skip the rows of that "
                                             "capturedAt already received."},
            },
        },
    }
