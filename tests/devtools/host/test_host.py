"""The local Functions host over HTTP, answering as Azure's host does: routing, keys, the host's own empty answers,
the platform's CORS, request framing, concurrency, timers and the admin API."""

import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from devtools.indexing import compile_route, resolve_setting_refs
from devtools.stack import Stack

pytestmark = pytest.mark.subprocess  # starts processes of its own

APP_DIR = Path(__file__).parent / "app"
ORIGINS = ("https://a.example", "https://b.example")


@pytest.fixture(scope="module")
def timer_log(tmp_path_factory) -> Path:
    """Where the test app's timer functions write a line per run."""
    path = tmp_path_factory.mktemp("timers") / "timers.log"
    path.touch()
    return path


@pytest.fixture(scope="module")
def host(tmp_path_factory, timer_log):
    state = tmp_path_factory.mktemp("host")
    stack = Stack(local_settings={}, state_dir=state, quiet=True,
                  environ={**os.environ, "TIMER_LOG": str(timer_log), "TICK_SCHEDULE": "*/1 * * * * *",
                           "SPAN_SCHEDULE": "00:00:01", "BARRIER_PARTIES": "4",
                           "PUBLIC_ALLOWED_ORIGINS": ", ".join(ORIGINS)})
    started = stack.start_host(port=0, app_dir=APP_DIR)
    yield started
    stack.stop()
    assert not started.process.alive()


