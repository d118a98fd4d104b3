"""Change subscriptions over the wire: local hosts, the sandbox (moving its clock across openings and lunch
breaks) and Azurite, with a webhook receiver on loopback in this process.

The hosts' timers are quiet: each test runs `notify_subscribers` (and the snapshot timer) by hand with
`POST /admin/functions/{name}`, as Azure allows, and waits for the run to end. The sandbox clock is moved to a few
seconds before the office queue opens, so a run waits for the opening (as every run does for a transition due
before the next) instead of the test waiting real minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.sandbox_client import SandboxControl
from devtools.stack import ROOT, Stack, free_port
from tests.conftest import TEST_LOGS, Gateway
from tests.days import FUTURE, PAST, WEEKDAYS, at, sandbox_day

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "notifications.toml"
OFFICE = "22222222-0000-4000-8000-000000000131"  # office hours 08:00-18:00 UTC, every day
WEB_CHAT = "22222222-0000-4000-8000-000000000132"  # open around the clock, nobody free 12:00-13:00 UTC
OFFICE_QUEUE = "11111111-0000-4000-8000-000000000131"
QUIET = "0 0 0 1 1 *"  # once a year: timers run only when a test asks


# ------------------------------------------------------------------------------------------ the receiver


@dataclass
class Delivery:
    at: float  # time.time() when it arrived
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["x-availability-delivery"]

    def signed_with(self, secret: str) -> bool:
        """Both signatures hold: the body's, and the one over the time it was sent, its id and the body."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", self.headers["x-availability-signature-timed"])
        assert match, self.headers["x-availability-signature-timed"]
        signed = f"{match[1]}.{self.id}.".encode() + self.body
        timed = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return (hmac.compare_digest(self.headers["x-availability-signature"], expected)
                and hmac.compare_digest(match[2], timed) and abs(int(match[1]) - self.at) <= 5)


class Receiver:
    """A webhook receiver on loopback: records every POST by path; answers as scripted (then 200)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: dict[str, list[Delivery]] = {}
        self.scripts: dict[str, list] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                name = self.path.split("?")[0].strip("/")
                with receiver.lock:
                    receiver.received.setdefault(name, []).append(
                        Delivery(time.time(), {k.lower(): v for k, v in self.headers.items()}, body))
                    script = receiver.scripts.get(name) or []
                    answer = script.pop(0) if script else 200
                try:
                    if answer == "hang":
                        time.sleep(10)
                        answer = 200
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender is gone (killed): nothing to answer
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def endpoint(self, *script) -> tuple[str, str]:
        """A fresh path (name, URL) answering `script` in order (a status, or "hang"), then 200."""
        name = "hook-" + uuid.uuid4().hex
        self.scripts[name] = list(script)
        return name, f"{self.base}/{name}?sig=not-a-real-signature"

    def deliveries(self, name: str) -> list[Delivery]:
        with self.lock:
            return list(self.received.get(name, []))

    def wait_for(self, name: str, count: int, timeout: float = 100) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.deliveries(name)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} deliveries expected on {name}, got {len(self.deliveries(name))}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HostileReceiver:
    """A receiver on loopback that takes the request, then answers as hostile ones do: `trickle` sends a status
    line and headers a byte a second, without end; `stream` sends a 200 and a chunked body without end."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.requests: dict[str, float] = {}  # path -> when its request arrived
        self.closed: dict[str, tuple[float, int]] = {}  # path -> when the app closed, bytes sent until then
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, mode: str) -> tuple[str, str]:
        name = f"{mode}-{uuid.uuid4().hex}"
        return name, f"http://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            name = request.split(b" ", 2)[1].decode().strip("/")
            with self.lock:
                self.requests[name] = time.time()
            sent = 0
            try:
                if name.startswith("trickle"):
                    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                        connection.sendall(bytes([byte]))
                        sent += 1
                        time.sleep(1)
                else:
                    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    connection.sendall(head)
                    sent += len(head)
                    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
                    while True:
                        connection.sendall(chunk)
                        sent += len(chunk)
                        time.sleep(0.001)
            except OSError:  # the app closed the connection
                with self.lock:
                    self.closed[name] = (time.time(), sent)

    def close(self) -> None:
        self.listener.close()


# -------------------------------------------------------------------------------------------- fixtures


def started_stack(tmp_path_factory, scenario: Path, name: str) -> Stack:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_", "NOTIFY_", "SUBSCRIPTIONS_"))}
    stack = Stack(scenario=scenario, state_dir=tmp_path_factory.mktemp(name),
                  log_dir=TEST_LOGS / name, environ=environ, quiet=True)
    try:
        stack.start_sandbox()
        stack.start_azurite(free_port())
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture(scope="module")
def notify_stack(tmp_path_factory):
    """A sandbox playing the scenario above (its clock is this module's to move) and an Azurite."""
    stack = started_stack(tmp_path_factory, SCENARIO, "notifications")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def control(notify_stack) -> SandboxControl:
    return SandboxControl(notify_stack.sandbox["url"], notify_stack.sandbox["caBundle"])


@pytest.fixture(scope="module")
def receiver():
    started = Receiver()
    yield started
    started.close()


@pytest.fixture
def host(notify_stack, control):
    """Start a host of the app with its own tables (or the tables given), timers quiet; settings as kwargs."""
    started = []

    def start(**settings) -> Gateway:
        tables = {"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}",
                  "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:12]}",
                  "SNAPSHOT_TABLE": f"Snapshots{uuid.uuid4().hex[:12]}"}
        given = {"SNAPSHOT_SCHEDULE": QUIET, "NOTIFY_SCHEDULE": QUIET, **tables,
                 **{k: str(v) for k, v in settings.items()}}
        host = notify_stack.start_host(port=0, extra_settings=given, name=f"notify-{uuid.uuid4().hex[:6]}")
        started.append(host)
        gateway = Gateway(host)
        # A first check: the token and the secret are fetched now, not while a test races the sandbox clock.
        warm_up = {"workstreamId": WEB_CHAT, "contextItems": {"WarmUp": uuid.uuid4().hex}}  # a key no test shares
        assert gateway.post("availability/before-conversation", warm_up).status_code == 200
        return gateway

    yield start
    for host in started:
        host.process.stop()
    control.reset()


@pytest.fixture
def day(side) -> date:
    """A day for the sandbox clock well before today, then one well after (the test runs once with each)."""
    return sandbox_day(side)


@pytest.fixture(scope="module")
def api(notify_stack) -> Iterator[Gateway]:
    """One host for the tests that only send requests (none of them makes a subscription)."""
    started = notify_stack.start_host(port=0, name="notify-api", extra_settings={
        "SNAPSHOT_SCHEDULE": QUIET, "NOTIFY_SCHEDULE": QUIET,
        "SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}"})
    yield Gateway(started)
    started.process.stop()


