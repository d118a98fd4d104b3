"""What a security review of the running stack asked for, each over the wire or on the local host."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.availability.scenario import CHAT

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def test_a_cached_batch_answers_at_once_while_another_callers_slow_batch_runs(fresh_gateway, sandbox):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=300)
    cached = {"checks": [{"workstreamId": CHAT, "contextItems": {"Case": uuid.uuid4().hex}}]}
    assert gateway.post("availability/batch", cached).status_code == 200
    sandbox.fault("actions", delayMs=4000)
    slow = {"checks": [{"workstreamId": CHAT, "contextItems": {"Case": uuid.uuid4().hex}} for _ in range(25)]}
    done: list[int] = []
    other = threading.Thread(target=lambda: done.append(gateway.post("availability/batch", slow).status_code))
    other.start()
    try:
        time.sleep(1.0)  # the slow batch's checks are at the org by now
        started = time.monotonic()
        answer = gateway.post("availability/batch", cached)
        elapsed = time.monotonic() - started
    finally:
        other.join(60)
    assert answer.status_code == 200
    assert answer.json()["results"][0]["availability"]["source"] == "cache"
    assert elapsed < 1.0, f"the cached batch waited {elapsed:.1f} s behind another caller's batch"
    assert done == [200]


def test_tokens_come_back_as_soon_as_entra_answers_again_after_refusing(fresh_gateway, sandbox):
    gateway = fresh_gateway()
    sandbox.fault("token", status=400)
    refused = gateway.post("availability/before-conversation", {"workstreamId": CHAT})
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "upstream_auth_failed"
    sandbox.clear_faults()
    time.sleep(2.2)  # the documented back-off: a failed token request answers for the next 2 s
    answer = gateway.post("availability/before-conversation", {"workstreamId": CHAT})
    assert answer.status_code == 200, answer.text


def test_local_secrets_are_readable_by_their_owner_only(stack, tmp_path):
    import json
    import os
    import stat

    host = stack.start_host(port=0, name=f"private-{uuid.uuid4().hex[:6]}")
    try:
        keys = next(stack.state_dir.glob(f"{host.process.name}-keys.json"))
        assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600
        assert json.loads(keys.read_text())["functionKey"] == host.function_key
    finally:
        host.process.stop()
    sandbox_pid = next(p.popen.pid for p in stack.processes if p.name == "sandbox")
    command_line = open(f"/proc/{sandbox_pid}/cmdline", "rb").read().decode()
    assert stack.sandbox["identityHeader"] not in command_line


def test_stack_details_mask_storage_keys_but_keep_azurites_published_one():
    from devtools.stack import AZURITE_KEY, shown_setting

    real = "DefaultEndpointsProtocol=https;AccountName=contoso;AccountKey=c2VjcmV0a2V5;EndpointSuffix=core.windows.net"
    for connection in ("AzureWebJobsStorage", "AVAILABILITY_STATE_STORAGE"):
        assert "c2VjcmV0a2V5" not in shown_setting(connection, real)
        assert "AccountKey=<hidden>" in shown_setting(connection, real)
    sas = "TableEndpoint=https://contoso.table.core.windows.net;SharedAccessSignature=sv=2024&sig=abc%3D"
    assert "sig=" not in shown_setting("AzureWebJobsStorage", sas)
    azurite = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
    assert shown_setting("AzureWebJobsStorage", azurite) == azurite
    assert shown_setting("DATAVERSE_CLIENT_SECRET", "s3cret") != "s3cret"


def test_a_url_setting_with_user_info_is_refused_without_echoing_it():
    from availability.errors import ConfigurationError
    from availability.settings import load_settings

    with pytest.raises(ConfigurationError) as refused:
        load_settings({"DATAVERSE_URL": "https://admin:hunter2@contoso.crm.dynamics.com"})
    assert refused.value.setting == "DATAVERSE_URL"
    assert "hunter2" not in refused.value.message and "admin" not in refused.value.message


SURROGATES = [
    ("availability/before-conversation", '{"workstreamId": "%s", "contextItems": {"\\ud800": 1.5}}' % CHAT,
     "contextItems"),
    ("availability/before-conversation", '{"workstreamId": "%s", "contextItems": {"Tier": "a\\udc00"}}' % CHAT,
     "contextItems.Tier"),
    ("availability/before-conversation", '{"workstreamId": "%s", "engagementContext": {"x": "\\udfff"}}' % CHAT,
     "engagementContext.x"),
    ("availability/for-conversation", '{"conversationId": "\\ud800"}', "conversationId"),
    ("availability/batch", '{"checks": [{"workstreamId": "%s", "bogus\\udc80": 1}]}' % CHAT, "checks[0]"),
    ("availability/batch", '{"checks": [{"workstreamId": "%s", "timeZone": "\\ud800"}]}' % CHAT,
     "checks[0].timeZone"),
]


@pytest.mark.parametrize(("path", "raw", "target"), SURROGATES)
def test_half_a_utf16_character_anywhere_is_a_400_naming_the_field(gateway, path, raw, target):
    answer = gateway.post(path, data=raw.encode(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.headers["x-correlation-id"]
    assert answer.json()["error"]["code"] == "invalid_request"
    assert answer.json()["error"]["target"] == target


@pytest.mark.parametrize("path", ["availability/before-conversation", "availability/for-conversation",
                                  "availability/batch"])
def test_deep_nesting_is_a_malformed_request(gateway, path):
    answer = gateway.post(path, data=b"[" * 30_000 + b"]" * 30_000, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_request"
    assert "Traceback" not in gateway.log()[-5000:]


def test_json_answers_are_never_sniffed(gateway):
    for answer in (gateway.get("health"), gateway.post("availability/before-conversation", {"workstreamId": CHAT}),
                   gateway.post("availability/before-conversation", {"workstreamId": "nope"})):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Type"].startswith("application/json")


# ------------------------------------------------------------------------------------- the local host


def raw_exchange(url: str, data: bytes, wait: float = 5.0) -> bytes:
    """Send `data` on a fresh connection and read what comes back until the host closes or `wait` passes."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as connection:
        connection.sendall(data)
        received = b""
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
                if b"\r\n\r\n" in received and b"Content-Length: " in received:
                    head, _, body = received.partition(b"\r\n\r\n")
                    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                    if len(body) >= length:
                        break
        except TimeoutError:
            pass
    return received


