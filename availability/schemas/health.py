"""The health answer (`/api/health`): that the app runs, and its version."""

from __future__ import annotations

from typing import Any

__all__ = ["health_shapes"]


def health_shapes() -> dict[str, dict[str, Any]]:
    """`Health`."""
    return {
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