def run_timer(gateway: Gateway, name: str = "notify_subscribers", timeout: float = 150) -> dict:
    """Run a timer by hand as Azure does (master key, 202), then wait until the host says it ended."""
    admin = {"x-functions-key": gateway.master_key}
    status_url = f"{gateway.url}/admin/functions/{name}/status"
    before = requests.get(status_url, headers=admin, timeout=10).json()["invocations"]
    response = requests.post(f"{gateway.url}/admin/functions/{name}", json={"input": ""}, headers=admin, timeout=10)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(status_url, headers=admin, timeout=10).json()
        if not status["running"] and status["invocations"] > before:
            assert status["lastResult"] == "Succeeded", gateway.log()[-3000:]
            return status
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish")


def master(gateway: Gateway) -> dict[str, str]:
    """The headers of a request with the master key (listing every subscription needs it)."""
    return {"x-functions-key": gateway.master_key}


def subscribe(gateway: Gateway, url: str, workstream: str = OFFICE, **body) -> dict:
    response = gateway.post("subscriptions", {"callbackUrl": url, "workstreamId": workstream, **body})
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["Location"] == f"{gateway.url}/api/subscriptions/{made['id']}"
    return made


def before_opening(control: SandboxControl, day: date, seconds: float = 5) -> float:
    """Set the org's clock `seconds` before the office opens on `day`; returns when it opens, on this machine's
    clock."""
    control.set_clock(at(day, f"07:59:{60 - seconds:02.0f}"))
    return time.time() + seconds


def actions(control: SandboxControl) -> int:
    return sum(control.stats()["actions"].values())


# ---------------------------------------------------------------------------------------------- tests


def test_a_closed_queue_opening_is_told_once_within_90_s_with_a_valid_signature(host, control, receiver, day):
    gateway = host()
    name, url = receiver.endpoint()
    opens_at = before_opening(control, day, 5)
    made = subscribe(gateway, url, language="fr", timeZone="Europe/Paris")
    assert made["status"] == "closed" and made["notifyOn"] == "status" and len(made["secret"]) >= 32

    run_timer(gateway)  # the run waits for the opening it knows of, then asks
    [delivery] = receiver.wait_for(name, 1)
    assert delivery.at - opens_at <= 90
    assert delivery.signed_with(made["secret"])
    assert not delivery.signed_with(made["secret"] + "x")
    uuid.UUID(delivery.id)  # a UUID, else ValueError
    assert delivery.headers["content-type"].startswith("application/json")
    change = delivery.json
    assert change["subscriptionId"] == made["id"] and change["workstreamId"] == OFFICE
    assert (change["previousStatus"], change["status"], change["canEscalate"]) == ("closed", "available", True)
    assert change["changedAt"] == at(day, "08:00:00")  # the opening itself, not when it was seen
    answer = change["availability"]
    assert answer["queueId"] == OFFICE_QUEUE and answer["withinOperatingHours"] and answer["language"] == "fr"
    assert answer["nextTransitionTime"] == at(day, "18:00:00")

    run_timer(gateway)  # nothing new: nothing more
    time.sleep(0.5)
    assert len(receiver.deliveries(name)) == 1
    shown = gateway.get(f"subscriptions/{made['id']}").json()
    assert shown["lastDeliveryStatus"] == "delivered" and shown["lastResponseStatus"] == 200
    assert shown["consecutiveFailures"] == 0 and shown["enabled"] is True and shown["lastDeliveryAt"]
    assert made["secret"] not in gateway.log() and name not in gateway.log()


def test_a_staffing_change_is_told_after_a_snapshot_run_without_a_call_of_its_own(host, control, receiver, day):
    gateway = host(SNAPSHOT_WORKSTREAMS=WEB_CHAT)
    name, url = receiver.endpoint()
    control.set_clock(at(day, "11:58:00"))
    made = subscribe(gateway, url, WEB_CHAT)
    assert made["status"] == "available"

    control.set_clock(at(day, "12:00:30"))  # lunch: nobody free, and no operating-hours transition to expect
    calls = actions(control)
    run_timer(gateway, "snapshot_availability")
    assert actions(control) == calls + 1
    run_timer(gateway)
    [delivery] = receiver.wait_for(name, 1)
    assert (delivery.json["previousStatus"], delivery.json["status"]) == ("available", "busy")
    assert delivery.json["availability"]["availableRepresentatives"] == 0
    assert delivery.signed_with(made["secret"])
    assert actions(control) == calls + 1  # the run used the snapshot's answer


def test_a_deleted_subscription_is_told_nothing(host, control, receiver):
    gateway = host()
    kept_name, kept_url = receiver.endpoint()
    gone_name, gone_url = receiver.endpoint()
    before_opening(control, PAST, 4)
    kept = subscribe(gateway, kept_url)
    gone = subscribe(gateway, gone_url)
    assert gateway.session.delete(f"{gateway.url}/api/subscriptions/{gone['id']}", timeout=10).status_code == 204
    again = gateway.session.delete(f"{gateway.url}/api/subscriptions/{gone['id']}", timeout=10)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"
    assert gateway.get(f"subscriptions/{gone['id']}").status_code == 404

    run_timer(gateway)
    receiver.wait_for(kept_name, 1)
    assert receiver.deliveries(gone_name) == []
    listed = gateway.get("subscriptions", headers=master(gateway)).json()["subscriptions"]
    assert [s["id"] for s in listed] == [kept["id"]]


def test_the_location_is_absolute_on_the_host_asked_and_a_delete_there_with_the_key_ends_it(host, receiver):
    """The connector's platform unsubscribes by sending DELETE to exactly the 201's Location, with the connection's
    key only when it is on the connector's host: so the Location is the URL the request arrived on."""
    gateway = host()
    _, url = receiver.endpoint()
    port = gateway.url.rsplit(":", 1)[1]
    asked = requests.post(f"http://localhost:{port}/api/subscriptions?code={gateway.function_key}", timeout=30,
                          json={"callbackUrl": url, "workstreamId": OFFICE})
    assert asked.status_code == 201, asked.text
    location = asked.headers["Location"]
    assert location == f"http://localhost:{port}/api/subscriptions/{asked.json()['id']}"  # no key in it
    assert requests.delete(location, timeout=10).status_code == 401  # the key is still needed there
    assert requests.delete(location, headers={"x-functions-key": gateway.function_key}, timeout=10).status_code == 204
    assert gateway.get(f"subscriptions/{asked.json()['id']}").status_code == 404
    # Behind Azure's front end, the scheme and host it was asked on.
    behind = gateway.post("subscriptions", {"callbackUrl": url, "workstreamId": OFFICE}, headers={
        "X-Forwarded-Proto": "https", "DISGUISED-HOST": "contoso-availability.azurewebsites.net"})
    assert behind.headers["Location"] == ("https://contoso-availability.azurewebsites.net/api/subscriptions/"
                                          f"{behind.json()['id']}")


