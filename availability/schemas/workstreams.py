"""The org's workstreams (`/api/workstreams`): what a maker picks a workstream from."""

from __future__ import annotations

from typing import Any

from .core import EXAMPLE_WORKSTREAM, ref

__all__ = ["channel_field", "workstream_shapes"]


def channel_field(**annotations: Any) -> dict[str, Any]:
    """A readable channel name (`chat`, `voice`, `sms`, ..., `other`), with the display name of each."""
    from ..workstreams.channels import CHANNELS

    return {"type": "string", "enum": list(CHANNELS), "title": "Channel",
            "_enum_names": {name: display for name, (display, _) in CHANNELS.items()}, **annotations}


def workstream_shapes() -> dict[str, dict[str, Any]]:
    """`Workstream`, the `WorkstreamList` answer, and `WorkstreamsRequest` (the query, as the MCP tool takes it)."""
    return {
        "WorkstreamsRequest": {
            "type": "object",
            "title": "Workstreams request",
            "description": "What GET /api/workstreams takes as its query, as a JSON object (the MCP tool's arguments).",
            "additionalProperties": False,
            "properties": {
                "channel": channel_field(description="Only the workstreams of this channel."),
            },
        },
        "Workstream": {
            "type": "object",
            "title": "Workstream",
            "description": "An active workstream of the org.",
            "required": ["id", "name", "channel", "channelCode"],
            "properties": {
                "id": {"type": "string", "format": "uuid", "title": "Workstream ID", "examples": [EXAMPLE_WORKSTREAM],
                       "description": "The workstream's ID (msdyn_liveworkstreamid), as the checks take it."},
                "name": {"type": "string", "title": "Name", "examples": ["Website chat"],
                         "description": "The workstream's name, as administrators gave it."},
                "channel": channel_field(
                    examples=["chat"], description="The workstream's channel; other when the gateway does not know "
                                                   "its channel code."),
                "channelCode": {"type": ["integer", "null"], "format": "int32", "title": "Channel code",
                                "examples": [192360000], "_visibility": "advanced",
                                "description": "The channel's code in the org (msdyn_streamsource), as it is; null "
                                               "when the org gives none."},
            },
        },
        "WorkstreamList": {
            "type": "object",
            "title": "Workstreams",
            "required": ["workstreams", "source"],
            "properties": {
                "workstreams": {"type": "array", "title": "Workstreams", "items": ref("Workstream"),
                                "description": "The org's active workstreams, sorted by name."},
                "source": {"type": "string", "enum": ["live", "cache", "stale"], "title": "Source",
                           "_visibility": "advanced",
                           "_enum_names": {"live": "Live", "cache": "Cache", "stale": "Stale"},
                           "description": "live = listed by the org for this request; cache = a list the gateway "
                                          "kept (WORKSTREAMS_CACHE_SECONDS); stale = the org failed and an older "
                                          "list is served."},
            },
        },
    }
