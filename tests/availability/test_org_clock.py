"""Durations from an answer are measured on the org's clock (its `Date` header), not the gateway's.

The sandbox's clock set well before or well after today is what a maker trying a clock recipe does; in Azure the
same holds against clock skew. Without this, every answer looks outdated on arrival (clock behind: no cache and no
stale answer) or lives past its transition (clock ahead).
"""

from __future__ import annotations

import time

import pytest

from tests.availability.scenario import OFFICE
from tests.days import WEEKDAYS, at, sandbox_day

BEFORE = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def a_weekday_morning(side: int) -> str:
    """11:00 in Paris (inside the office's hours) on a weekday `side` days or so from today."""
    return at(sandbox_day(side, on=WEEKDAYS), "11:00:00", "Europe/Paris")


def test_an_answer_from_an_org_whose_clock_is_elsewhere_is_cached(fresh_gateway, sandbox, side):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=60)
    sandbox.set_clock(a_weekday_morning(side))
    first = gateway.post("availability/before-conversation", {"workstreamId": OFFICE})
    second = gateway.post("availability/before-conversation", {"workstreamId": OFFICE})
    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["status"] == "available" and first.json()["nextTransitionTime"] is not None
    assert (first.json()["source"], second.json()["source"]) == ("live", "cache")
    assert sandbox.stats()["actions"][BEFORE] == 1


def test_an_answer_from_an_org_whose_clock_is_elsewhere_is_served_stale_while_it_is_down(fresh_gateway, sandbox,
                                                                                         side):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=0)
    sandbox.set_clock(a_weekday_morning(side))
    assert gateway.post("availability/before-conversation", {"workstreamId": OFFICE}).status_code == 200
    sandbox.fault("actions", status=503)
    stale = gateway.post("availability/before-conversation", {"workstreamId": OFFICE})
    assert stale.status_code == 200, stale.text
    assert stale.json()["source"] == "stale"


def test_an_answer_is_not_served_past_its_transition_on_the_orgs_clock(fresh_gateway, sandbox, side):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=60)
    sandbox.set_clock(at(sandbox_day(side, on=WEEKDAYS), "17:59:56", "Europe/Paris"))  # 4 s before the office closes
    first = gateway.post("availability/before-conversation", {"workstreamId": OFFICE}).json()
    assert (first["status"], first["source"]) == ("available", "live")
    time.sleep(4.5)
    second = gateway.post("availability/before-conversation", {"workstreamId": OFFICE}).json()
    assert (second["status"], second["source"]) == ("closed", "live")
    assert sandbox.stats()["actions"][BEFORE] == 2