def test_a_failed_delivery_is_retried_with_the_same_id_and_no_more_once_taken(host, control, receiver):
    gateway = host()
    name, url = receiver.endpoint(500)
    before_opening(control, FUTURE, 3)
    made = subscribe(gateway, url)
    run_timer(gateway)
    first, second = receiver.wait_for(name, 2)
    assert first.id == second.id and first.body == second.body
    assert first.signed_with(made["secret"]) and second.signed_with(made["secret"])
    assert 1.5 <= second.at - first.at <= 15  # back-off, within the same run
    run_timer(gateway)
    time.sleep(0.5)
    assert len(receiver.deliveries(name)) == 2
    shown = gateway.get(f"subscriptions/{made['id']}").json()
    assert (shown["lastDeliveryStatus"], shown["consecutiveFailures"]) == ("delivered", 0)


def test_a_410_deletes_the_subscription(host, control, receiver):
    gateway = host()
    name, url = receiver.endpoint(410)
    before_opening(control, PAST, 3)
    made = subscribe(gateway, url)
    run_timer(gateway)
    assert len(receiver.wait_for(name, 1)) == 1
    assert gateway.get(f"subscriptions/{made['id']}").status_code == 404
    assert gateway.get("subscriptions", headers=master(gateway)).json() == {"subscriptions": []}


def test_a_delivery_cut_off_by_sigkill_is_sent_again_with_its_id_by_the_next_run(host, control, receiver):
    tables = {"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}",
              "AVAILABILITY_STATE_TABLE": f"State{uuid.uuid4().hex[:12]}"}
    first_instance = host(**tables)
    name, url = receiver.endpoint("hang")
    before_opening(control, FUTURE, 3)
    made = subscribe(first_instance, url)
    admin = {"x-functions-key": first_instance.master_key}
    requests.post(f"{first_instance.url}/admin/functions/notify_subscribers", json={}, headers=admin, timeout=10)
    [cut] = receiver.wait_for(name, 1)
    first_instance.host.process.popen.kill()  # SIGKILL while the callback is being called
    first_instance.host.process.popen.wait(10)

    second_instance = host(**tables)
    time.sleep(max(0.0, cut.at + 31 - time.time()))  # the dead run's hold on the change lapses
    run_timer(second_instance)
    cut_again, = receiver.wait_for(name, 2)[1:]
    assert (cut_again.id, cut_again.body) == (cut.id, cut.body)
    assert cut_again.signed_with(made["secret"])
    run_timer(second_instance)
    time.sleep(0.5)
    assert len(receiver.deliveries(name)) == 2


def test_watching_costs_one_call_per_distinct_check_whatever_the_subscription_count(host, control, receiver):
    gateway = host()
    before_opening(control, PAST, 6)
    checks: list[dict[str, Any]] = [{}, {"contextItems": {"TestCase": "a"}},
                                    {"contextItems": {"TestCase": "b", "Tier": 2}}]
    names = []
    for check in checks:
        for _ in range(3):
            name, url = receiver.endpoint()
            names.append(name)
            subscribe(gateway, url, **check)
    calls = actions(control)
    run_timer(gateway)
    for name in names:
        assert [d.json["status"] for d in receiver.wait_for(name, 1)] == ["available"]
    assert actions(control) - calls == len(checks)
    run_timer(gateway)  # within the minute: no call at all, and nothing new to tell
    assert actions(control) - calls == len(checks)
    assert all(len(receiver.deliveries(name)) == 1 for name in names)


def test_callbacks_must_be_https_to_public_addresses_without_the_setting(host, receiver):
    gateway = host(NOTIFY_ALLOW_PRIVATE_CALLBACKS="false")
    port = receiver.server.server_address[1]
    for url in ("https://10.0.0.1/hooks/availability", "http://hooks.contoso.com/availability",
                f"https://127.0.0.1:{port}/hook", "https://localhost/hook", "https://169.254.169.254/latest",
                "https://192.168.1.20/hook", "https://[fd00:ec2::254]/hook", "ftp://hooks.contoso.com/x",
                "https://user:pass@hooks.contoso.com/x", "https://hooks.contoso.com/x#part", "/relative"):
        response = gateway.post("subscriptions", {"callbackUrl": url, "workstreamId": OFFICE})
        assert response.status_code == 400, (url, response.text)
        error = response.json()["error"]
        assert error["target"] == "callbackUrl" and url not in error["message"], url
    # A name that does not resolve and one that resolves to loopback get one answer: no oracle of internal names.
    unknown, internal = (gateway.post("subscriptions", {"callbackUrl": url, "workstreamId": OFFICE}).json()["error"]
                         for url in ("https://no-such-host.invalid/hook", "https://localhost/hook"))
    assert unknown == internal
    port = gateway.post("subscriptions", {"callbackUrl": "https://hooks.contoso.com:8443/x", "workstreamId": OFFICE})
    assert port.status_code == 400 and "port 443" in port.json()["error"]["message"]
    assert gateway.get("subscriptions", headers=master(gateway)).json() == {"subscriptions": []}


def test_the_guard_holds_at_delivery_time_too(host, control, receiver):
    # Made where loopback callbacks are allowed, delivered by an app where they are not (as if the name now
    # resolved there): refused, counted as a failure, nothing sent.
    tables = {"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}"}
    name, url = receiver.endpoint()
    before_opening(control, FUTURE, 3)
    made = subscribe(host(**tables), url)
    strict = host(NOTIFY_ALLOW_PRIVATE_CALLBACKS="false", **tables)
    run_timer(strict)
    shown = strict.get(f"subscriptions/{made['id']}").json()
    assert (shown["lastDeliveryStatus"], shown["consecutiveFailures"], shown["lastResponseStatus"]) == (
        "failed", 1, None)
    assert receiver.deliveries(name) == []


