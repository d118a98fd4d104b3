"""The local Functions host over HTTP: routing, keys, concurrency, timers and the admin trigger."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from availability.errors import Unauthorized
from devtools.host import compile_route, resolve_setting_refs
from devtools.stack import Stack

pytestmark = pytest.mark.subprocess  # starts processes of its own

APP_DIR = Path(__file__).parent / "app"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    state = tmp_path_factory.mktemp("host")
    timer_log = state / "timers.log"
    timer_log.touch()
    stack = Stack(local_settings={}, state_dir=state, quiet=True,
                  environ={**__import__("os").environ, "TIMER_LOG": str(timer_log),
                           "TICK_SCHEDULE": "*/1 * * * * *", "BARRIER_PARTIES": "4"})
    started = stack.start_host(port=0, app_dir=APP_DIR)
    started.timer_log = timer_log
    yield started
    stack.stop()
    assert not started.process.alive()


def get(host, path, key=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if key:
        headers["x-functions-key"] = key
    return requests.request(kwargs.pop("method", "GET"), host.url + path, headers=headers, timeout=10, **kwargs)


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
        response = get(host, path, host.function_key)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
        assert response.headers["x-correlation-id"]


@pytest.mark.parametrize("method", ["DELETE", "PUT", "HEAD", "OPTIONS", "TRACE", "PROPFIND"])
def test_methods_not_declared_get_405_with_the_allowed_ones(host, method):
    response = get(host, "/api/items/1", host.function_key, method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
    assert response.headers["Content-Type"].startswith("application/json")
    if method != "HEAD":
        assert response.json()["error"]["code"] == "method_not_allowed"
    echo = get(host, "/api/echo/a", method=method)  # before the key: nothing of the function runs
    assert (echo.status_code, echo.headers["Allow"]) == (405, "GET, POST")


def test_what_http_server_refuses_itself_keeps_the_error_shape(host):
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(host.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as raw:
        raw.sendall(b"GET /api/health HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
        chunks = []
        while chunk := raw.recv(65536):  # the host closes the connection after such an answer
            chunks.append(chunk)
        answer = b"".join(chunks).decode("latin-1")
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 431") and "application/json" in head
    assert '"invalid_request"' in body and "<html" not in body.lower()


def test_a_refused_request_keeps_its_connection_unless_its_body_is_left_unread(host):
    import socket
    from urllib.parse import urlsplit

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
        assert refused["status"] == "405" and "connection" not in refused
        assert answer(b"GET /api/echo/a HTTP/1.1\r\nHost: x\r\n\r\n")["status"] == "401"
        # A body left unread (refused before it is read): the host says it closes, then closes.
        closing = answer(b"POST /api/echo/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        assert closing["status"] == "401" and closing["connection"] == "close"
        assert reader.read() == b""


def test_keys_are_enforced_like_azure(host):
    missing = get(host, "/api/echo/a")
    assert missing.status_code == 401
    assert missing.json() == Unauthorized().to_body()  # the app's own words, not the host's
    assert missing.headers["x-correlation-id"]
    assert get(host, "/api/echo/a", "wrong-key").status_code == 401
    assert get(host, "/api/echo/a", host.function_key).status_code == 200
    assert get(host, f"/api/echo/a?code={host.function_key}").status_code == 200
    assert get(host, "/api/echo/a?code=nope").status_code == 401
    # the master key is a host key: it opens function-level endpoints too
    assert get(host, "/api/echo/a", host.master_key).status_code == 200
    # admin level needs the master key
    assert get(host, "/api/admin-only", host.function_key).status_code == 401
    assert get(host, "/api/admin-only", host.master_key).text == "admin"
    # anonymous endpoints need none
    assert get(host, "/api/health").status_code == 200


def test_async_functions_are_awaited(host):
    response = get(host, "/api/async", host.function_key)
    assert (response.status_code, response.text) == (201, "async")


def test_requests_are_served_concurrently(host):
    # The function waits on a barrier of 4: it only completes if 4 requests are in flight at once.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: get(host, "/api/barrier", host.function_key), range(4)))
    assert [a.text for a in answers] == ["together"] * 4


def test_a_failing_function_gives_500_without_a_trace(host):
    response = get(host, "/api/boom", host.function_key)
    assert response.status_code == 500
    assert "RuntimeError" not in response.text and "Traceback" not in response.text


def test_one_log_line_per_request_without_the_key(host):
    get(host, f"/api/echo/logged?code={host.function_key}")
    lines = [l for l in host.process.log_path.read_text().splitlines() if "/api/echo/logged" in l]
    assert len(lines) == 1
    assert "GET /api/echo/logged 200" in lines[0] and "function=echo" in lines[0]
    assert host.function_key not in host.process.log_path.read_text()


def test_timer_runs_on_its_schedule_with_the_setting_resolved(host):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and host.timer_log.read_text().count("tick") < 2:
        time.sleep(0.2)
    assert host.timer_log.read_text().count("tick") >= 2


def test_admin_trigger_runs_a_timer_function(host):
    url = "/admin/functions/manual"
    assert get(host, url, host.function_key, method="POST", json={"input": ""}).status_code == 401
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
    assert "manual past_due=False" in host.timer_log.read_text()
    assert get(host, "/admin/functions/unknown", host.master_key, method="POST", json={}).status_code == 404


def test_route_templates():
    assert compile_route("a/{b}").fullmatch("/a/x").group("b") == "x"
    assert compile_route("a/{b?}").fullmatch("/a") is not None
    assert compile_route("files/{*path}").fullmatch("/files/x/y").group("path") == "x/y"
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
        "from devtools.stack import Stack\n"
        f"stack = Stack(state_dir=Path({str(tmp_path)!r}), quiet=True)\n"
        "stack.start_sandbox()\n"
        "stack.start_azurite()\n"
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
