"""AvailabilityService in process, against the sandbox org: single flight and each caller's own budget."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from availability.checks import BeforeConversationCheck, ContextItem
from availability.errors import UpstreamTimeout
from tests.availability.conftest import sandbox_org
from tests.availability.scenario import CHAT

pytestmark = pytest.mark.usefixtures("clean_sandbox")

ACTION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"


def test_a_follower_waits_for_the_shared_call_only_within_its_own_budget(stack, sandbox):
    check = BeforeConversationCheck(workstream_id=CHAT, context_items=(ContextItem("TestCase", uuid.uuid4().hex),))
    with sandbox_org(stack) as (service, _):
        sandbox.fault("actions", delayMs=4000)
        leader: dict = {}
        thread = threading.Thread(target=lambda: leader.update(
            answer=service.check(check, deadline=time.monotonic() + 10)))
        thread.start()
        deadline = time.monotonic() + 10
        while sandbox.stats()["actions"][ACTION] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the leader's call is on the wire
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            service.check(check, deadline=started + 0.5)
        waited = time.monotonic() - started
        thread.join(10)
        assert 0.4 < waited < 2.5  # not the leader's 4 s
        assert leader["answer"].queue_id
        # The follower cost no call of its own, and the leader's answer is cached for the next caller.
        assert sandbox.stats()["actions"][ACTION] == 1
        assert service.check(check, deadline=time.monotonic() + 1).source == "cache"