def test_subscriptions_list_and_get_never_show_the_callback_url_or_the_secret(host, control, receiver):
    gateway = host()
    name, url = receiver.endpoint()
    made = subscribe(gateway, url, WEB_CHAT, notifyOn="canEscalate", contextItems={"Language": "fr"})
    assert set(made) == {"id", "workstreamId", "notifyOn", "createdAt", "status", "secret"}
    assert made["notifyOn"] == "canEscalate" and made["workstreamId"] == WEB_CHAT
    listed = gateway.get("subscriptions", headers=master(gateway))
    one = gateway.get(f"subscriptions/{made['id']}")
    for response in (listed, one):
        assert response.status_code == 200
        assert made["secret"] not in response.text and name not in response.text and "sig=" not in response.text
    assert listed.json()["subscriptions"] == [one.json()]
    assert one.json() == {"id": made["id"], "workstreamId": WEB_CHAT, "notifyOn": "canEscalate",
                          "createdAt": made["createdAt"], "callbackHost": "127.0.0.1", "lastDeliveryAt": None,
                          "lastDeliveryStatus": None, "lastResponseStatus": None, "consecutiveFailures": 0,
                          "enabled": True}
    for missing in (str(uuid.uuid4()), "not-a-guid"):
        response = gateway.get(f"subscriptions/{missing}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_listing_every_subscription_needs_the_master_key_while_its_id_opens_one_with_any_key(host, receiver):
    """Keys cannot be told apart, so the id (unguessable, shown only to whoever made it) is what opens one
    subscription; listing them all, ids included, is for the master key only."""
    gateway = host()
    _, url = receiver.endpoint()
    made = subscribe(gateway, url)
    refused = gateway.get("subscriptions")  # the function key
    assert refused.status_code == 401 and refused.content == b""  # the host's own answer, before the app
    assert "x-correlation-id" not in refused.headers
    assert requests.get(f"{gateway.url}/api/subscriptions?code={gateway.function_key}", timeout=10).status_code == 401
    listed = gateway.get("subscriptions", headers=master(gateway))
    assert [s["id"] for s in listed.json()["subscriptions"]] == [made["id"]]
    assert gateway.get(f"subscriptions/{made['id']}").json()["id"] == made["id"]
    assert gateway.get(f"subscriptions/{uuid.uuid4()}").status_code == 404
    assert gateway.session.delete(f"{gateway.url}/api/subscriptions/{made['id']}", timeout=10).status_code == 204
    assert gateway.get("subscriptions", headers=master(gateway)).json() == {"subscriptions": []}


def test_private_callbacks_are_refused_in_azure_by_the_subscriptions_and_the_timer_alone(host, receiver):
    """One app setting must not open callbacks to the metadata endpoint and the private network in Azure."""
    gateway = host(WEBSITE_INSTANCE_ID="a1b2c3d4e5f6", NOTIFY_ALLOW_PRIVATE_CALLBACKS="true")  # checks answer 200
    _, url = receiver.endpoint()
    for response in (gateway.post("subscriptions", {"callbackUrl": url, "workstreamId": OFFICE}),
                     gateway.get(f"subscriptions/{uuid.uuid4()}"),
                     gateway.get("subscriptions", headers=master(gateway))):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "configuration_error"
        assert "NOTIFY_ALLOW_PRIVATE_CALLBACKS" in response.json()["error"]["message"]
    admin = {"x-functions-key": gateway.master_key}
    status_url = f"{gateway.url}/admin/functions/notify_subscribers/status"
    assert requests.post(f"{gateway.url}/admin/functions/notify_subscribers", json={"input": ""}, headers=admin,
                         timeout=10).status_code == 202
    deadline, status = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        status = requests.get(status_url, headers=admin, timeout=10).json()
        if status["invocations"] and not status["running"]:
            break
        time.sleep(0.1)
    assert status["lastResult"] != "Succeeded" and "NOTIFY_ALLOW_PRIVATE_CALLBACKS" in gateway.log()
    assert gateway.post("availability/before-conversation", {"workstreamId": WEB_CHAT}).status_code == 200
    # In Azure without the setting, subscriptions work (and loopback callbacks are refused as ever).
    strict = host(WEBSITE_INSTANCE_ID="a1b2c3d4e5f6", NOTIFY_ALLOW_PRIVATE_CALLBACKS="false")
    refused = strict.post("subscriptions", {"callbackUrl": url, "workstreamId": OFFICE})
    assert refused.status_code == 400 and refused.json()["error"]["target"] == "callbackUrl"


def test_the_private_callbacks_setting_is_refused_where_the_app_runs_in_azure():
    from availability.app import App
    from availability.errors import ConfigurationError
    from availability.settings import load_settings

    local = load_settings({"NOTIFY_ALLOW_PRIVATE_CALLBACKS": "true"})
    assert local.private_callbacks() is True
    assert load_settings({"WEBSITE_INSTANCE_ID": "a1b2", "NOTIFY_ALLOW_PRIVATE_CALLBACKS": "false"}
                         ).private_callbacks() is False
    in_azure = load_settings({"WEBSITE_INSTANCE_ID": "a1b2", "NOTIFY_ALLOW_PRIVATE_CALLBACKS": "true"})
    for part in ("subscriptions", "notifier"):
        with pytest.raises(ConfigurationError) as refused:
            getattr(App(in_azure), part)
        assert refused.value.setting == "NOTIFY_ALLOW_PRIVATE_CALLBACKS"
        assert "NOTIFY_ALLOW_PRIVATE_CALLBACKS" in refused.value.message


@pytest.mark.parametrize("body, target", [
    ({"workstreamId": OFFICE}, "callbackUrl"),
    ({"callbackUrl": "http://127.0.0.1:9/x"}, "workstreamId"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": "office"}, "workstreamId"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "notifyOn": "everything"}, "notifyOn"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "contextItems": {"Tier": 1.5}},
     "contextItems.Tier"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "language": "fr_FR"}, "language"),
    ({"callbackUrl": "http://127.0.0.1:9/" + "x" * 2048, "workstreamId": OFFICE}, "callbackUrl"),
    ({"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": OFFICE, "secret": "mine"}, "secret"),
])
def test_a_malformed_subscription_is_a_400_naming_the_field(api, body, target):
    response = api.post("subscriptions", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["target"] == target


def test_an_unknown_workstream_is_a_404_and_makes_no_subscription(host):
    gateway = host()
    response = gateway.post("subscriptions", {"callbackUrl": "http://127.0.0.1:9/x",
                                              "workstreamId": str(uuid.uuid4())})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert gateway.get("subscriptions", headers=master(gateway)).json() == {"subscriptions": []}


def test_a_workstream_takes_exactly_the_documented_number_of_subscriptions_however_many_are_made_at_once(
        host, notify_stack):
    from concurrent.futures import ThreadPoolExecutor

    from availability.schemas import MAX_SUBSCRIPTIONS_PER_WORKSTREAM as MOST
    from devtools.sandbox_client import sandbox_app

    table = f"Subscriptions{uuid.uuid4().hex[:12]}"
    gateway = host(SUBSCRIPTIONS_TABLE=table)
    body = {"callbackUrl": "http://127.0.0.1:9/x", "workstreamId": WEB_CHAT}
    headers = {"x-functions-key": gateway.function_key}

    def create(_):
        return requests.post(f"{gateway.url}/api/subscriptions", json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(create, range(MOST + 30)))
    assert sorted(a.status_code for a in answers) == [201] * MOST + [400] * 30, [a.text for a in answers][-3:]
    refused = next(a.json()["error"] for a in answers if a.status_code == 400)
    assert refused["target"] == "workstreamId" and str(MOST) in refused["message"]
    made = {a.json()["id"] for a in answers if a.status_code == 201}
    listed = gateway.get("subscriptions", headers=master(gateway)).json()["subscriptions"]
    assert {s["id"] for s in listed} == made  # every one accepted is kept, nothing of a refused one is left
    app = sandbox_app(notify_stack.app_settings({"SUBSCRIPTIONS_TABLE": table}))
    try:
        assert app.subscriptions.count(WEB_CHAT) == MOST
        one = next(iter(made))
        assert gateway.session.delete(f"{gateway.url}/api/subscriptions/{one}", timeout=10).status_code == 204
        assert app.subscriptions.count(WEB_CHAT) == MOST - 1
        assert create(0).status_code == 201 and create(0).status_code == 400  # room for one again, no more
        assert gateway.post("subscriptions", {**body, "workstreamId": OFFICE}).status_code == 201  # per workstream
        assert app.subscriptions.count(WEB_CHAT) == MOST and app.subscriptions.count(OFFICE) == 1
    finally:
        app.close()


def test_deliveries_are_counted_in_the_contract_metric(host, control, receiver):
    control.reset()  # the telemetry receiver's counts start from nothing
    gateway = host()
    name, url = receiver.endpoint(503)
    before_opening(control, PAST, 3)
    subscribe(gateway, url)
    run_timer(gateway)
    receiver.wait_for(name, 2)
    deadline, seen = time.monotonic() + 10, {}
    while time.monotonic() < deadline:  # the host exports every second
        seen = control.session.get(f"{control.url}/_sandbox/telemetry", params={"attributes": "true"},
                                   verify=control.ca_bundle, timeout=10).json()
        if seen["metrics"].get("availability.notifications.deliveries") == 2:
            break
        time.sleep(0.2)
    assert seen["metrics"].get("availability.notifications.deliveries") == 2, seen["metrics"]  # retried, delivered
    assert {"retried", "delivered"} <= set(seen["attributes"]["result"])
    assert receiver.base not in repr(seen["attributes"]) and name not in repr(seen["attributes"])


def test_can_escalate_subscribers_hear_of_escalation_changes_only(host, control, receiver, day):
    gateway = host()
    status_name, status_url = receiver.endpoint()
    escalation_name, escalation_url = receiver.endpoint()
    control.set_clock(at(day, "17:59:56"))  # the office closes at 18:00
    subscribe(gateway, status_url)
    made = subscribe(gateway, escalation_url, notifyOn="canEscalate")
    assert made["status"] == "available"
    run_timer(gateway)
    [by_status] = receiver.wait_for(status_name, 1)
    [by_escalation] = receiver.wait_for(escalation_name, 1)
    assert (by_status.json["previousStatus"], by_status.json["status"]) == ("available", "closed")
    assert (by_escalation.json["previousStatus"], by_escalation.json["status"],
            by_escalation.json["canEscalate"]) == ("available", "closed", False)
    assert by_escalation.json["changedAt"] == at(day, "18:00:00")


def other_side(day: date) -> date:
    """The day on the other side of today from `day`."""
    return FUTURE if day < datetime.now(UTC).date() else PAST


def test_a_subscription_in_place_hears_of_an_opening_after_the_org_clock_moves_to_just_before_it(
        host, control, receiver, day):
    """The watch's answer came when the org's clock was on another day: the run reads the org's clock as it is now,
    asks at once (the queue is closed now) and again at the opening, which it places by that clock."""
    gateway = host()
    name, url = receiver.endpoint()
    control.set_clock(at(other_side(day), "10:00:00"))
    made = subscribe(gateway, url)
    assert made["status"] == "available"
    opens_at = before_opening(control, day, 8)
    run_timer(gateway)
    closed, opened = receiver.wait_for(name, 2)
    assert (closed.json["previousStatus"], closed.json["status"]) == ("available", "closed")
    assert (opened.json["previousStatus"], opened.json["status"]) == ("closed", "available")
    assert opened.json["changedAt"] == at(day, "08:00:00")
    assert opened.at - opens_at <= 15  # at the opening, not a minute (or a snapshot interval) later


@pytest.mark.parametrize("first, then", [(PAST, FUTURE), (FUTURE, PAST)], ids=["past-then-future",
                                                                                 "future-then-past"])
def test_after_the_org_clock_moved_days_a_new_subscription_hears_of_an_opening_as_on_a_fresh_stack(
        host, control, receiver, first, then):
    gateway = host(AVAILABILITY_CACHE_SECONDS=2)
    name, url = receiver.endpoint()
    before_opening(control, first, 4)
    subscribe(gateway, url)
    run_timer(gateway)
    assert receiver.wait_for(name, 1)[0].json["changedAt"] == at(first, "08:00:00")

    opens_at = before_opening(control, then, 10)
    time.sleep(2.5)  # the answer cached before the move lapses: a maker's next step is seconds or minutes later
    again_name, again_url = receiver.endpoint()
    made = subscribe(gateway, again_url)  # the same check: the watch of the first subscription
    assert made["status"] == "closed"
    run_timer(gateway)
    [delivery] = receiver.wait_for(again_name, 1)
    assert (delivery.json["previousStatus"], delivery.json["status"]) == ("closed", "available")
    assert delivery.json["changedAt"] == at(then, "08:00:00")
    assert delivery.at - opens_at <= 15


def stored(store, url: str, check_body: dict, *, failures: int = 0, workstream: str = WEB_CHAT):
    """A subscription written straight to the store, its baseline `closed` an hour ago (WEB_CHAT never closes, so
    a first run tells it a change at once)."""
    from availability.checks import parse_before_conversation
    from availability.notifications.store import Subscription, check_key
    from availability.schemas import MAX_SUBSCRIPTIONS_PER_WORKSTREAM

    now = datetime.now(UTC).replace(microsecond=0)
    return store.insert(Subscription(
        id=str(uuid.uuid4()), workstream_id=workstream, check_body=check_body,
        check_key=check_key(parse_before_conversation({"workstreamId": workstream, **check_body})), notify_on="status",
        language="en", time_zone=None, created_at=now, callback_url=url, secret=uuid.uuid4().hex,
        callback_host="127.0.0.1", seen_status="closed", seen_can_escalate=False, seen_at=now - timedelta(hours=1),
        consecutive_failures=failures), limit=MAX_SUBSCRIPTIONS_PER_WORKSTREAM)


@pytest.fixture
def hostile():
    started = HostileReceiver()
    yield started
    started.close()


def test_hostile_receivers_delay_neither_the_others_deliveries_nor_the_end_of_the_run(notify_stack, receiver,
                                                                                       hostile):
    """More receivers trickling a byte a second than the old pool of senders, and two streaming a body without end:
    the others are told at once, each hostile attempt is cut at its deadline, and the run ends then."""
    from availability.notifications.delivery import ATTEMPT_SECONDS, MAX_FAILURES, CallbackSender
    from availability.notifications.watch import Notifier
    from devtools.sandbox_client import sandbox_app

    app = sandbox_app(notify_stack.app_settings({"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}",
                                                 "AVAILABILITY_SHARED_STATE": "off"}))
    try:
        check = {"contextItems": {"TestCase": uuid.uuid4().hex}}
        normal = [receiver.endpoint()[0] for _ in range(10)]
        for name in normal:
            stored(app.subscriptions, f"{receiver.base}/{name}", check)
        slow = [hostile.url("trickle") for _ in range(20)]
        streams = [hostile.url("stream") for _ in range(2)]
        for _, url in slow + streams:  # one more failure disables them: no retry to wait for
            stored(app.subscriptions, url, check, failures=MAX_FAILURES - 1)
        notifier = Notifier(store=app.subscriptions, service=app.service, sender=CallbackSender(allow_private=True),
                            org_clock=app.org_clock)
        started = time.time()
        summary = notifier.run()
        ended = time.time()
    finally:
        app.close()
    arrivals = [receiver.wait_for(name, 1, timeout=1)[0].at for name in normal]
    assert max(arrivals) - started < ATTEMPT_SECONDS, "the others waited for the hostile receivers"
    assert ended - started < ATTEMPT_SECONDS + 4, f"the run took {ended - started:.1f} s"
    assert (summary.counts["delivered"], summary.counts["failed"]) == (12, 20), summary.line()
    for name, _ in streams:  # the status line, then closed: never drained
        closed_at, sent = hostile.closed[name]
        assert closed_at - hostile.requests[name] < 2 and sent < 4 * 1024 * 1024
    for name, _ in slow:
        assert name in hostile.requests


def test_a_run_writes_the_changes_and_the_attempts_of_many_subscriptions_in_a_few_transactions(notify_stack, receiver):
    """Subscriptions of one watch: their changes are written in one transaction (with the run's hold on them), and
    the attempts' outcomes together, so storage requests do not grow one or two per subscription."""
    from availability.notifications.delivery import CallbackSender
    from availability.notifications.watch import Notifier
    from availability.tables import service_from_connection_string
    from devtools.sandbox_client import sandbox_app

    requests_made = []
    settings = notify_stack.app_settings({"SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}",
                                          "AVAILABILITY_SHARED_STATE": "off"})
    app = sandbox_app(settings, table_service=service_from_connection_string(
        settings["AzureWebJobsStorage"], raw_response_hook=lambda response: requests_made.append(
            (response.http_request.method, response.http_response.status_code))))
    try:
        check = {"contextItems": {"TestCase": uuid.uuid4().hex}}
        names = [receiver.endpoint()[0] for _ in range(40)]
        made = [stored(app.subscriptions, f"{receiver.base}/{name}", check) for name in names]
        notifier = Notifier(store=app.subscriptions, service=app.service, sender=CallbackSender(allow_private=True),
                            org_clock=app.org_clock)
        requests_made.clear()
        summary = notifier.run()
        assert summary.counts["delivered"] == 40, summary.line()
        # Reads of the subscriptions and the watches, the watch's row, one transaction for the 40 changes, and
        # the outcomes in a few more (written together within a fraction of a second, so a busy machine may split
        # them further): a handful of requests where one or two per subscription would be 40 to 80.
        writes = [made for made in requests_made if made[0] != "GET"]
        assert len(requests_made) <= 13 and len(writes) <= 10, requests_made
        for subscription, name in zip(made, names, strict=True):
            [delivery] = receiver.wait_for(name, 1, timeout=1)
            assert delivery.signed_with(subscription.secret)
            shown = app.subscriptions.get(subscription.id)
            assert shown is not None
            assert (shown.seen_status, shown.pending, shown.last_delivery_status) == ("available", None, "delivered")
        # A row changed meanwhile: the transaction writes nothing, and the rows are then written one by one.
        first, second = (app.subscriptions.get(made[0].id), app.subscriptions.get(made[1].id))
        assert first is not None and second is not None
        app.subscriptions.save(replace(first, language="fr"))
        assert app.subscriptions.save_all([replace(first, language="de"), replace(second, language="de")]) is None
        first_now, second_now = app.subscriptions.get(first.id), app.subscriptions.get(second.id)
        assert first_now is not None and second_now is not None
        assert (first_now.language, second_now.language) == ("fr", "en")
    finally:
        app.close()


# ------------------------------------------------------------------------------- the local stack's demo


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory):
    from devtools.stack import DEMO_SCENARIO

    stack = started_stack(tmp_path_factory, DEMO_SCENARIO, "notifications-demo")
    yield stack
    stack.stop()