def get(host, path, key=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if key:
        headers["x-functions-key"] = key
    return requests.request(kwargs.pop("method", "GET"), host.url + path, headers=headers, timeout=10, **kwargs)


def assert_hosts_own_empty_answer(response, status):
    """What Azure's host answers itself: the status, `Content-Length: 0`, no body, nothing of the app's."""
    assert response.status_code == status
    assert response.content == b"" and response.headers["Content-Length"] == "0"
    assert "Content-Type" not in response.headers and "x-correlation-id" not in response.headers


def raw_exchange(host, request: bytes) -> tuple[str, dict[str, list[str]], bytes]:
    """Status line, headers (every value of each) and body of one request sent as bytes on its own connection."""
    address = urlsplit(host.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(request)
        reader = raw.makefile("rb")
        status = reader.readline().decode("latin-1").strip()
        headers: dict[str, list[str]] = {}
        while line := reader.readline().decode("latin-1").strip():
            name, _, value = line.partition(":")
            headers.setdefault(name.lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        return status, headers, reader.read(length) if length else b""


def test_route_params_query_and_body_reach_the_function(host):
    response = get(host, "/api/echo/alice?x=1&y=two", host.function_key, method="POST", data=b"hello",
                   headers={"x-test": "t"})
    assert response.status_code == 200
    assert response.headers["x-echo"] == "yes"
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["method"] == "POST"
    assert body["route"] == {"name": "alice"}
    assert body["params"] == {"x": "1", "y": "two"}
    assert body["body"] == "hello"
    assert body["header"] == "t"


def test_routes_are_case_insensitive_and_typed(host):
    assert get(host, "/API/Items/42", host.function_key).text == "42"
    for path in ("/api/items/abc", "/api/nowhere", "/elsewhere"):
        assert_hosts_own_empty_answer(get(host, path, host.function_key), 404)


def test_a_literal_route_is_tried_before_a_parameter_whatever_the_order_of_declaration(host):
    assert get(host, "/api/things/new", host.function_key).text == "new"
    assert get(host, "/api/things/old", host.function_key).text == "thing old"


@pytest.mark.parametrize("method", ["DELETE", "PUT", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])
def test_a_method_no_function_declares_is_an_empty_404_as_in_azure(host, method):
    # Azure/azure-functions-host#10098: the route's method constraint fails, so no function matches.
    assert_hosts_own_empty_answer(get(host, "/api/items/1", host.function_key, method=method), 404)
    # Routing comes before the key: without one, still a 404, not a 401.
    assert_hosts_own_empty_answer(get(host, "/api/echo/a", method=method), 404)


def test_what_http_server_refuses_itself_keeps_the_error_shape_compact(host):
    address = urlsplit(host.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(b"GET /api/health HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
        chunks = []
        while chunk := raw.recv(65536):  # the host closes the connection after such an answer
            chunks.append(chunk)
        answer = b"".join(chunks).decode("latin-1")
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 431") and "application/json" in head
    assert body.startswith('{"error":{"code":"invalid_request"') and "<html" not in body.lower()
    assert json.dumps(json.loads(body), separators=(",", ":")) == body  # compact, as the app's


def test_a_request_without_a_host_header_is_refused_as_kestrel_does(host):
    status, _, body = raw_exchange(host, b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status.startswith("HTTP/1.1 400") and b"Host header" in body
    status, _, _ = raw_exchange(host, b"GET /api/health HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs none
    assert status.split()[1] == "200"


def test_a_refused_request_keeps_its_connection_unless_its_body_is_left_unread(host):
    address = urlsplit(host.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        reader = raw.makefile("rb")

        def answer(request: bytes) -> dict[str, str]:
            raw.sendall(request)
            status = reader.readline().decode("latin-1").split()[1]
            headers = {"status": status}
            while (line := reader.readline().decode("latin-1").strip()):
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
            reader.read(int(headers["content-length"]))
            return headers

        # No body to skip (Content-Length: 0, as clients send with PUT): the connection serves the next request.
        refused = answer(b"PUT /api/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert refused["status"] == "404" and "connection" not in refused
        assert answer(b"GET /api/echo/a HTTP/1.1\r\nHost: x\r\n\r\n")["status"] == "401"
        # A body left unread (refused before it is read): the host says it closes, then closes.
        closing = answer(b"POST /api/echo/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        assert closing["status"] == "401" and closing["connection"] == "close"
        assert reader.read() == b""


def test_keys_are_enforced_like_azure(host):
    # Refused by the host before the app sees the request: an empty 401 (FunctionInvocationMiddleware's
    # UnauthorizedResult), without the app's error body or correlation id.
    assert_hosts_own_empty_answer(get(host, "/api/echo/a"), 401)
    assert_hosts_own_empty_answer(get(host, "/api/echo/a", "wrong-key"), 401)
    assert get(host, "/api/echo/a", host.function_key).status_code == 200
    assert get(host, f"/api/echo/a?code={host.function_key}").status_code == 200
    assert get(host, f"/api/echo/a?CODE={host.function_key}").status_code == 200  # query names ignore case
    assert get(host, "/api/echo/a?code=nope").status_code == 401
    # The header wins over the query parameter, even a wrong one.
    assert get(host, f"/api/echo/a?code={host.function_key}", "wrong-key").status_code == 401
    # the master key is a host key: it opens function-level endpoints too
    assert get(host, "/api/echo/a", host.master_key).status_code == 200
    # admin level needs the master key
    assert_hosts_own_empty_answer(get(host, "/api/master-only", host.function_key), 401)
    assert get(host, "/api/master-only", host.master_key).text == "admin"
    # anonymous endpoints need none
    assert get(host, "/api/health").status_code == 200


def test_the_function_sees_the_request_as_the_worker_does(host):
    response = get(host, "/api/echo/bob?x=1&x=2&blank=&y=3", host.function_key,
                   headers={"x-test": "t", "Host": "gateway.example:8443"})
    body = response.json()
    # The URL the request arrived on (its Host), the query as sent; repeated values joined, empty ones dropped.
    assert body["url"] == "http://gateway.example:8443/api/echo/bob?x=1&x=2&blank=&y=3"
    assert body["params"] == {"x": "1,2", "y": "3"}
    # Behind Azure's front end: the scheme and host it saw (AppServiceHeaderFixupMiddleware).
    behind = get(host, "/api/echo/bob", host.function_key,
                 headers={"X-Forwarded-Proto": "https", "DISGUISED-HOST": "contoso.azurewebsites.net"}).json()
    assert behind["url"] == "https://contoso.azurewebsites.net/api/echo/bob"


def test_no_content_length_where_no_content_may_follow(host):
    for code in (204, 304):
        status, headers, _ = raw_exchange(host, f"GET /api/status/{code} HTTP/1.1\r\nHost: x\r\n"
                                                f"x-functions-key: {host.function_key}\r\n"
                                                "Connection: close\r\n\r\n".encode())
        assert status.startswith(f"HTTP/1.1 {code}")
        assert "content-length" not in headers and headers["etag"] == ['"v1"']
    assert get(host, "/api/status/200", host.function_key).headers["Content-Length"] == "0"


def test_async_functions_are_awaited(host):
    response = get(host, "/api/async", host.function_key)
    assert (response.status_code, response.text) == (201, "async")


def test_requests_are_served_concurrently(host):
    # The function waits on a barrier of 4: it only completes if 4 requests are in flight at once.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: get(host, "/api/barrier", host.function_key), range(4)))
    assert [a.text for a in answers] == ["together"] * 4


def test_a_failing_function_gives_an_empty_500(host):
    # ExceptionMiddleware: the status, nothing more; the trace goes to the log only.
    assert_hosts_own_empty_answer(get(host, "/api/boom", host.function_key), 500)
    assert "RuntimeError: boom" in host.process.log_path.read_text()


def test_one_log_line_per_request_without_the_key(host):
    get(host, f"/api/echo/logged?code={host.function_key}")
    lines = [l for l in host.process.log_path.read_text().splitlines() if "/api/echo/logged" in l]
    assert len(lines) == 1
    assert "GET /api/echo/logged 200" in lines[0] and "function=echo" in lines[0]
    assert host.function_key not in host.process.log_path.read_text()


@pytest.mark.parametrize("name", ["tick", "span"])
def test_timer_runs_on_its_schedule_with_the_setting_resolved(host, timer_log, name):
    # tick: NCRONTAB every second; span: the TimeSpan 00:00:01, which Azure accepts as well.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and timer_log.read_text().splitlines().count(name) < 2:
        time.sleep(0.2)
    assert timer_log.read_text().splitlines().count(name) >= 2


def test_the_admin_api_answers_as_azure_s(host):
    url = "/admin/functions/manual"
    # The AdminAuthLevel policy: no valid key is a challenge, a valid key of a lower level a refusal.
    missing = get(host, url, method="POST", json={"input": ""})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.content == b""
    assert_hosts_own_empty_answer(get(host, url, "wrong", method="POST", json={"input": ""}), 401)
    assert_hosts_own_empty_answer(get(host, url, host.function_key, method="POST", json={"input": ""}), 403)
    # An admin route that does not exist is a 404 whatever the key.
    assert_hosts_own_empty_answer(get(host, "/admin/nothing", method="POST"), 404)
    # The body is a JSON FunctionInvocation: other media are refused (415), a JSON that is no object too (400).
    assert_hosts_own_empty_answer(get(host, url, host.master_key, method="POST", data=b""), 415)
    assert_hosts_own_empty_answer(get(host, url, host.master_key, method="POST", json=[1]), 400)
    assert_hosts_own_empty_answer(get(host, "/admin/functions/unknown", host.master_key, method="POST", json={}), 404)


def test_admin_trigger_runs_a_timer_function(host, timer_log):
    url = "/admin/functions/manual"
    response = get(host, url, host.master_key, method="POST", json={"input": ""})
    assert response.status_code == 202
    deadline = time.monotonic() + 10
    status = {}
    while time.monotonic() < deadline:
        status = get(host, url + "/status", host.master_key).json()
        if status["invocations"] >= 1 and not status["running"]:
            break
        time.sleep(0.1)
    assert status["lastResult"] == "Succeeded"
    assert "manual past_due=False" in timer_log.read_text()


# -- the platform's CORS (Flex Consumption), from PUBLIC_ALLOWED_ORIGINS ------------------------------------------


@pytest.mark.parametrize("path", ["/api/echo/a", "/api/nowhere", "/admin/functions/manual"])
def test_a_preflight_is_answered_by_the_host_whatever_the_path_and_without_a_key(host, path):
    granted = get(host, path, method="OPTIONS", headers={
        "Origin": ORIGINS[0], "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-functions-key, content-type"})
    assert granted.status_code == 204 and granted.content == b""
    assert "Content-Length" not in granted.headers
    assert granted.headers["Access-Control-Allow-Origin"] == ORIGINS[0]
    assert granted.headers["Access-Control-Allow-Methods"] == "POST"  # what was asked, as AllowAnyMethod grants
    assert granted.headers["Access-Control-Allow-Headers"] == "x-functions-key,content-type"
    assert "Access-Control-Max-Age" not in granted.headers  # the platform's policy sets none
    assert granted.headers["Vary"] == "Origin"  # more than one origin listed
    refused = get(host, path, method="OPTIONS", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 204
    assert not [name for name in refused.headers if name.lower().startswith(("access-control-", "vary"))]
    assert "(preflight)" in host.process.log_path.read_text()


def test_an_options_that_is_no_preflight_is_routed_like_any_request(host):
    assert_hosts_own_empty_answer(get(host, "/api/items/1", host.function_key, method="OPTIONS",
                                      headers={"Origin": "https://evil.example"}), 404)


def test_every_answer_to_a_listed_origin_carries_the_grant(host):
    status, headers, _ = raw_exchange(host, f"GET /api/echo/a HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGINS[1]}\r\n"
                                            f"x-functions-key: {host.function_key}\r\nConnection: close\r\n\r\n"
                                            .encode())
    assert status.startswith("HTTP/1.1 200")
    assert headers["access-control-allow-origin"] == [ORIGINS[1]] and headers["vary"] == ["Origin"]
    for refused in (get(host, "/api/echo/a", headers={"Origin": ORIGINS[0]}),  # the host's own 401 and 404 too
                    get(host, "/api/nowhere", headers={"Origin": ORIGINS[0]})):
        assert refused.status_code in (401, 404)
        assert refused.headers["Access-Control-Allow-Origin"] == ORIGINS[0]
    other = get(host, "/api/echo/a", host.function_key, headers={"Origin": "https://evil.example"})
    assert not [name for name in other.headers if name.lower().startswith("access-control-")]


def test_the_platform_origins_are_azure_s_setting_when_given_else_the_app_s():
    from devtools.platform_cors import PlatformCors

    assert PlatformCors.from_settings({"PUBLIC_ALLOWED_ORIGINS": "https://WWW.Contoso.com:443/, *x"}).origins == ()
    assert PlatformCors.from_settings({"PUBLIC_ALLOWED_ORIGINS": "https://WWW.Contoso.com:443/"}).origins == (
        "https://www.contoso.com",)
    given = PlatformCors.from_settings({"CORS_ALLOWED_ORIGINS": '["https://Portal.Azure.com"]',
                                        "CORS_SUPPORT_CREDENTIALS": "true", "PUBLIC_ALLOWED_ORIGINS": "*"})
    assert given.origins == ("https://portal.azure.com",) and given.support_credentials
    assert given.preflight("https://portal.azure.com", "GET", None) == [
        ("Access-Control-Allow-Origin", "https://portal.azure.com"), ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "GET")]
    anyone = PlatformCors.from_settings({"PUBLIC_ALLOWED_ORIGINS": "*"})
    assert anyone.response("https://x.example", [("Access-Control-Allow-Origin", "x")]) == [
        ("Access-Control-Allow-Origin", "*")]


# -- request framing ---------------------------------------------------------------------------------------------


def test_a_huge_trailer_line_is_refused_at_once_without_growing_the_host(host):
    """A chunked body whose trailer line never ends: the host reads a few KiB of it, answers 400 and closes."""
    peak_before = _peak_memory_kib(host.process.popen.pid)
    address = urlsplit(host.url)
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n0\r\nX-Trailer: ")
        answer: list[bytes] = []
        reader = threading.Thread(target=lambda: answer.append(_read_until_closed(raw)), daemon=True)
        reader.start()
        started = time.monotonic()
        line = b"a" * (1 << 20)
        try:
            while sent < (200 << 20) and reader.is_alive():  # up to 200 MiB of one trailer line
                raw.sendall(line)
                sent += len(line)
        except OSError:  # the host closed the connection: what it had not read is refused
            pass
        reader.join(10)
        elapsed = time.monotonic() - started
    assert answer and answer[0].startswith(b"HTTP/1.1 400") and b"trailer line is too long" in answer[0]
    assert elapsed < 5 and sent < (50 << 20), (elapsed, sent)
    assert _peak_memory_kib(host.process.popen.pid) - peak_before < 20 * 1024
    assert get(host, "/api/health").status_code == 200  # and serves the next connection


def _read_until_closed(connection: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks)


def _peak_memory_kib(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_route_templates():
    one = compile_route("a/{b}").fullmatch("/a/x")
    assert one is not None and one.group("b") == "x"
    assert compile_route("a/{b?}").fullmatch("/a") is not None
    rest = compile_route("files/{*path}").fullmatch("/files/x/y")
    assert rest is not None and rest.group("path") == "x/y"
    assert compile_route("n/{id:int}").fullmatch("/n/x") is None


def test_setting_references_resolve_or_name_the_missing_setting():
    assert resolve_setting_refs("%A% %B%", {"A": "1", "B": "2"}) == "1 2"
    with pytest.raises(LookupError, match="MISSING"):
        resolve_setting_refs("%MISSING%", {})


def test_children_end_themselves_when_the_stack_dies(tmp_path):
    """A stack killed with SIGKILL cannot stop its children: they notice and exit on their own (Azurite too)."""
    import json
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "stack.py"
    script.write_text(
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from devtools.stack import Stack, free_port\n"
        f"stack = Stack(state_dir=Path({str(tmp_path)!r}), quiet=True)\n"
        "stack.start_sandbox()\n"
        "stack.start_azurite(free_port())\n"
        "host = stack.start_host(port=0)\n"
        f"Path({str(tmp_path / 'pids.json')!r}).write_text(json.dumps([p.popen.pid for p in stack.processes]))\n"
        "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, str(script)], cwd=Path(__file__).resolve().parents[3],
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    pids_file = tmp_path / "pids.json"
    deadline = time.monotonic() + 60
    while not pids_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = json.loads(pids_file.read_text())
    assert len(pids) == 3
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + 15
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if _running(pid)]
        time.sleep(0.2)
    assert alive == []


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_environment_wins_over_every_other_settings_source(tmp_path):
    stack = Stack(local_settings={"AZURE_CLIENT_ID": "from-file", "SNAPSHOT_TABLE": "FromFile", "X": "file"},
                  state_dir=tmp_path, quiet=True,
                  environ={"AZURE_CLIENT_ID": "from-env", "SNAPSHOT_TABLE": "FromEnv", "PATH": "/bin"})
    settings = stack.app_settings({"X": "extra"})
    assert settings["AZURE_CLIENT_ID"] == "from-env"
    assert settings["SNAPSHOT_TABLE"] == "FromEnv"
    assert settings["X"] == "extra"
    assert "PATH" not in settings
