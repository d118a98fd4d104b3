"""DataverseClient against the sandbox org: the throttle gate and its probe, Retry-After, errors."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

import pytest
import requests

from availability.checks import BeforeConversationCheck, ContextItem
from availability.dataverse import DataverseClient
from availability.errors import InvalidRequest, UpstreamThrottled, UpstreamTimeout, UpstreamUnavailable
from availability.session import pooled_session
from tests.availability.scenario import CHAT

ACTION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"

pytestmark = pytest.mark.usefixtures("clean_sandbox")


class Credential:
    """Real tokens from the sandbox's token endpoint; the calls numbered in `failing` fail like Entra ID down."""

    def __init__(self, stack, failing: Iterable[int] = ()) -> None:
        self.url = stack.sandbox["url"]
        self.tenant = stack.sandbox["tenantId"]
        self.client_id = stack.sandbox["clientId"]
        self.verify = stack.sandbox["caBundle"]
        self.identity_endpoint = stack.sandbox["identityEndpoint"]
        self.identity_header = stack.sandbox["identityHeader"]
        self.secret_name = stack.sandbox["secretName"]
        self.failing = set(failing)
        self.calls = 0
        self._token: str | None = None

    def token(self, deadline=None) -> str:
        self.calls += 1
        if self.calls in self.failing:
            raise UpstreamUnavailable(message="Entra ID could not be reached to issue a token.")
        if self._token is None:
            response = requests.post(f"{self.url}/{self.tenant}/oauth2/v2.0/token", verify=self.verify, timeout=10,
                                     data={"grant_type": "client_credentials", "client_id": self.client_id,
                                           "client_secret": self._secret(), "scope": f"{self.url}/.default"})
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def _secret(self) -> str:
        # The vault's current secret (other tests rotate it), read the way managed identity does.
        identity = requests.get(self.identity_endpoint, params={"api-version": "2019-08-01",
                                                                "resource": "https://vault.azure.net"},
                                headers={"X-IDENTITY-HEADER": self.identity_header}, verify=self.verify, timeout=10)
        secret = requests.get(f"{self.url}/secrets/{self.secret_name}", params={"api-version": "7.4"},
                              headers={"Authorization": f"Bearer {identity.json()['access_token']}"},
                              verify=self.verify, timeout=10)
        return secret.json()["value"]

    def invalidate(self, token: str) -> None:
        self._token = None


@pytest.fixture
def credential(stack) -> Credential:
    return Credential(stack)


@pytest.fixture
def client(stack, credential):
    made = DataverseClient(stack.sandbox["url"], credential, timeout=3, session=org_session(stack))
    yield made
    made.close()


def org_session(stack):
    """The pooled session the app would make, trusting the sandbox's CA."""
    return pooled_session(stack.sandbox["url"], 8, ca_bundle=stack.sandbox["caBundle"])


def check() -> BeforeConversationCheck:
    return BeforeConversationCheck(workstream_id=CHAT)


def test_a_probe_that_fails_before_sending_does_not_shut_the_gate(client, credential, sandbox):
    sandbox.fault("actions", status=429, retryAfter=1, count=1)
    credential.failing = {2}  # call 1 meets the 429; call 2, the probe after it, gets no token
    with pytest.raises(UpstreamUnavailable):
        client.get_availability(check())
    started = time.monotonic()
    answer = client.get_availability(check())  # the org is fine again: no throttle may be left behind
    assert answer.queue_id and time.monotonic() - started < 1.5


class LateSlots:
    """A slot among the calls in flight that comes only as the call's time runs out (a busy cap)."""

    limit = 1

    def acquire(self, until: float) -> None:
        time.sleep(max(0.0, until - time.monotonic()) + 0.6)

    def release(self) -> None:
        pass


def test_a_slot_that_comes_as_the_time_runs_out_is_a_timeout_not_a_request_without_time(stack, credential, sandbox):
    late = DataverseClient(stack.sandbox["url"], credential, timeout=3, session=org_session(stack), slots=LateSlots())
    try:
        with pytest.raises(UpstreamTimeout):
            late.get_availability(check(), deadline=time.monotonic() + 0.5)
    finally:
        late.close()
    assert sandbox.stats()["actions"].get(ACTION, 0) == 0


def test_retry_after_zero_is_waited_at_least_a_second(client, sandbox):
    sandbox.fault("actions", status=429, retryAfter=0, count=1)
    started = time.monotonic()
    client.get_availability(check())
    assert time.monotonic() - started >= 1.0
    assert sandbox.stats()["actions"][ACTION] == 2


def test_throttle_longer_than_the_budget_is_reported_with_its_retry_after(client, sandbox):
    sandbox.fault("actions", status=429, retryAfter=30)
    with pytest.raises(UpstreamThrottled) as raised:
        client.get_availability(check())
    assert raised.value.retry_after is not None and 25 <= raised.value.retry_after <= 30
    with pytest.raises(UpstreamThrottled):
        client.get_availability(check())  # fails fast: the org is not asked again inside Retry-After
    assert sandbox.stats()["actions"][ACTION] == 1


def test_an_outage_is_reported_after_at_most_three_attempts_then_the_org_is_left_alone(client, sandbox):
    sandbox.fault("actions", status=503)
    with pytest.raises(UpstreamUnavailable) as first:
        client.get_availability(check())
    # A retry waits out the circuit's pause when it is short (a blip); after the second failure it may not be.
    assert 2 <= sandbox.stats()["actions"][ACTION] <= 3
    # The org's own failure is what the caller hears, with when to come back: once the circuit it opened lets calls go.
    assert "HTTP 503" in first.value.message and first.value.retry_after is not None and first.value.retry_after >= 1
    before = sandbox.stats()["actions"][ACTION]
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as held:
        client.get_availability(check())  # within the circuit's pause: no call, at once
    assert sandbox.stats()["actions"][ACTION] == before and time.monotonic() - started < 0.1
    assert held.value.retry_after is not None and held.value.retry_after >= 1