def test_a_flow_shaped_receiver_is_told_when_the_demo_chat_queue_opens(demo_stack, receiver, day):
    """What `dev.py start` gives: the demo's Website chat opens at 08:00 in London; a receiver answering 202 as
    a flow's trigger does hears of it within 90 s, signed."""
    website_chat = "7a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b01"
    control = SandboxControl(demo_stack.sandbox["url"], demo_stack.sandbox["caBundle"])
    host = demo_stack.start_host(port=0, name="notify-demo", extra_settings={
        "SNAPSHOT_SCHEDULE": QUIET, "NOTIFY_SCHEDULE": QUIET,
        "SUBSCRIPTIONS_TABLE": f"Subscriptions{uuid.uuid4().hex[:12]}"})
    try:
        gateway = Gateway(host)
        assert host.app_settings["NOTIFY_ALLOW_PRIVATE_CALLBACKS"] == "true"  # as dev.py start sets it
        warm_up = {"workstreamId": website_chat, "contextItems": {"WarmUp": uuid.uuid4().hex}}
        assert gateway.post("availability/before-conversation", warm_up).status_code == 200
        name, url = receiver.endpoint(202)
        weekday = sandbox_day((day - datetime.now(UTC).date()).days, on=WEEKDAYS)
        control.set_clock(at(weekday, "07:59:55", "Europe/London"))
        opens_at = time.time() + 5
        made = subscribe(gateway, url, website_chat)
        assert made["status"] == "closed"
        run_timer(gateway)
        [delivery] = receiver.wait_for(name, 1)
        assert delivery.at - opens_at <= 90 and delivery.signed_with(made["secret"])
        assert delivery.json["previousStatus"] == "closed" and delivery.json["availability"]["withinOperatingHours"]
    finally:
        host.process.stop()
        control.reset()


