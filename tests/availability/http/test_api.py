"""The availability API over the wire: local host → function app → real SDKs → sandbox org."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.availability.scenario import (
    BUSY_LINE,
    CHAT,
    CONVERSATION,
    OFFICE,
    Q_BUSY,
    Q_FRENCH,
    Q_OPEN,
    Q_PREMIUM,
    UNKNOWN,
)
from tests.conftest import unique

SECRET = "gateway-test-secret"

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def before(gateway, workstream=CHAT, **extra) -> requests.Response:
    body = {"workstreamId": workstream, "contextItems": {**unique(), **extra.pop("contextItems", {})}, **extra}
    return gateway.post("availability/before-conversation", body)


# -- the answer, field by field ----------------------------------------------------------------------


def test_open_24x7_queue_with_representatives(gateway):
    response = before(gateway)
    assert response.status_code == 200
    assert response.headers["x-correlation-id"]
    answer = response.json()
    assert answer["queueId"] == Q_OPEN
    assert answer["status"] == "available"
    assert answer["canEscalate"] is True
    assert answer["withinOperatingHours"] is True
    assert answer["representativesAvailable"] is True
    assert answer["availableRepresentatives"] == 3
    assert answer["positionInQueue"] == 3  # waiting 2, so this customer would be third
    assert answer["averageWaitSeconds"] == 90
    assert answer["nextTransitionTime"] is None  # 24x7: the 9999 sentinel
    assert answer["nextOpeningTime"] is None and answer["nextClosingTime"] is None  # 0001 sentinels
    assert answer["source"] == "live"
    assert answer["retrievedAt"].endswith("Z")
    assert 0 <= answer["ageSeconds"] < 5
    assert "representative is available" in answer["message"].lower()


def test_busy_queue_is_open_without_free_representatives(gateway):
    answer = before(gateway, BUSY_LINE).json()
    assert (answer["queueId"], answer["status"], answer["canEscalate"]) == (Q_BUSY, "busy", False)
    assert answer["withinOperatingHours"] is True
    assert answer["representativesAvailable"] is False
    assert answer["availableRepresentatives"] == 0
    assert answer["averageWaitSeconds"] == 600
    assert "10 minutes" in answer["message"]


def test_queue_inside_its_operating_hours(gateway, sandbox):
    sandbox.set_clock("2026-11-24T10:00:00Z")  # Tuesday 11:00 in Paris
    answer = before(gateway, OFFICE).json()
    assert answer["status"] == "available"
    assert answer["nextTransitionTime"] == "2026-11-24T17:00:00Z"  # closes at 18:00 Paris
    assert answer["nextOpeningTime"] is None and answer["nextClosingTime"] is None


def test_closed_queue_tells_when_it_opens(gateway, sandbox):
    sandbox.set_clock("2026-11-28T12:00:00Z")  # Saturday
    answer = before(gateway, OFFICE, timeZone="Europe/Paris").json()
    assert answer["status"] == "closed"
    assert answer["canEscalate"] is False
    assert answer["withinOperatingHours"] is False
    assert answer["representativesAvailable"] is False
    assert answer["nextOpeningTime"] == "2026-11-30T07:00:00Z"
    assert answer["nextClosingTime"] == "2026-11-30T17:00:00Z"
    assert answer["nextTransitionTime"] == "2026-11-30T07:00:00Z"
    # Monday 08:00 in Paris, two days after the org's Saturday (the org's clock says which day "today" is).
    assert answer["message"] == "The queue is closed; it opens again on Monday at 8:00\u202fAM."


def test_closed_on_a_holiday(gateway, sandbox):
    sandbox.set_clock("2026-12-25T10:00:00Z")  # Friday, Christmas
    answer = before(gateway, OFFICE).json()
    assert answer["status"] == "closed"
    assert answer["nextOpeningTime"] == "2026-12-28T07:00:00Z"


# -- routing by context items and engagement context -------------------------------------------------


@pytest.mark.parametrize("items, queue", [
    ({"Language": "fr"}, Q_FRENCH),
    ({"Language": {"value": "fr", "type": "text", "isDisplayable": False}}, Q_FRENCH),
    ({"Tier": 2}, Q_PREMIUM),
    ({"Tier": {"value": 3, "type": "integer"}}, Q_PREMIUM),
    ({"Tier": 1}, Q_OPEN),
    ({"Language": "fr", "Tier": 5}, Q_FRENCH),  # first matching rule wins
])
def test_context_items_route_to_queues(gateway, items, queue):
    response = before(gateway, contextItems=items)
    assert response.status_code == 200, response.text
    assert response.json()["queueId"] == queue


def test_engagement_context_routes(gateway):
    answer = before(gateway, engagementContext={"msdyn_browser": "Edge"}).json()
    assert answer["queueId"] == Q_BUSY
    assert before(gateway, engagementContext={"msdyn_browser": "Firefox"}).json()["queueId"] == Q_OPEN


def test_for_conversation(gateway):
    response = gateway.post("availability/for-conversation", {"conversationId": CONVERSATION})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["queueId"] == Q_FRENCH
    assert answer["positionInQueue"] == 1
    assert answer["status"] == "available"


# -- batch -------------------------------------------------------------------------------------------


def test_batch_answers_in_order_and_isolates_failures(gateway):
    checks = [
        {"workstreamId": CHAT, "contextItems": unique()},
        {"workstreamId": UNKNOWN},
        {"workstreamId": "not-a-guid"},
        {"workstreamId": BUSY_LINE, "contextItems": unique()},
    ]
    response = gateway.post("availability/batch", {"checks": checks})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 404, 400, 200]
    assert results[0]["availability"]["queueId"] == Q_OPEN
    assert results[1]["error"]["code"] == "not_found"
    assert results[1]["error"]["target"] == "checks[1].workstreamId"
    assert results[2]["error"]["target"] == "checks[2].workstreamId"
    assert results[3]["availability"]["status"] == "busy"


def test_batch_limits(gateway):
    too_many = {"checks": [{"workstreamId": CHAT}] * 26}
    error = gateway.post("availability/batch", too_many).json()["error"]
    assert (error["code"], error["target"]) == ("invalid_request", "checks")
    assert gateway.post("availability/batch", {"checks": []}).json()["error"]["target"] == "checks"


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, target", [
    ({}, "workstreamId"),
    ({"workstreamId": "42"}, "workstreamId"),
    ({"workstreamId": CHAT, "contextItems": {"Score": 1.5}}, "contextItems.Score"),
    ({"workstreamId": CHAT, "contextItems": {"Flag": True}}, "contextItems.Flag"),
    ({"workstreamId": CHAT, "contextItems": {"Nested": {"a": {"b": 1}}}}, None),
    ({"workstreamId": CHAT, "contextItems": {"Gone": None}}, "contextItems.Gone"),
    ({"workstreamId": CHAT, "contextItems": {f"k{i}": "v" for i in range(51)}}, "contextItems"),
    ({"workstreamId": CHAT, "contextItems": {"Long": "x" * 1001}}, "contextItems.Long"),
    ({"workstreamId": CHAT, "timeZone": "Mars/Olympus"}, "timeZone"),
    ({"workstreamID": CHAT}, "workstreamID"),
])
def test_invalid_fields_are_named(gateway, body, target):
    response = gateway.post("availability/before-conversation", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    if target:
        assert error["target"] == target
    else:
        assert error["target"].startswith("contextItems.Nested")
    assert response.headers["x-correlation-id"]


def test_malformed_and_oversized_bodies(gateway):
    for raw in (b"{not json", b"", b"[1, 2]", "\u00e9".encode("latin-1")):
        response = gateway.session.post(f"{gateway.url}/api/availability/before-conversation", data=raw,
                                        headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "invalid_request"
    stray_comma = f'{{"workstreamId": "{CHAT}",\n "language": "fr",}}'.encode()
    response = gateway.session.post(f"{gateway.url}/api/availability/before-conversation", data=stray_comma,
                                    headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400 and "at line 2, column 19" in response.json()["error"]["message"]
    big = json.dumps({"workstreamId": CHAT, "contextItems": {f"k{i}": "x" * 1000 for i in range(50)},
                      "pad": "x" * 20000})
    response = gateway.session.post(f"{gateway.url}/api/availability/before-conversation", data=big, timeout=10)
    assert response.status_code == 400
    assert "64 KiB" in response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [
    b'{"workstreamId": "%s", "contextItems": {"Tier": NaN}}', b'{"workstreamId": "%s", "timeZone": Infinity}',
    b'{"workstreamId": "%s", "contextItems": {"\\ud800": "x"}}', b'{"workstreamId": "%s", "timeZone": "\\udc00"}',
])
def test_what_is_not_json_is_refused_whatever_python_reads(gateway, raw):
    # NaN and Infinity are Python's, not JSON's; a lone surrogate escape is half a character no UTF-8 text holds.
    response = gateway.session.post(f"{gateway.url}/api/availability/before-conversation",
                                    data=raw.replace(b"%s", CHAT.encode()), timeout=10,
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_an_escaped_character_outside_the_basic_plane_is_fine(gateway):
    raw = ('{"workstreamId": "%s", "contextItems": {"Emoji": "\\ud83d\\ude00", "TestCase": "%s"}}'
           % (CHAT, unique()["TestCase"])).encode()
    response = gateway.session.post(f"{gateway.url}/api/availability/before-conversation", data=raw, timeout=10,
                                    headers={"Content-Type": "application/json"})
    assert response.status_code == 200


@pytest.mark.parametrize("given", ["", "x" * 65, "a b", "é", "<script>", "a\tb"])
def test_a_correlation_id_that_is_not_a_sane_token_is_replaced_never_refused(gateway, given):
    response = gateway.post("availability/before-conversation", {"workstreamId": CHAT, "contextItems": unique()},
                            headers={"x-correlation-id": given.encode("utf-8")})
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", response.headers["x-correlation-id"])
    assert "x-request-id" not in response.headers  # the gateway's own id is the correlation id


def test_a_sane_correlation_id_is_echoed_but_never_logged(gateway):
    for given in (f"abc-{uuid.uuid4().hex}", f"order:42.7_{uuid.uuid4().hex}", "x" * 32 + uuid.uuid4().hex):
        response = gateway.post("availability/before-conversation", {"workstreamId": CHAT},
                                headers={"x-correlation-id": given})
        assert (response.status_code, response.headers["x-correlation-id"]) == (200, given)
        own = response.headers["x-request-id"]  # the id the gateway logs and traces instead
        assert re.fullmatch(r"[0-9a-f-]{36}", own)
        deadline = time.monotonic() + 5
        while own not in gateway.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"correlation={own}" in gateway.log() and given not in gateway.log()


def test_message_language_from_the_field_else_accept_language(gateway):
    french = before(gateway, language="fr-CA").json()
    assert french["language"] == "fr" and french["message"] != before(gateway).json()["message"]
    german = gateway.post("availability/before-conversation", {"workstreamId": CHAT, "contextItems": unique()},
                          headers={"Accept-Language": "sv, de;q=0.8"}).json()
    assert german["language"] == "de"
    assert before(gateway, language="sv").json()["language"] == "en"  # unsupported: English, not an error
    batch = gateway.post("availability/batch", {"checks": [{"workstreamId": CHAT, "language": "ja"},
                                                           {"workstreamId": CHAT, "language": "fr_CA"}]}).json()
    assert batch["results"][0]["availability"]["language"] == "ja"
    assert batch["results"][1]["error"]["target"] == "checks[1].language"


def test_a_method_a_route_does_not_answer_is_the_app_s_405_in_the_error_shape(gateway):
    # The function is declared without methods, so that these reach the app, which answers them itself (where
    # Azure's host would give an empty 404).
    for method in ("TRACE", "PUT", "GET", "DELETE", "HEAD", "PROPFIND"):
        response = gateway.session.request(method, f"{gateway.url}/api/availability/before-conversation",
                                           timeout=10)
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "POST"
        assert response.headers["Cache-Control"] == "no-store" and response.headers["x-correlation-id"]
        if method != "HEAD":
            assert response.json()["error"]["code"] == "method_not_allowed"
    # A route served by several functions: the methods a Python function may declare are refused with 405 too.
    for path, allowed in (("subscriptions", "GET, POST"), (f"subscriptions/{UNKNOWN}", "DELETE, GET")):
        response = gateway.session.put(f"{gateway.url}/api/{path}", timeout=10)
        assert (response.status_code, response.headers["Allow"]) == (405, allowed), path
    # Without a key, the host refuses first, as for any keyed route.
    assert requests.put(f"{gateway.url}/api/availability/batch", timeout=10).status_code == 401
    # A path no function serves: the host's own empty 404.
    response = gateway.get("no-such-function")
    assert (response.status_code, response.content, response.headers["Content-Length"]) == (404, b"", "0")


def test_for_conversation_requires_a_conversation_id(gateway):
    error = gateway.post("availability/for-conversation", {"conversationId": ""}).json()["error"]
    assert error["target"] == "conversationId"


def test_function_key_is_required(gateway):
    for headers in ({}, {"x-functions-key": "wrong"}):
        response = requests.post(f"{gateway.url}/api/availability/before-conversation", json={"workstreamId": CHAT},
                                 headers=headers, timeout=10)
        # The Functions host's own answer, before the app: 401, an empty body, no correlation id.
        assert (response.status_code, response.content) == (401, b"")
        assert "x-correlation-id" not in response.headers
    response = requests.post(f"{gateway.url}/api/availability/before-conversation?code={gateway.function_key}",
                             json={"workstreamId": CHAT, "contextItems": unique()}, timeout=10)
    assert response.status_code == 200


def test_unknown_workstream_and_conversation_are_404(gateway):
    response = before(gateway, UNKNOWN)
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "target": "workstreamId",
                                        "message": response.json()["error"]["message"]}
    response = gateway.post("availability/for-conversation", {"conversationId": UNKNOWN})
    assert response.status_code == 404
    assert response.json()["error"]["target"] == "conversationId"


def test_health_needs_no_key_and_calls_nothing(gateway, sandbox):
    response = requests.get(f"{gateway.url}/api/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert sandbox.stats()["actions"] == {} or sum(sandbox.stats()["actions"].values()) == 0


# -- sparing the org: cache, single flight, token and secret reuse -----------------------------------


def test_cache_serves_repeats_without_upstream_calls(gateway, sandbox):
    items = unique()
    first = before(gateway, contextItems=items).json()
    second = before(gateway, contextItems=items, timeZone="Europe/Paris").json()
    assert (first["source"], second["source"]) == ("live", "cache")
    assert second["retrievedAt"] == first["retrievedAt"]
    assert sum(sandbox.stats()["actions"].values()) == 1


def test_identical_concurrent_requests_share_one_upstream_call(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    before(gateway)  # warm the token and the secret
    sandbox.reset()
    sandbox.fault("actions", delayMs=500)
    items = unique()
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: before(gateway, contextItems=items), range(20)))
    assert all(a.status_code == 200 for a in answers)
    assert sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 1


def test_one_token_and_one_secret_read_for_many_requests(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: before(gateway), range(40)))
    assert all(a.status_code == 200 for a in answers)
    stats = sandbox.stats()
    assert stats["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 40
    assert (stats["tokens"], stats["secretReads"], stats["identityTokens"]) == (1, 1, 1)


# -- upstream trouble --------------------------------------------------------------------------------


def test_stale_answer_while_upstream_is_down(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=0)
    items = unique()
    assert before(gateway, contextItems=items).json()["source"] == "live"
    sandbox.fault("actions", status=503)
    stale = before(gateway, contextItems=items)
    assert stale.status_code == 200
    assert stale.json()["source"] == "stale"
    assert stale.json()["queueId"] == Q_OPEN
    never_seen = before(gateway)
    assert never_seen.status_code == 503
    assert never_seen.json()["error"]["code"] == "upstream_unavailable"


def test_short_retry_after_is_waited_out(gateway, sandbox):
    sandbox.fault("actions", status=429, retryAfter=1, count=1)
    response = before(gateway)
    assert response.status_code == 200
    assert response.json()["source"] == "live"
    assert sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 2


def test_long_retry_after_is_passed_on_and_respected(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    before(gateway)
    sandbox.reset()
    sandbox.fault("actions", status=429, retryAfter=120)
    response = before(gateway)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_throttled"
    assert 100 <= int(response.headers["Retry-After"]) <= 120
    # Within the Retry-After period nothing more reaches the org, whatever the key.
    for _ in range(5):
        assert before(gateway).status_code == 503
    assert sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 1


def test_the_apps_own_calls_per_minute_budget(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_MAX_CALLS_PER_MINUTE=3, AVAILABILITY_CACHE_SECONDS=0)
    known = unique()
    assert [before(gateway, contextItems=items).status_code for items in (known, unique(), unique())] == [200] * 3
    refused = before(gateway)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "upstream_throttled"
    assert 50 <= int(refused.headers["Retry-After"]) <= 62  # counted by the second, over 62 of them (shared)
    stale = before(gateway, contextItems=known)  # an answer seen before stands in, marked
    assert (stale.status_code, stale.json()["source"]) == (200, "stale")
    assert sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 3


def test_slow_upstream_gets_504_within_the_budget(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_TIMEOUT_SECONDS=2)
    before(gateway)
    sandbox.fault("actions", delayMs=6000)
    started = time.monotonic()
    response = before(gateway)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 6


def test_rotated_secret_is_read_again_without_restart(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    assert before(gateway).status_code == 200
    sandbox.rotate_secret()
    sandbox.revoke_tokens()  # the cached token dies too, so the old secret must be tried and refused
    sandbox.reset()
    response = before(gateway)
    assert response.status_code == 200, response.text
    stats = sandbox.stats()
    assert stats["secretReads"] == 1
    assert stats["tokens"] == 2  # old secret refused, new secret accepted


def test_revoked_token_gets_one_fresh_token(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    assert before(gateway).status_code == 200
    sandbox.revoke_tokens()
    sandbox.reset()
    assert before(gateway).status_code == 200
    stats = sandbox.stats()
    assert stats["tokens"] == 1
    assert stats["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 2


def test_refused_credentials_are_upstream_auth_failed(fresh_gateway, sandbox):
    gateway = fresh_gateway(DATAVERSE_CLIENT_ID="bbbbbbbb-0000-4000-8000-00000000dead")
    response = before(gateway)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_auth_failed"


def test_key_vault_down_then_back(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    sandbox.fault("keyVault", status=503)
    response = before(gateway)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "configuration_error"
    assert "Key Vault" in error["message"]
    sandbox.clear_faults()
    # A failed read answers for the calls queued behind it for a moment; then the vault is asked again.
    deadline = time.monotonic() + 10
    while (status := before(gateway).status_code) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == 200


def test_slow_token_endpoint_or_vault_stays_inside_the_budget(fresh_gateway, sandbox):
    for target in ("keyVault", "token"):
        gateway = fresh_gateway(AVAILABILITY_TIMEOUT_SECONDS=2)
        sandbox.fault(target, delayMs=8000)
        started = time.monotonic()
        response = before(gateway)
        assert response.status_code == 504, (target, response.text)
        assert response.json()["error"]["code"] == "upstream_timeout"
        assert time.monotonic() - started < 5, target
        sandbox.clear_faults()


def test_missing_setting_is_a_configuration_error_naming_it(fresh_gateway):
    gateway = fresh_gateway(DATAVERSE_URL="")
    response = before(gateway)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "configuration_error"
    assert "DATAVERSE_URL" in response.json()["error"]["message"]


def test_logs_hold_no_secret_and_no_token(gateway, stack):
    before(gateway)
    assert "before-conversation 200" in gateway.log()
    assert "http_logging_policy" not in gateway.log()  # the SDKs' request dumps are kept out
    logs = sorted(stack.log_dir.glob("*.log"))
    assert len(logs) >= 3  # sandbox, azurite, hosts
    for path in logs:
        log = path.read_text(encoding="utf-8", errors="replace")
        assert SECRET not in log, path.name
        assert not re.search(r"Bearer [A-Za-z0-9._~+/=-]{16,}", log), path.name
        assert "access_token" not in log and "client_secret=" not in log, path.name


def test_openapi_document_is_served_without_a_key(gateway):
    response = requests.get(f"{gateway.url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": gateway.url}]
    assert "/api/availability/before-conversation" in document["paths"]