def test_a_stalled_connection_is_closed_by_the_host(fresh_gateway):
    import socket
    from urllib.parse import urlsplit

    gateway = fresh_gateway(LOCAL_HOST_READ_TIMEOUT="1.5")
    parts = urlsplit(gateway.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(b"POST /api/availability/batch HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        started = time.monotonic()
        while connection.recv(65536):
            pass
        assert time.monotonic() - started < 5  # closed by the host, not left open


def test_the_key_is_checked_before_the_body_is_read(gateway):
    started = time.monotonic()
    answer = raw_exchange(gateway.url, b"POST /api/availability/batch HTTP/1.1\r\nHost: x\r\n"
                                       b"Content-Type: application/json\r\nContent-Length: 52428800\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert answer.endswith(b"Content-Length: 0\r\n\r\n")  # the host's own empty answer, as in Azure
    assert time.monotonic() - started < 3  # answered without waiting for (or reading) 50 MB


def test_a_bad_chunk_size_is_a_400(gateway):
    answer = raw_exchange(gateway.url, (
        "POST /api/availability/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"x-functions-key: {gateway.function_key}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    ).encode())
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"invalid_request"' in answer
    assert "Traceback" not in gateway.log()[-3000:]


def test_request_paths_cannot_forge_log_lines(gateway):
    forged = "2026-01-01 00:00:00,000 INFO host: GET /api/health 200 forged"
    answer = raw_exchange(gateway.url, f"GET /api/x%0a{forged.replace(' ', '%20')} HTTP/1.1\r\nHost: x\r\n"
                                       "Connection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 401") or answer.startswith(b"HTTP/1.1 404")
    time.sleep(0.2)
    lines = gateway.log().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any("/api/x\\n" in line for line in lines)


def test_a_fuzzer_with_surrogates_and_deep_nesting_in_its_alphabet_finds_no_server_error(gateway):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(['"\\ud800"', '"\\udfff"', '"a\\udc00b"', '"\\ud83d\\ude00"', "[", "]", "{", "}", ",",
                              ":", '"workstreamId"', f'"{CHAT}"', '"contextItems"', '"checks"', "1.5", "null",
                              '"timeZone"', '"language"', "[" * 2000, "]" * 2000])
    paths = st.sampled_from(["availability/before-conversation", "availability/for-conversation",
                             "availability/batch"])

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(path=paths, parts=st.lists(pieces, max_size=40))
    def never_a_server_error(path, parts):
        raw = ("{" + "".join(parts)).encode()
        answer = gateway.post(path, data=raw, headers={"Content-Type": "application/json"})
        assert answer.status_code < 500 or answer.json()["error"]["code"] != "internal_error", answer.text
        assert answer.headers.get("x-correlation-id")

    never_a_server_error()