# ------------------------------------------------------------------------ the parts, without a stack


def test_the_guard_refuses_every_address_that_is_not_public():
    from availability.notifications.guard import METADATA_ADDRESSES, is_allowed_address

    refused = ["127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
               "fd00:ec2::254", "fe80::1", "fc00::1", "100.64.0.1", "0.0.0.0", "::", "224.0.0.1", "ff02::1",
               "192.0.2.10", "198.18.0.1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "240.0.0.1", "not an address"]
    for address in refused:
        assert not is_allowed_address(address), address
    # IPv6 forms carrying an IPv4 address a translator or a tunnel may deliver to: judged by that address.
    embedded = ["64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "2002:7f00:1::", "2002:a9fe:a9fe::1", "::127.0.0.1",
                "::10.1.2.3", "::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe", "::ffff:7f00:1", "64:ff9b:1::1432:201",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:a9fe:a9fe::1"]
    for address in refused + embedded:
        assert not is_allowed_address(address), address
    assert {str(a) for a in METADATA_ADDRESSES} == {"169.254.169.254", "fd00:ec2::254"}
    for address in ("20.50.2.1", "52.239.152.10", "2603:1000::1", "::ffff:20.50.2.1", "64:ff9b::20.50.2.1",
                    "2002:1432:201::1"):
        assert is_allowed_address(address), address
    assert all(is_allowed_address(address, allow_private=True) for address in refused[:-1] + embedded)


def test_the_ipv4_an_ipv6_address_carries_is_read_in_every_form():
    import ipaddress

    from availability.notifications.guard import embedded_ipv4

    def carried(address):
        return [str(v4) for v4 in embedded_ipv4(ipaddress.IPv6Address(address))]

    assert carried("64:ff9b::a9fe:a9fe") == ["169.254.169.254"]  # NAT64
    assert carried("2002:7f00:1::") == ["127.0.0.1"]  # 6to4
    assert carried("::127.0.0.1") == ["127.0.0.1"]  # compatible
    assert carried("::ffff:0:7f00:1") == ["127.0.0.1"]  # translated
    assert carried("::ffff:10.0.0.1") == ["10.0.0.1"]  # mapped
    assert carried("2001:0:4136:e378:8000:63bf:3fff:fdd2") == ["65.54.227.120", "192.0.2.45"]  # Teredo
    assert carried("2603:1000::1") == []


def test_a_name_resolving_to_a_private_address_is_refused_even_beside_a_public_one():
    from availability.notifications.guard import Callback, CallbackRefused, CallbackUnresolved, resolve

    def resolver(*addresses):
        def lookup(host, port, family, kind):
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, kind, 6, "", (a, port)) for a in addresses]
        return lookup

    callback = Callback.parse("https://hooks.contoso.com/availability")
    assert resolve(callback, resolver=resolver("20.50.2.1")) == ["20.50.2.1"]
    for answer in (("10.1.2.3",), ("20.50.2.1", "169.254.169.254"), ("fd00:ec2::254",)):
        with pytest.raises(CallbackRefused):
            resolve(callback, resolver=resolver(*answer))

    def failing(*_):
        raise OSError("NXDOMAIN")

    with pytest.raises(CallbackUnresolved):
        resolve(callback, resolver=failing)

    def slow(*_):
        time.sleep(1)
        return []

    with pytest.raises(CallbackUnresolved):
        resolve(callback, resolver=slow, timeout=0.1)
    with pytest.raises(CallbackRefused):
        resolve(Callback.parse("http://hooks.contoso.com/x"), resolver=resolver("20.50.2.1"))
    with pytest.raises(CallbackRefused, match="port 443"):  # no other port, so no scan of a host's services
        resolve(Callback.parse("https://hooks.contoso.com:8443/x"), resolver=resolver("20.50.2.1"))
    assert resolve(Callback.parse("https://hooks.contoso.com:443/x"), resolver=resolver("20.50.2.1"))
    assert resolve(Callback.parse("http://hooks.contoso.com:8080/x"), resolver=resolver("10.1.2.3"),
                   allow_private=True) == ["10.1.2.3"]


