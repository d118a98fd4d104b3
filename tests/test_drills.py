"""Fault drills (reliability) and a fuzz of every endpoint, against the sandbox over the wire."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.availability.http.test_api import before
from tests.availability.scenario import CHAT, CONVERSATION
from tests.conftest import unique

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def test_slow_upstream_is_cut_off_inside_the_25_second_budget(fresh_gateway, sandbox):
    gateway = fresh_gateway()  # default budget
    before(gateway)
    sandbox.fault("actions", delayMs=40000)
    started = time.monotonic()
    response = before(gateway)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 25


def test_429_storm_costs_at_most_one_call_per_retry_after_period(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=0, AVAILABILITY_TIMEOUT_SECONDS=1)
    before(gateway)
    sandbox.reset()
    sandbox.fault("actions", status=429, retryAfter=2)
    started = time.monotonic()
    # The first 429 is what tells the gateway to hold back; requests already on the wire before it came
    # back cannot know, so the storm starts once one has been refused.
    answers = [before(gateway).status_code]

    def hammer(_: int) -> None:
        while time.monotonic() - started < 5:
            answers.append(before(gateway).status_code)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hammer, range(8)))
    elapsed = time.monotonic() - started
    calls = sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"]
    assert len(answers) > 50 and set(answers) == {503}
    assert 1 <= calls <= math.ceil(elapsed / 2) + 1  # the first refusal, then one probe per period


def test_outage_serves_stale_to_known_keys_and_fails_fast_for_others(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=0)
    known = unique()
    before(gateway, contextItems=known)
    sandbox.fault("actions", status=500)
    stale = before(gateway, contextItems=known)
    assert (stale.status_code, stale.json()["source"]) == (200, "stale")
    started = time.monotonic()
    unknown = before(gateway)
    assert unknown.status_code == 503 and unknown.json()["error"]["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 10  # retried with back-off inside the budget, then given up


def test_unreachable_token_endpoint_is_upstream_unavailable(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    sandbox.fault("token", status=503)
    response = before(gateway)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    sandbox.clear_faults()
    deadline = time.monotonic() + 10  # the failure answers for a moment, then Entra ID is asked again
    while (status := before(gateway).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200


# -- fuzz --------------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
_bodies = st.one_of(
    _json,
    st.fixed_dictionaries({"workstreamId": st.sampled_from([CHAT, "x", "", None, 7])},
                          optional={"contextItems": _json, "engagementContext": _json, "timeZone": _json}),
    st.fixed_dictionaries({"conversationId": st.sampled_from([CONVERSATION, "x", None])},
                          optional={"contextItems": _json}),
    st.fixed_dictionaries({"checks": st.lists(_json, max_size=4) | _json}),
)
_paths = st.sampled_from(["availability/before-conversation", "availability/for-conversation",
                          "availability/batch"])


def _assert_contract_shape(response: requests.Response) -> None:
    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text
    assert response.headers.get("x-correlation-id")
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error"}
        assert body["error"]["code"] and body["error"]["message"]
        assert "Traceback" not in response.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths, body=_bodies)
def test_fuzz_json_endpoints_never_500(gateway, path, body):
    response = gateway.post(path, body, timeout=30)
    _assert_contract_shape(response)
    assert response.status_code in (200, 400, 404), response.text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths, raw=st.binary(max_size=200))
def test_fuzz_raw_bodies_never_500(gateway, path, raw):
    response = gateway.session.post(f"{gateway.url}/api/{path}", data=raw, timeout=30)
    _assert_contract_shape(response)
    assert response.status_code in (200, 400, 404), response.text


_query = st.dictionaries(
    st.sampled_from(["workstreamId", "queueId", "from", "to", "limit", "days", "tz", "other"]),
    st.one_of(st.text(max_size=30), st.sampled_from([CHAT, "2026-11-24T00:00:00Z", "2026-11-24", "0", "5001",
                                                      "Europe/Paris", "-1"])),
    max_size=5,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=_query)
def test_fuzz_history_query_never_500(gateway, query):
    response = gateway.get("snapshots", params=query, timeout=30)
    _assert_contract_shape(response)
    assert response.status_code in (200, 400), response.text
