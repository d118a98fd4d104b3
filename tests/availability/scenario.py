"""The ids of the tests' sandbox scenario (`tests/scenarios/gateway.toml`), and a time parser for the tests."""

from __future__ import annotations

from datetime import datetime

CHAT = "22222222-0000-4000-8000-000000000001"
BUSY_LINE = "22222222-0000-4000-8000-000000000002"
OFFICE = "22222222-0000-4000-8000-000000000003"
Q_OPEN = "11111111-0000-4000-8000-000000000001"
Q_BUSY = "11111111-0000-4000-8000-000000000002"
Q_FRENCH = "11111111-0000-4000-8000-000000000004"
Q_PREMIUM = "11111111-0000-4000-8000-000000000005"
CONVERSATION = "33333333-0000-4000-8000-000000000001"
UNKNOWN = "99999999-0000-4000-8000-000000000009"  # a workstream the org does not know


def at(text: str) -> datetime:
    """An ISO-8601 time with `Z`, as the API writes it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