def test_the_orgs_400_message_is_not_passed_on(client, sandbox):
    bad = BeforeConversationCheck(workstream_id=CHAT, context_items=(ContextItem("Tier", "not-a-number", "integer"),))
    with pytest.raises(InvalidRequest) as raised:
        client.get_availability(bad)
    assert "0x" not in raised.value.message


def test_discovery_queries(client):
    workstreams = client.list_workstreams()
    assert {w["msdyn_liveworkstreamid"] for w in workstreams} >= {CHAT}
    assert client.list_queues()
    assert client.who_am_i()


def test_discovery_follows_next_page_links(client, sandbox):
    everything = client.list_queues()
    assert len(everything) >= 3
    sandbox.reset()
    client.page_size = 2
    assert client.list_queues() == everything
    assert sandbox.stats()["queries"] == math.ceil(len(everything) / 2)


@pytest.mark.parametrize("link", [
    "https://elsewhere.example/api/data/v9.2/queues?$skiptoken=2",
    "{org}.evil.example/api/data/v9.2/queues",
    "https://user@elsewhere.example/api/data/v9.2/queues",
    "http://{host}/api/data/v9.2/queues",
    "{org}/api/data/v9.1/queues",
    "https://{hostname}:1/api/data/v9.2/queues",
    "https://{hostname}:port/api/data/v9.2/queues",
])
def test_a_next_page_link_outside_the_org_gets_no_token(client, monkeypatch, link):
    org = client._base[: -len("/api/data/v9.2/")]
    link = link.format(org=org, host=org.split("://", 1)[1], hostname=urlsplit(org).hostname)
    pages = iter([{"value": [{"queueid": "a"}], "@odata.nextLink": link}])
    monkeypatch.setattr(client, "_send", lambda *args, **kwargs: (next(pages), None))
    with pytest.raises(UpstreamUnavailable, match="outside the org"):
        client.list_queues()


def test_a_next_page_link_is_matched_to_the_org_without_regard_to_case(client):
    base = client._base
    upper = base.replace("https://", "HTTPS://").replace("/api/data/", "/API/data/")
    assert client._path_within_org(upper + "queues?$skiptoken=2") == "queues?$skiptoken=2"
    assert client._path_within_org(base + "queues") == "queues"


class ManualClock:
    """A monotonic clock that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def budgeted(stack, clock):
    """A client allowed 3 action calls a minute, on `clock`, which the test moves."""
    made = DataverseClient(stack.sandbox["url"], Credential(stack), timeout=120, max_calls_per_minute=3,
                           session=org_session(stack),
                           clock=clock, sleep=clock.sleep)
    yield made
    made.close()


def test_the_calls_per_minute_budget_refuses_what_does_not_fit(budgeted, clock, sandbox):
    for _ in range(3):
        budgeted.get_availability(check())
        clock.now += 10  # calls at 0, 10 and 20 s
    with pytest.raises(UpstreamThrottled) as raised:
        budgeted.get_availability(check(), deadline=clock.now + 5)  # room again at 60 s: 30 s away
    assert raised.value.retry_after == 30 and "AVAILABILITY_MAX_CALLS_PER_MINUTE" in raised.value.message
    assert sandbox.stats()["actions"][ACTION] == 3
    # Discovery queries are not action calls: they do not count, nor wait.
    assert budgeted.list_queues()
    assert clock.slept == []


def test_the_calls_per_minute_budget_waits_when_the_wait_fits(budgeted, clock, sandbox):
    for _ in range(3):
        budgeted.get_availability(check())
    clock.now += 45
    budgeted.get_availability(check())  # the oldest call leaves the window 15 s from now
    assert clock.slept == [15.0]
    assert sandbox.stats()["actions"][ACTION] == 4


def test_only_a_caller_that_may_queue_waits_past_the_call_timeout(budgeted, clock, sandbox):
    # The timer's checks may take until the next slot; a request's wait counts against its own time budget.
    budgeted.timeout = 20
    for _ in range(3):
        budgeted.get_availability(check())
    with pytest.raises(UpstreamThrottled):
        budgeted.get_availability(check(), deadline=clock.now + 240)
    budgeted.get_availability(check(), deadline=clock.now + 240, queue_until=clock.now + 240)
    assert clock.slept == [60.0]
    assert sandbox.stats()["actions"][ACTION] == 4


def test_a_retry_after_that_comes_while_a_call_waits_for_the_budget_holds_it(budgeted, clock, sandbox):
    for _ in range(3):
        budgeted.get_availability(check())

    def meanwhile_the_org_throttles(seconds: float) -> None:
        ManualClock.sleep(clock, seconds)
        budgeted._gate.note(120)  # another call met a 429 during this wait

    budgeted._budget._sleep = meanwhile_the_org_throttles
    with pytest.raises(UpstreamThrottled) as raised:
        budgeted.get_availability(check())
    assert raised.value.retry_after == 120
    assert sandbox.stats()["actions"][ACTION] == 3  # the queued call did not go out


def test_a_call_that_never_goes_out_costs_no_budget(budgeted, clock, sandbox):
    budgeted._credential.failing = {1}  # Entra ID down for the first call
    with pytest.raises(UpstreamUnavailable):
        budgeted.get_availability(check())
    for _ in range(3):
        budgeted.get_availability(check())
    assert clock.slept == [] and sandbox.stats()["actions"][ACTION] == 3
