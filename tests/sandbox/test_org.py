"""The org's two availability actions, WhoAmI and the queries, over HTTPS, against
tests/sandbox/scenarios/basic.toml."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from tests.sandbox.conftest import (
    BEFORE,
    C_EDGE,
    C_FR,
    C_PLAIN,
    FOR,
    MAX_DATE,
    MIN_DATE,
    Q_EDGE,
    Q_EN,
    Q_FR,
    Q_NIGHT,
    Q_PREMIUM,
    Q_VOICE,
    TENANT,
    VAULT,
    W_CHAT,
    W_MESSAGING,
    W_PHONE,
    W_RETIRED,
)

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def closed(start: str, end: str) -> dict:
    return {"IsQueueAvailable": False, "IsAgentAvailable": False, "NumberOfExpertsAvailableInQueue": 0,
            "StartTimeOfNextOperatingHour": start, "EndTimeOfNextOperatingHour": end, "NextTransitionTime": start}


def open_until(end: str, experts: int) -> dict:
    return {"IsQueueAvailable": True, "IsAgentAvailable": experts > 0, "NumberOfExpertsAvailableInQueue": experts,
            "StartTimeOfNextOperatingHour": MIN_DATE, "EndTimeOfNextOperatingHour": MIN_DATE,
            "NextTransitionTime": end}


def assert_answer(response, queue: str, expected: dict) -> dict:
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["QueueId"] == queue
    assert {k: answer[k] for k in expected} == expected
    return answer


# -- the answer, exactly as the org's documented sample -------------------------------------------------------------

def test_before_conversation_answers_like_the_upstream_sample(sandbox):
    sandbox.at("2026-03-02T09:30:00Z")  # Monday 10:30 in Paris
    response = sandbox.before(W_CHAT, {"Language": "fr"})
    assert response.status_code == 200
    assert response.json() == {
        "@odata.context": f"{sandbox.url}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.{BEFORE}Response",
        "QueueId": Q_FR,
        "IsQueueAvailable": True,
        "IsAgentAvailable": True,
        "NumberOfExpertsAvailableInQueue": 3,
        "PositionInQueue": 3,
        "AverageWaitTime": None,
        "AverageWaitTimeInSeconds": 90,
        "StartTimeOfNextOperatingHour": MIN_DATE,
        "EndTimeOfNextOperatingHour": MIN_DATE,
        "NextTransitionTime": "2026-03-02T11:00:00Z",
    }
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["OData-Version"] == "4.0"
    assert GUID.match(response.headers["x-ms-service-request-id"])
    assert response.headers["x-ms-service-request-id"] != sandbox.before(W_CHAT).headers["x-ms-service-request-id"]


def test_for_conversation_uses_the_conversation_position_and_context(sandbox):
    sandbox.at("2026-03-02T09:30:00Z")
    response = sandbox.for_conversation(C_FR)
    answer = assert_answer(response, Q_FR, {"PositionInQueue": 3, **open_until("2026-03-02T11:00:00Z", 3)})
    assert answer["@odata.context"].endswith(f"#Microsoft.Dynamics.CRM.{FOR}Response")


def test_for_conversation_request_items_override_the_conversation_context(sandbox):
    sandbox.at("2026-03-02T10:00:00Z")  # London 10:00, Chat EN open but nobody free
    response = sandbox.for_conversation(C_FR, {"Language": "en"})
    assert_answer(response, Q_EN, {"PositionInQueue": 3, **open_until("2026-03-02T20:00:00Z", 0)})
    # Request items add to the context: Language stays "fr", and the first rule still wins over Tier.
    assert sandbox.for_conversation(C_FR, {"Tier": 5}).json()["QueueId"] == Q_FR
    assert sandbox.for_conversation(C_PLAIN, {"Tier": 5}).json()["QueueId"] == Q_PREMIUM


def test_for_conversation_routes_by_the_conversation_engagement_context(sandbox):
    sandbox.at("2026-03-02T10:00:00Z")
    assert_answer(sandbox.for_conversation(C_EDGE), Q_EDGE,
                  {"PositionInQueue": 2, "NumberOfExpertsAvailableInQueue": 4})


# -- operating hours at chosen instants -------------------------------------------------------------------

@pytest.mark.parametrize("now, queue, items, expected", [
    # open and staffed: until the end of the morning window (Paris, CET)
    ("2026-03-02T09:30:00Z", Q_FR, {"Language": "fr"}, open_until("2026-03-02T11:00:00Z", 3)),
    # lunch break: the afternoon window is next
    ("2026-03-02T11:30:00Z", Q_FR, {"Language": "fr"}, closed("2026-03-02T12:00:00Z", "2026-03-02T17:00:00Z")),
    # Tuesday's adjacent windows 08-12, 12-13, 13-18 are one stretch: open until 18:00
    ("2026-03-03T09:30:00Z", Q_FR, {"Language": "fr"}, open_until("2026-03-03T17:00:00Z", 3)),
    # Friday evening: next window is Monday morning
    ("2026-03-06T18:00:00Z", Q_FR, {"Language": "fr"}, closed("2026-03-09T07:00:00Z", "2026-03-09T11:00:00Z")),
    # the weekend of the spring DST change: Monday 08:00 CEST is 06:00 UTC
    ("2026-03-27T18:00:00Z", Q_FR, {"Language": "fr"}, closed("2026-03-30T06:00:00Z", "2026-03-30T10:00:00Z")),
    # Christmas is a holiday: closed all day, next window after the weekend
    ("2026-12-25T09:00:00Z", Q_FR, {"Language": "fr"}, closed("2026-12-28T07:00:00Z", "2026-12-28T11:00:00Z")),
    # the day before, the last window closes as usual
    ("2026-12-24T16:30:00Z", Q_FR, {"Language": "fr"}, open_until("2026-12-24T17:00:00Z", 3)),
    # busy: open, nobody free (London, GMT)
    ("2026-03-02T10:00:00Z", Q_EN, {}, open_until("2026-03-02T20:00:00Z", 0)),
    # New York closes Friday 17:00 EST; opens Monday 09:00 EDT, after the US DST change
    ("2026-03-06T23:00:00Z", Q_PREMIUM, {"Tier": 2}, closed("2026-03-09T13:00:00Z", "2026-03-09T21:00:00Z")),
    # 24x7 queue with a holiday (Tokyo): open until the holiday starts at local midnight
    ("2026-12-24T12:00:00Z", Q_EDGE, {"Score": 15}, open_until("2026-12-24T15:00:00Z", 4)),
    # on the holiday: reopens at local midnight and then never closes (9999 sentinel as the end)
    ("2026-12-25T03:00:00Z", Q_EDGE, {"Score": 15}, closed("2026-12-25T15:00:00Z", MAX_DATE)),
    # a window over midnight (Fri 20:00-24:00 + Sat 00:00-02:00) closes at Saturday 02:00
    ("2026-03-06T21:00:00Z", Q_NIGHT, {"Level": 1}, open_until("2026-03-07T01:00:00Z", 1)),
    # "02:30" does not exist on 2026-03-29 in Paris: the window opens when clocks jump to 03:00 CEST
    ("2026-03-29T00:30:00Z", Q_NIGHT, {"Level": 1}, closed("2026-03-29T01:00:00Z", "2026-03-29T03:00:00Z")),
    ("2026-03-29T01:30:00Z", Q_NIGHT, {"Level": 1}, open_until("2026-03-29T03:00:00Z", 1)),
    # "02:30" happens twice on 2026-10-25: the first one (CEST); "05:00" is CET
    ("2026-10-25T00:00:00Z", Q_NIGHT, {"Level": 1}, closed("2026-10-25T00:30:00Z", "2026-10-25T04:00:00Z")),
])
def test_operating_hours(sandbox, now, queue, items, expected):
    sandbox.at(now)
    assert_answer(sandbox.before(W_CHAT, items), queue, expected)


def test_a_24x7_queue_never_transitions(sandbox):
    sandbox.at("2026-12-25T03:00:00Z")
    assert_answer(sandbox.before(W_PHONE), Q_VOICE, {
        **open_until(MAX_DATE, 5), "PositionInQueue": 1, "AverageWaitTimeInSeconds": 30})


def test_before_conversation_position_is_waiting_plus_one(sandbox):
    sandbox.at("2026-03-02T10:00:00Z")
    assert_answer(sandbox.before(W_CHAT), Q_EN, {"PositionInQueue": 5, "AverageWaitTimeInSeconds": 300})


# -- route-to-queue rules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("items, queue", [
    ({}, Q_EN),
    ({"Language": "fr"}, Q_FR),
    ({"Language": "FR"}, Q_EN),                   # Text equality is exact
    ({"Tier": 2}, Q_PREMIUM),                     # gte
    ({"Tier": 1}, Q_EN),
    ({"Tier": "2"}, Q_EN),                        # a Text item never meets an Integer condition
    ({"Language": "fr", "Tier": 5}, Q_FR),        # the first matching rule wins
    ({"Language": "de", "Tier": 1}, Q_NIGHT),     # every condition of a rule must hold
    ({"Language": "de"}, Q_EN),
    ({"Score": 15}, Q_EDGE),                      # gt 10 and lte 20
    ({"Score": 20}, Q_EDGE),
    ({"Score": 10}, Q_EN),
    ({"Score": 21}, Q_EN),
    ({"Score": -1}, Q_VOICE),                     # lt
    ({"Level": 3}, Q_NIGHT),                      # ne
    ({"Level": 7}, Q_EN),
])
def test_routing_by_context_items(sandbox, items, queue):
    response = sandbox.before(W_CHAT, items)
    assert response.status_code == 200, response.text
    assert response.json()["QueueId"] == queue


@pytest.mark.parametrize("engagement, queue", [
    ({"msdyn_browser": "Edge"}, Q_EDGE),
    ({"msdyn_city": "Paris"}, Q_FR),
    ({"msdyn_city": "Paris", "msdyn_browser": "Edge"}, Q_EDGE),
    ({"msdyn_browser": "Chrome"}, Q_EN),
    ({}, Q_EN),
])
def test_routing_by_engagement_context(sandbox, engagement, queue):
    response = sandbox.before(W_MESSAGING, engagement=engagement)
    assert response.status_code == 200, response.text
    assert response.json()["QueueId"] == queue


def test_a_context_item_is_not_an_engagement_attribute(sandbox):
    assert sandbox.before(W_MESSAGING, {"msdyn_browser": "Edge"}).json()["QueueId"] == Q_EN


def test_integer_datatype_may_be_sent_as_a_number(sandbox):
    items = {"Tier": {"value": 3, "isDisplayable": False, "datatype": 192350001}}
    response = sandbox.action(BEFORE, {"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT,
                                       "CustomContextItems": json.dumps(items)})
    assert response.json()["QueueId"] == Q_PREMIUM


def test_ids_are_case_insensitive(sandbox):
    assert sandbox.before(W_CHAT.upper(), {"Language": "fr"}).json()["QueueId"] == Q_FR


# -- validation (400) ----------------------------------------------------------------------------------------

def items(**raw) -> str:
    return json.dumps(raw)


@pytest.mark.parametrize("body, code, words", [
    ({"LiveWorkStreamId": W_CHAT}, "0x80040203", "ApiVersion"),
    ({"ApiVersion": "2.0", "LiveWorkStreamId": W_CHAT}, "0x80040203", "ApiVersion"),
    ({"ApiVersion": 1.0, "LiveWorkStreamId": W_CHAT}, "0x0", "ApiVersion"),
    ({"ApiVersion": "1.0"}, "0x80040203", "LiveWorkStreamId"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": "not-a-guid"}, "0x80040203", "Guid"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT, "CustomContextItems": {"Tier": {"value": 2}}},
     "0x0", "StartObject"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT, "CustomContextItems": "{not json"}, "0x80040203", "JSON"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT, "CustomContextItems": "[1, 2]"}, "0x80040203", "object"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT, "CustomContextItems": items(Tier={"value": 2})},
     "0x80040203", "datatype"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT,
      "CustomContextItems": items(Tier={"value": 2, "datatype": "123"})}, "0x80040203", "datatype"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT,
      "CustomContextItems": items(Language={"value": 2, "datatype": "192350000"})}, "0x80040203", "string"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT,
      "CustomContextItems": items(Tier={"value": "2", "datatype": "192350001"})}, "0x80040203", "integer"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT,
      "CustomContextItems": items(Tier={"value": True, "datatype": "192350001"})}, "0x80040203", "integer"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT,
      "CustomContextItems": items(Tier={"value": 2.5, "datatype": "192350001"})}, "0x80040203", "integer"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT,
      "CustomContextItems": items(Tier={"value": 2, "datatype": "192350001", "isDisplayable": "yes"})},
     "0x80040203", "isDisplayable"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT, "ChannelEngagementContext": "{'msdyn_browser': 'Edge'}"},
     "0x80040203", "ChannelEngagementContext"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT, "ChannelEngagementContext": {"msdyn_browser": "Edge"}},
     "0x0", "StartObject"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT, "QueueId": Q_EN}, "0x0", "not a valid parameter"),
])
def test_before_conversation_rejects_bad_input(sandbox, body, code, words):
    response = sandbox.action(BEFORE, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert words in error["message"]


@pytest.mark.parametrize("body, words", [
    ({"ApiVersion": "1.0"}, "ConversationId"),
    ({"ApiVersion": "1.0", "ConversationId": "123"}, "Guid"),
    ({"ApiVersion": "1.0", "ConversationId": C_FR, "ChannelEngagementContext": "{}"}, "not a valid parameter"),
    ({"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT}, "not a valid parameter"),
])
def test_for_conversation_rejects_bad_input(sandbox, body, words):
    response = sandbox.action(FOR, body)
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_a_400(sandbox, raw):
    response = sandbox.action(BEFORE, raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80048d19"


# -- not found (404) -----------------------------------------------------------------------------------------

def test_unknown_workstream_and_conversation_are_404(sandbox):
    missing = str(uuid.uuid4())
    response = sandbox.before(missing)
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "0x80040217",
                                        "message": f"msdyn_liveworkstream With Id = {missing} Does Not Exist"}
    response = sandbox.for_conversation(missing)
    assert response.status_code == 404
    assert "msdyn_ocliveworkitem" in response.json()["error"]["message"]


def test_action_names_are_case_sensitive(sandbox):
    response = sandbox.action(BEFORE.lower(), {"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "0x8006088a",
                                        "message": f"Resource not found for the segment '{BEFORE.lower()}'."}


def test_an_action_answers_post_only(sandbox):
    response = sandbox.query(BEFORE)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == ""
    assert "No HTTP resource was found" in response.json()["error"]["message"]


# -- authentication (401) and the application user (403) ----------------------------------------------------

def test_no_token_is_a_401_with_the_dataverse_challenge(sandbox):
    response = sandbox.post(f"/api/data/v9.2/{BEFORE}", json={"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT})
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization_uri=")
    assert f"/{'11111111-1111-1111-1111-111111111111'}/oauth2/authorize" in challenge
    assert f"resource_id={sandbox.url}/" in challenge
    assert "error" in response.json()


@pytest.mark.parametrize("token_kind", ["unknown", "vault audience"])
def test_a_token_not_for_the_org_is_a_401(sandbox, token_kind):
    token = "not-a-token" if token_kind == "unknown" else sandbox.token(VAULT)
    response = sandbox.action(BEFORE, {"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT}, token=token)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert sandbox.query("WhoAmI", token=token).status_code == 401


def test_org_audience_with_trailing_slash_and_v1_resource_are_accepted(sandbox):
    slash = sandbox.token_response(resource=sandbox.url + "/").json()["access_token"]
    assert sandbox.query("WhoAmI", token=slash).status_code == 200
    v1 = sandbox.post("/11111111-1111-1111-1111-111111111111/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "22222222-2222-2222-2222-222222222222",
        "client_secret": "initial-secret-value", "resource": sandbox.url}).json()["access_token"]
    assert sandbox.query("WhoAmI", token=v1).status_code == 200


def test_a_managed_identity_token_is_not_the_application_user(sandbox):
    token = sandbox.identity_token(sandbox.url)
    response = sandbox.action(BEFORE, {"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT}, token=token)
    assert response.status_code == 403
    assert response.json()["error"] == {"code": "0x80072560",
                                        "message": "The user is not a member of the organization."}


def test_an_org_without_the_application_user_refuses_everything(own_sandbox):
    sandbox = own_sandbox("no_application_user.toml")
    assert sandbox.query("WhoAmI").status_code == 403
    response = sandbox.action(BEFORE, {"ApiVersion": "1.0", "LiveWorkStreamId": "0000000a-0000-0000-0000-00000000000b"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "0x80072560"


def test_an_expired_token_is_a_401(own_sandbox):
    import time

    sandbox = own_sandbox("short_tokens.toml")
    response = sandbox.token_response()
    assert response.json()["expires_in"] == 1
    token = response.json()["access_token"]
    assert sandbox.query("WhoAmI", token=token).status_code == 200
    time.sleep(1.1)
    response = sandbox.query("WhoAmI", token=token)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_moving_the_sandbox_clock_does_not_expire_tokens(sandbox):
    token = sandbox.token()
    sandbox.at("2030-01-01T00:00:00Z")
    assert sandbox.query("WhoAmI", token=token).status_code == 200


# -- WhoAmI and the discovery queries ------------------------------------------------------------------------

def test_who_am_i(sandbox):
    response = sandbox.query("WhoAmI")
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"] == f"{sandbox.url}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
    assert all(GUID.match(body[k]) for k in ("BusinessUnitId", "UserId", "OrganizationId"))
    assert sandbox.query("WhoAmI()").json()["UserId"] == body["UserId"]
    response = sandbox.post("/api/data/v9.2/WhoAmI", headers={"Authorization": f"Bearer {sandbox.org_token}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == ""


def test_active_workstreams_query(sandbox):
    response = sandbox.query("msdyn_liveworkstreams", params={
        "$select": "msdyn_liveworkstreamid,msdyn_name,msdyn_streamsource,_msdyn_defaultqueue_value",
        "$filter": "statecode eq 0"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"] == (f"{sandbox.url}/api/data/v9.2/$metadata#msdyn_liveworkstreams("
                                      "msdyn_liveworkstreamid,msdyn_name,msdyn_streamsource,_msdyn_defaultqueue_value)")
    rows = {row["msdyn_liveworkstreamid"]: row for row in body["value"]}
    assert set(rows) == {W_CHAT, W_PHONE, W_MESSAGING}
    assert rows[W_CHAT]["msdyn_name"] == "Website chat"
    assert rows[W_CHAT]["_msdyn_defaultqueue_value"] == Q_EN
    assert set(rows[W_CHAT]) == {"@odata.etag", "msdyn_liveworkstreamid", "msdyn_name", "msdyn_streamsource",
                                 "_msdyn_defaultqueue_value"}
    # The channel codes of msdyn_streamsource: Live chat, Voice call, and a custom messaging channel.
    assert [rows[w]["msdyn_streamsource"] for w in (W_CHAT, W_PHONE, W_MESSAGING)] == [192360000, 192440000,
                                                                                     192350002]
    everything = sandbox.query("msdyn_liveworkstreams").json()["value"]
    assert W_RETIRED in {row["msdyn_liveworkstreamid"] for row in everything}
    assert {row["statecode"] for row in everything} == {0, 1}


def test_queues_query(sandbox):
    response = sandbox.query("queues", params={"$select": "queueid,name,msdyn_queuetype", "$filter": "statecode eq 0"})
    rows = {row["queueid"]: row for row in response.json()["value"]}
    assert len(rows) == 6
    assert rows[Q_VOICE]["msdyn_queuetype"] == 192350002
    assert rows[Q_FR] == {"@odata.etag": rows[Q_FR]["@odata.etag"], "queueid": Q_FR, "name": "Chat FR",
                          "msdyn_queuetype": 192350000}
    full = sandbox.query(f"queues({Q_VOICE})").json()
    assert full["_msdyn_operatinghourid_value"] is None  # no operating hours: open around the clock
    assert GUID.match(sandbox.query(f"queues({Q_FR})").json()["_msdyn_operatinghourid_value"])


def test_queries_page_with_odata_maxpagesize(sandbox):
    response = sandbox.query("queues", params={"$select": "queueid"}, headers={"Prefer": "odata.maxpagesize=4"})
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=4"
    first = response.json()
    assert len(first["value"]) == 4
    second = sandbox.request("GET", first["@odata.nextLink"], headers={"Authorization": f"Bearer {sandbox.org_token}"})
    assert len(second.json()["value"]) == 2
    assert "@odata.nextLink" not in second.json()
    ids = [r["queueid"] for r in first["value"] + second.json()["value"]]
    assert len(set(ids)) == 6


@pytest.mark.parametrize("params, words", [
    ({"$select": "Name"}, "Could not find a property named 'Name'"),
    ({"$filter": "contains(name,'Chat')"}, "not supported"),
    ({"$filter": "nosuchfield eq 0"}, "Could not find a property named 'nosuchfield'"),
    ({"$orderby": "name"}, "$orderby"),
])
def test_unsupported_query_options_are_a_400(sandbox, params, words):
    response = sandbox.query("queues", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x0"
    assert words in response.json()["error"]["message"]


def test_unknown_entity_set_is_a_404(sandbox):
    response = sandbox.query("Queues")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "0x8006088a"


# -- the Date header: the org's own clock, the real time elsewhere -------------------------------------------

def date_of(response) -> datetime:
    """The one Date header of `response`, as an instant."""
    dates = response.raw.headers.getlist("Date")
    assert len(dates) == 1, dates
    return parsedate_to_datetime(dates[0])


def far_from_now() -> datetime:
    """An instant, to the second, far enough from the real time that the two clocks cannot be mistaken."""
    return (datetime.now(UTC) - timedelta(days=40, hours=5, minutes=17)).replace(microsecond=0)


def test_the_org_dates_every_answer_by_the_sandbox_clock(sandbox):
    at = far_from_now()
    sandbox.control("POST", "clock", {"now": at.isoformat(), "frozen": True})
    sandbox.fault(target="actions", status=503, retryAfter=7, count=1)
    answers = {
        "fault": sandbox.before(W_CHAT),
        "action": sandbox.before(W_CHAT),
        "query": sandbox.query("WhoAmI"),
        "unauthorized": sandbox.query("WhoAmI", token="not-a-token"),
        "unknown segment": sandbox.query("Queues"),
        "stock error": sandbox.request("HEAD", f"{sandbox.url}/api/data/v9.2/WhoAmI"),  # http.server's own 501
    }
    assert {name: response.status_code for name, response in answers.items()} == {
        "fault": 503, "action": 200, "query": 200, "unauthorized": 401, "unknown segment": 404, "stock error": 501}
    assert {name: date_of(response) for name, response in answers.items()} == dict.fromkeys(answers, at)
    assert answers["action"].headers["Date"] == format_datetime(at, usegmt=True)


def test_a_running_sandbox_clock_dates_the_org_and_nothing_else(sandbox):
    at = far_from_now()
    set_at = datetime.now(UTC)
    sandbox.control("POST", "clock", {"now": at.isoformat()})  # runs on from `at`
    org = sandbox.query("WhoAmI")
    elsewhere = {
        "control": sandbox.get("/_sandbox/clock"),
        "discovery": sandbox.get(f"/{TENANT}/v2.0/.well-known/openid-configuration"),
        "vault": sandbox.get("/secrets/dataverse-client-secret", params={"api-version": "7.4"}),
        "identity": sandbox.get("/msi/token"),
        "unknown path": sandbox.get("/nowhere/at/all"),
    }
    done = datetime.now(UTC)
    assert org.status_code == 200
    assert at <= date_of(org) <= at + (done - set_at)
    for name, response in elsewhere.items():
        assert set_at.replace(microsecond=0) <= date_of(response) <= done, name
