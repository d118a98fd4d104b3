"""Durations from an answer are measured on the org's clock (its `Date` header), not the gateway's.

The sandbox's clock set before today is what the README's clock recipes do once their day has passed; in
Azure the same holds against clock skew. Without this, every answer looks outdated on arrival: no cache and no
stale answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.availability.scenario import OFFICE

BEFORE = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def a_past_weekday_morning() -> str:
    """10:00 UTC (11:00 or 12:00 in Paris, inside the office's hours) on a weekday at least a week ago."""
    day = datetime.now(timezone.utc).date() - timedelta(days=8)
    while day.weekday() >= 5 or (day.month, day.day) == (12, 25):  # not a weekend, not the office's holiday
        day -= timedelta(days=1)
    return f"{day.isoformat()}T10:00:00Z"


def test_an_answer_from_an_org_whose_clock_is_behind_is_cached(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=60)
    sandbox.set_clock(a_past_weekday_morning())
    first = gateway.post("availability/before-conversation", {"workstreamId": OFFICE})
    second = gateway.post("availability/before-conversation", {"workstreamId": OFFICE})
    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["status"] == "available" and first.json()["nextTransitionTime"] is not None
    assert (first.json()["source"], second.json()["source"]) == ("live", "cache")
    assert sandbox.stats()["actions"][BEFORE] == 1


def test_an_answer_from_an_org_whose_clock_is_behind_is_served_stale_while_it_is_down(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=0)
    sandbox.set_clock(a_past_weekday_morning())
    assert gateway.post("availability/before-conversation", {"workstreamId": OFFICE}).status_code == 200
    sandbox.fault("actions", status=503)
    stale = gateway.post("availability/before-conversation", {"workstreamId": OFFICE})
    assert stale.status_code == 200, stale.text
    assert stale.json()["source"] == "stale"