def test_a_delivery_goes_nowhere_when_the_name_now_resolves_privately():
    """DNS rebinding: public when subscribed, a loopback address at delivery: nothing is sent."""
    from availability.notifications.delivery import CallbackSender
    from availability.notifications.guard import NOT_PUBLIC

    for address in ("127.0.0.1", "64:ff9b::7f00:1"):  # loopback, and loopback through NAT64
        def rebound(host, port_, family, kind, address=address):
            return [(socket.AF_INET6 if ":" in address else socket.AF_INET, kind, 6, "", (address, port_))]

        attempt = CallbackSender(resolver=rebound).post("https://hooks.contoso.com/availability", b"{}",
                                                        secret="s", delivery_id="d")
        assert (attempt.outcome, attempt.status) == ("refused", None) and NOT_PUBLIC in attempt.reason


def test_an_attempt_ends_by_its_deadline_and_reads_no_more_than_the_status_line(hostile, receiver):
    from availability.notifications.delivery import REPLY_BYTES, CallbackSender

    sender = CallbackSender(allow_private=True, attempt_seconds=2.0)
    name, url = hostile.url("trickle")
    started = time.monotonic()
    attempt = sender.post(url, b"{}", secret="s", delivery_id="d")
    assert (attempt.outcome, attempt.status) == ("retry", None)
    assert time.monotonic() - started < 2.5 and name in hostile.requests
    name, url = hostile.url("stream")
    started = time.monotonic()
    attempt = sender.post(url, b"{}", secret="s", delivery_id="d")
    assert (attempt.outcome, attempt.status) == ("delivered", 200) and time.monotonic() - started < 1
    deadline = time.monotonic() + 3
    while name not in hostile.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hostile.closed[name][1] < 4 * 1024 * 1024
    # An interim answer is passed over; what is not HTTP is no answer.
    for reply, outcome in ((b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                            ("delivered", 204)),
                           (b"HTTP/1.0 503 Busy\r\n\r\n", ("retry", 503)),
                           (b"SSH-2.0-OpenSSH_9.6\r\n", ("retry", None)),
                           (b"HTTP/1.1 200 " + b"x" * REPLY_BYTES, ("retry", None))):
        with socket.create_server(("127.0.0.1", 0)) as server:
            def answer(server=server, reply=reply):
                connection, _ = server.accept()
                with connection:
                    connection.recv(65536)
                    connection.sendall(reply)
                    time.sleep(0.5)

            threading.Thread(target=answer, daemon=True).start()
            got = sender.post(f"http://127.0.0.1:{server.getsockname()[1]}/x", b"{}", secret="s", delivery_id="d")
            assert (got.outcome, got.status) == outcome, reply


def raw_post(port: int, headers: dict[str, str] | list[bytes], body: bytes) -> int:
    """POST to loopback `port` with exactly these header lines; the status of the answer."""
    lines = headers if isinstance(headers, list) else [f"{k}: {v}".encode("latin-1") for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(line + b"\r\n" for line in lines)
                           + b"\r\n" + body)
        return int(connection.recv(1024).split(b" ", 2)[1])


