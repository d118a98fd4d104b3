"""`GET /api/workstreams` over the wire: the sandbox org's workstreams with their channels, one query per
WORKSTREAMS_CACHE_SECONDS however many requests (three instances together through Azurite), stale while the org
fails, and bad parameters refused naming them."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE
from tests.conftest import QUIET_TIMER, Gateway

pytestmark = pytest.mark.usefixtures("clean_sandbox")

LISTED = [{"id": BUSY_LINE, "name": "Busy line", "channel": "voice", "channelCode": 192440000},
          {"id": CHAT, "name": "Chat", "channel": "chat", "channelCode": 192360000},
          {"id": OFFICE, "name": "Office chat", "channel": "custom", "channelCode": 192350002}]


def test_the_orgs_workstreams_by_name_with_their_channels(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    response = gateway.get("workstreams")
    assert response.status_code == 200, response.text
    assert response.json() == {"workstreams": LISTED, "source": "live"}
    assert response.headers["x-correlation-id"]
    voice = gateway.get("workstreams", params={"channel": "voice"})
    assert voice.json() == {"workstreams": LISTED[:1], "source": "cache"}
    assert gateway.get("workstreams", params={"channel": "sms"}).json()["workstreams"] == []
    assert sandbox.stats()["queries"] == 1


def test_bad_parameters_are_refused_naming_them(gateway):
    refused = gateway.get("workstreams", params={"channel": "fax"})
    assert refused.status_code == 400
    assert refused.json()["error"]["target"] == "channel" and "chat, voice" in refused.json()["error"]["message"]
    assert gateway.get("workstreams", params={"workstream": "x"}).json()["error"]["target"] == "workstream"
    assert requests.get(f"{gateway.url}/api/workstreams", timeout=10).status_code == 401


def test_the_last_list_is_served_stale_while_the_org_fails(fresh_gateway, sandbox):
    gateway = fresh_gateway(WORKSTREAMS_CACHE_SECONDS="1")
    assert gateway.get("workstreams").json()["source"] == "live"
    sandbox.fault("queries", status=503)
    time.sleep(1.1)
    stale = gateway.get("workstreams")
    assert stale.status_code == 200 and stale.json() == {"workstreams": LISTED, "source": "stale"}


def test_a_thousand_requests_over_three_instances_cost_one_query(stack, sandbox):
    hosts = stack.start_instances(3, 0, {**QUIET_TIMER, "AVAILABILITY_SHARED_STATE": "table",
                                         "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:16]}"},
                                  name=f"directory-{uuid.uuid4().hex[:6]}")
    try:
        instances = [Gateway(host) for host in hosts]
        sandbox.reset()
        sandbox.fault("queries", delayMs=300)  # every instance is asked while the first query is out
        with ThreadPoolExecutor(30) as pool:
            responses = list(pool.map(lambda i: instances[i % 3].get("workstreams"), range(1000)))
        assert [r.status_code for r in responses] == [200] * 1000
        assert {str(r.json()["workstreams"]) for r in responses} == {str(LISTED)}
        assert sandbox.stats()["queries"] == 1
    finally:
        for host in hosts:
            host.process.stop()
