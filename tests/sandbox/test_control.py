"""The control endpoints: stats, faults, clock, secret rotation, token revocation, reset."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from tests.sandbox.conftest import BEFORE, C_FR, CLIENT, FOR, SECRET, SECRET_NAME, TENANT, VAULT, W_CHAT, W_PHONE


def test_stats_count_every_call_exactly(sandbox):
    assert sandbox.stats()["tokens"] == 0
    sandbox.org_token  # noqa: B018 - the org token the calls below use
    sandbox.token(VAULT)
    sandbox.token_response(secret="wrong")
    sandbox.post(f"/{TENANT}/oauth2/token", data={"grant_type": "client_credentials", "client_id": CLIENT,
                                                   "client_secret": SECRET, "resource": sandbox.url})
    vault_token = sandbox.identity_token(VAULT)
    sandbox.get("/msi/token", params={"api-version": "2019-08-01", "resource": VAULT})  # refused, still counted
    sandbox.get(f"/secrets/{SECRET_NAME}", params={"api-version": "7.5"})  # the challenge: not a read
    sandbox.get(f"/secrets/{SECRET_NAME}", params={"api-version": "7.5"},
                headers={"Authorization": f"Bearer {vault_token}"})
    sandbox.before(W_CHAT)
    sandbox.before(W_PHONE)
    sandbox.action(BEFORE, {"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT}, token="nope")  # 401, counted
    sandbox.for_conversation(C_FR)
    sandbox.query("WhoAmI")
    sandbox.query("queues")
    sandbox.query("msdyn_liveworkstreams")
    stats = sandbox.stats()
    assert stats == {
        "tokens": 4, "identityTokens": 2, "secretReads": 1, "queries": 2, "whoAmI": 1,
        "actions": {BEFORE: 3, FOR: 1},
        "unauthorized": {"tokens": 1, "identityTokens": 1, "secretReads": 0, "actions": 1},
        "identityTokensIssued": {f"{sandbox.server.sandbox.entra.identity_client_id} {VAULT}": 1},
    }


# -- faults --------------------------------------------------------------------------------------------------

def test_throttling_with_retry_after_for_count_calls(sandbox):
    added = sandbox.fault(target="actions", status=429, retryAfter=7, count=2)
    assert added["queued"] == 1
    for _ in range(2):
        response = sandbox.before(W_CHAT)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.json()["error"]["code"] == "0x80072322"
    assert sandbox.before(W_CHAT).status_code == 200
    assert sandbox.stats()["actions"][BEFORE] == 3


def test_a_fault_without_count_lasts_until_cleared(sandbox):
    sandbox.fault(target="actions", status=500)
    for _ in range(3):
        response = sandbox.for_conversation(C_FR)
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "0x80040216"
        assert "Retry-After" not in response.headers
    assert sandbox.query("WhoAmI").status_code == 200  # `actions` is the two actions only
    sandbox.control("DELETE", "faults")
    assert sandbox.for_conversation(C_FR).status_code == 200


def test_faults_queue_in_order(sandbox):
    sandbox.fault(target="actions", status=429, count=1)
    sandbox.fault(target="actions", status=503, count=1)
    assert [sandbox.before(W_CHAT).status_code for _ in range(3)] == [429, 503, 200]
    assert sandbox.control("GET", "faults")["faults"]["actions"] == []


def test_a_fault_can_aim_at_one_workstream(sandbox):
    sandbox.fault(target="actions", status=503, workstreamId=W_PHONE.upper())
    assert sandbox.before(W_CHAT).status_code == 200
    assert sandbox.before(W_PHONE).status_code == 503
    assert sandbox.for_conversation(C_FR).status_code == 200  # C_FR is on the chat workstream


def test_a_delay_then_a_normal_answer(sandbox):
    sandbox.fault(target="actions", delayMs=300, count=1)
    started = time.perf_counter()
    assert sandbox.before(W_CHAT).status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    sandbox.before(W_CHAT)
    assert time.perf_counter() - started < 0.3


def test_a_delay_then_a_status(sandbox):
    sandbox.fault(target="actions", delayMs=200, status=503, retryAfter=1, count=1)
    started = time.perf_counter()
    response = sandbox.before(W_CHAT)
    assert time.perf_counter() - started >= 0.2
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")


def test_a_delayed_call_does_not_block_others(sandbox):
    sandbox.fault(target="actions", delayMs=800, count=1)
    token = sandbox.org_token
    slow = threading.Thread(target=sandbox.before, args=(W_CHAT,))
    slow.start()
    time.sleep(0.1)
    started = time.perf_counter()
    from tests.sandbox.conftest import Client

    other = Client(sandbox.server)  # another connection, like another client
    assert other.query("WhoAmI", token=token).status_code == 200
    assert time.perf_counter() - started < 0.5
    slow.join()


@pytest.mark.parametrize("target, call, status, shape", [
    ("token", lambda s: s.token_response(), 503, lambda b: b["error"] == "temporarily_unavailable"),
    ("token", lambda s: s.token_response(), 400, lambda b: b["error_codes"] == [90000]),
    ("identity", lambda s: s.get("/msi/token", params={"api-version": "2019-08-01", "resource": VAULT},
                                 headers={"X-IDENTITY-HEADER": s.server.identity_header}),
     500, lambda b: b["statusCode"] == 500),
    ("keyVault", lambda s: s.get(f"/secrets/{SECRET_NAME}", params={"api-version": "7.5"},
                                 headers={"Authorization": f"Bearer {s.identity_token(VAULT)}"}),
     429, lambda b: b["error"]["code"] == "Throttled"),
    ("queries", lambda s: s.query("msdyn_liveworkstreams"), 503, lambda b: "code" in b["error"]),
    ("whoAmI", lambda s: s.query("WhoAmI"), 503, lambda b: "code" in b["error"]),
])
def test_each_target_fails_in_its_service_shape(sandbox, target, call, status, shape):
    sandbox.org_token  # noqa: B018 - minted before the fault, so `token` faults hit only the call under test
    sandbox.fault(target=target, status=status, retryAfter=3, count=1)
    response = call(sandbox)
    assert response.status_code == status
    assert response.headers["Retry-After"] == "3"
    assert shape(response.json())
    assert call(sandbox).status_code == 200


def test_keyvault_faults_reach_the_sdk(sandbox, sdk_environment):
    sdk_environment.setenv("IDENTITY_ENDPOINT", f"{sandbox.url}/msi/token")
    sdk_environment.setenv("IDENTITY_HEADER", sandbox.server.identity_header)
    from azure.core.exceptions import HttpResponseError

    sandbox.fault(target="keyVault", status=500)
    client = SecretClient(sandbox.url, ManagedIdentityCredential(), verify_challenge_resource=False, retry_total=0)
    with pytest.raises(HttpResponseError) as raised:
        client.get_secret(SECRET_NAME)
    assert raised.value.status_code == 500


@pytest.mark.parametrize("body, field", [
    ({"target": "everything", "status": 500}, "target"),
    ({"status": 500}, "target"),
    ({"target": "actions", "status": 200}, "status"),
    ({"target": "actions", "status": "500"}, "status"),
    ({"target": "actions"}, "status"),
    ({"target": "actions", "status": 500, "count": 0}, "count"),
    ({"target": "actions", "delayMs": -1}, "delayMs"),
    ({"target": "actions", "delayMs": 100, "retryAfter": 5}, "retryAfter"),
    ({"target": "token", "status": 500, "workstreamId": W_CHAT}, "workstreamId"),
    ({"target": "actions", "status": 500, "colour": "red"}, "colour"),
])
def test_bad_fault_input_names_the_field(sandbox, body, field):
    response = sandbox.post("/_sandbox/faults", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["target"] == field
    assert sandbox.control("GET", "faults")["faults"]["actions"] == []


def test_control_bodies_must_be_json(sandbox):
    response = sandbox.post("/_sandbox/faults", data=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["target"] == "body"


# -- the clock -----------------------------------------------------------------------------------------------

def test_clock_set_frozen_advance_and_reset(sandbox):
    clock = sandbox.control("POST", "clock", {"now": "2026-12-25T10:00:00+01:00", "frozen": True})
    assert clock["now"] == "2026-12-25T09:00:00.000Z"
    assert clock["frozen"] is True
    time.sleep(0.05)
    assert sandbox.control("GET", "clock")["now"] == "2026-12-25T09:00:00.000Z"
    assert sandbox.control("POST", "clock", {"advanceSeconds": 3600})["now"] == "2026-12-25T10:00:00.000Z"
    running = sandbox.control("POST", "clock", {"now": "2026-06-01T12:00:00Z"})
    assert running["frozen"] is False
    moved = datetime.fromisoformat(sandbox.control("GET", "clock")["now"])
    assert abs((moved - datetime(2026, 6, 1, 12, tzinfo=UTC)).total_seconds()) < 5
    reset = datetime.fromisoformat(sandbox.control("POST", "clock", {"reset": True})["now"])
    assert abs((reset - datetime.now(UTC)).total_seconds()) < 5


def test_the_clock_drives_the_answers(sandbox):
    sandbox.at("2026-03-02T09:30:00Z")
    assert sandbox.before(W_CHAT, {"Language": "fr"}).json()["IsQueueAvailable"] is True
    sandbox.at("2026-03-02T22:00:00Z")
    assert sandbox.before(W_CHAT, {"Language": "fr"}).json()["IsQueueAvailable"] is False


@pytest.mark.parametrize("body, field", [
    ({"now": "yesterday"}, "now"),
    ({"now": 12}, "now"),
    ({}, "now"),
    ({"now": "2026-01-01T00:00:00Z", "frozen": "yes"}, "frozen"),
    ({"reset": False}, "reset"),
    ({"advanceSeconds": "1"}, "advanceSeconds"),
    ({"when": "now"}, "when"),
])
def test_bad_clock_input_names_the_field(sandbox, body, field):
    response = sandbox.post("/_sandbox/clock", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["target"] == field


# -- secret rotation, token revocation, reset -----------------------------------------------------------------

def test_rotate_secret(own_sandbox, monkeypatch):
    sandbox = own_sandbox()
    assert sandbox.token_response().status_code == 200
    before = sandbox.get(f"/secrets/{SECRET_NAME}", params={"api-version": "7.5"},
                         headers={"Authorization": f"Bearer {sandbox.identity_token(VAULT)}"}).json()
    rotated = sandbox.control("POST", "rotate-secret")
    assert set(rotated) == {"name", "version"}
    refused = sandbox.token_response()
    assert refused.status_code == 401
    assert refused.json()["error_codes"] == [7000215]
    # The new secret is in the vault, read with the real SDK through the managed identity.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{sandbox.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", sandbox.server.identity_header)
    client = SecretClient(sandbox.url, ManagedIdentityCredential(), verify_challenge_resource=False)
    secret = client.get_secret(SECRET_NAME)
    assert secret.value != SECRET
    assert secret.properties.version == rotated["version"]
    assert sandbox.token_response(secret=secret.value).status_code == 200
    assert secret.value is not None and secret.value not in str(sandbox.control("GET", "stats"))
    # Like a real vault, the older version stays readable by its version id.
    assert client.get_secret(SECRET_NAME, before["id"].rsplit("/", 1)[1]).value == SECRET


def test_revoke_tokens(own_sandbox):
    sandbox = own_sandbox()
    org_token, vault_token = sandbox.token(), sandbox.identity_token(VAULT)
    assert sandbox.query("WhoAmI", token=org_token).status_code == 200
    assert sandbox.control("POST", "revoke-tokens")["revoked"] == 2
    response = sandbox.query("WhoAmI", token=org_token)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]
    assert sandbox.get(f"/secrets/{SECRET_NAME}", params={"api-version": "7.5"},
                       headers={"Authorization": f"Bearer {vault_token}"}).status_code == 401
    assert sandbox.query("WhoAmI", token=sandbox.token()).status_code == 200


def test_reset_clears_stats_faults_and_clock_but_not_secrets(own_sandbox):
    sandbox = own_sandbox()
    sandbox.control("POST", "rotate-secret")
    sandbox.fault(target="actions", status=500)
    sandbox.at("2026-12-25T09:00:00Z")
    sandbox.token_response()
    sandbox.control("POST", "reset")
    assert sandbox.stats()["tokens"] == 0
    assert sandbox.control("GET", "faults")["faults"]["actions"] == []
    assert sandbox.control("GET", "clock")["frozen"] is False
    assert sandbox.token_response().status_code == 401  # still the rotated secret


def test_recent_requests_record_correlation_ids(sandbox):
    sandbox.action(BEFORE, {"ApiVersion": "1.0", "LiveWorkStreamId": W_CHAT},
                   headers={"x-ms-client-request-id": "11112222-3333-4444-5555-666677778888"})
    recent = sandbox.control("GET", "requests?limit=5")["requests"]
    entry = recent[-1]
    assert entry["path"] == f"/api/data/v9.2/{BEFORE}"
    assert entry["clientRequestId"] == "11112222-3333-4444-5555-666677778888"
    assert entry["status"] == 200
    assert entry["serviceRequestId"]
    assert all("_sandbox" not in e["path"] for e in recent)


def test_info_endpoint_matches_the_server(sandbox):
    info = sandbox.control("GET", "info")
    assert info == sandbox.server.info()
    assert os.path.exists(info["caBundle"])