@pytest.mark.subprocess
def test_the_docs_receiver_takes_each_change_once_and_refuses_replays_and_malformed_requests(tmp_path):
    from availability.notifications.delivery import CallbackSender, sign, sign_timed

    text = (ROOT / "docs" / "notifications.md").read_text(encoding="utf-8")
    code = text.split("## A receiver that checks the signature", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "8080" in code and "SEEN_MAX = 10_000" in code
    port, secret = free_port(), "the-subscription-secret"
    (tmp_path / "hook.py").write_text(code.replace("8080", str(port)).replace("SEEN_MAX = 10_000", "SEEN_MAX = 2"))
    (tmp_path / "hook-secret.txt").write_text(secret + "\n")
    process = subprocess.Popen([sys.executable, "hook.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", port)) and time.monotonic() < deadline:
            time.sleep(0.05)

        def change(status: str) -> bytes:
            return json.dumps({"previousStatus": "closed", "status": status,
                               "availability": {"message": f"now {status}"}}).encode()

        def signed(body: bytes, delivery: str, at: int, key: str = secret) -> dict[str, str]:
            return {"Content-Length": str(len(body)), "x-availability-delivery": delivery,
                    "x-availability-signature": sign(key, body),
                    "x-availability-signature-timed": sign_timed(key, body, delivery, at)}

        sender = CallbackSender(allow_private=True)
        first, body, now = str(uuid.uuid4()), change("available"), int(time.time())
        attempt = sender.post(f"http://127.0.0.1:{port}/hook", body, secret=secret, delivery_id=first)
        assert (attempt.outcome, attempt.status) == ("delivered", 204)
        assert raw_post(port, signed(body, first, now), body) == 204  # a retry: taken, not told twice
        assert raw_post(port, signed(body, first, now - 600), body) == 401  # a copy sent again later
        assert raw_post(port, {**signed(body, first, now), "x-availability-delivery": str(uuid.uuid4())}, body) == 401
        assert raw_post(port, {k: v for k, v in signed(body, first, now).items()
                               if k != "x-availability-signature-timed"}, body) == 401  # the body's signature alone
        assert raw_post(port, signed(body, first, now, key="another"), body) == 401
        assert raw_post(port, [f"Content-Length: {len(body)}".encode(), b"x-availability-delivery: " + first.encode(),
                               "x-availability-signature-timed: t=\u00e9,v1=\u00e9\u00e8".encode()], body) == 401
        assert raw_post(port, [b"Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n") == 411  # no length
        assert raw_post(port, [b"Content-Length: \xb2"], b"") == 400
        for status in ("busy", "closed"):  # two more ids: the first is forgotten (SEEN_MAX = 2) ...
            other = change(status)
            assert raw_post(port, signed(other, str(uuid.uuid4()), now), other) == 204
        assert raw_post(port, signed(body, first, now), body) == 204  # ... and so told again
        assert raw_post(port, [], b"") == 411  # answered once the one before has printed (one request at a time)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert out.splitlines() == ["closed -> available | now available", "closed -> busy | now busy",
                                "closed -> closed | now closed", "closed -> available | now available"], err


def test_the_signature_is_the_hmac_sha256_of_the_raw_body():
    from availability.notifications.delivery import MAX_FAILURES, backoff, sign, sign_timed

    body = b'{"status":"available"}'
    assert sign("secret", body) == "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    signed = b"1796198402.6b0d5f0e-2c1a-4f4e-9a51-0d2f3c4b5a69." + body
    assert sign_timed("secret", body, "6b0d5f0e-2c1a-4f4e-9a51-0d2f3c4b5a69", 1796198402) == (
        "t=1796198402,v1=" + hmac.new(b"secret", signed, hashlib.sha256).hexdigest())
    assert [backoff(n) for n in range(1, 10)] == [2, 10, 60, 120, 300, 600, 1200, 1800, 3600]
    assert MAX_FAILURES == 10


def test_a_snapshot_row_stands_in_for_an_ask_only_when_it_tells_staffing_alone():
    from availability.answer import Availability
    from availability.notifications.changes import merge_snapshot
    from availability.snapshots import Snapshot

    moment = datetime(2026, 12, 2, 11, 58, tzinfo=UTC)
    answer = Availability(queue_id="q", within_operating_hours=True, representatives_available=True,
                          available_representatives=3, position_in_queue=2, average_wait_seconds=60,
                          next_transition_time=moment + timedelta(hours=6), next_opening_time=None,
                          next_closing_time=None, retrieved_at=moment, org_time=moment + timedelta(seconds=30))
    busy = Availability(queue_id="q", within_operating_hours=True, representatives_available=False,
                        available_representatives=0, position_in_queue=5, average_wait_seconds=600,
                        next_transition_time=None, next_opening_time=None, next_closing_time=None,
                        retrieved_at=moment + timedelta(minutes=3))
    row = Snapshot.of("w", moment + timedelta(minutes=3), busy)
    merged = merge_snapshot(answer, row)
    assert isinstance(merged, Availability)
    assert (merged.status, merged.available_representatives, merged.average_wait_seconds) == ("busy", 0, 600)
    assert merged.next_transition_time == answer.next_transition_time  # the hours still hold
    assert merged.retrieved_at == busy.retrieved_at and merged.org_time == busy.retrieved_at + timedelta(seconds=30)
    assert merge_snapshot(answer, Snapshot.of("w", moment, answer)) is None  # not newer
    failed = Snapshot.failed("w", moment, "upstream_timeout", moment + timedelta(minutes=3))
    assert merge_snapshot(answer, failed) is None
    moved = Snapshot.of("w", moment, Availability(**{**busy.__dict__, "queue_id": "other"}))
    closed = Snapshot.of("w", moment, Availability(**{**busy.__dict__, "within_operating_hours": False}))
    late = Snapshot.of("w", moment, Availability(**{**busy.__dict__, "retrieved_at": moment + timedelta(hours=7)}))
    for row in (moved, closed, late):  # another queue, the hours changed, past the transition: ask instead
        result = merge_snapshot(answer, row)
        assert result is not None and not isinstance(result, Availability)


def test_a_run_ends_before_the_next_occurrence_of_its_schedule():
    from availability.answer import Availability
    from availability.notifications.delivery import CallbackSender
    from availability.notifications.store import SubscriptionStore
    from availability.notifications.watch import Notifier
    from availability.tables import service_from_connection_string

    # A deadline is arithmetic on the schedule: the store, the checks and the sender are there but never called.
    store = SubscriptionStore(service_from_connection_string("UseDevelopmentStorage=true").get_table_client("Unused"))

    class Unasked:
        def check(self, check: object, *, deadline: float | None = None) -> Availability:
            raise AssertionError("a deadline asks for no answer")

    def deadline(schedule, started):
        notifier = Notifier(store=store, service=Unasked(), sender=CallbackSender(), schedule=schedule)
        return datetime.fromtimestamp(notifier.deadline(started.timestamp()), UTC)

    minute = datetime(2026, 12, 2, 12, 0, 0, 200_000, tzinfo=UTC)
    assert deadline("0 * * * * *", minute) == datetime(2026, 12, 2, 12, 0, 57, tzinfo=UTC)
    assert deadline("0 * * * * *", minute - timedelta(seconds=0.4)) == datetime(2026, 12, 2, 12, 0, 57,
                                                                               tzinfo=UTC)  # fired early
    assert deadline("0 * * * * *", minute + timedelta(seconds=45)) == minute + timedelta(seconds=65)  # 20 s at least
    assert deadline(QUIET, minute) == minute + timedelta(seconds=120)  # by hand, at most two minutes
