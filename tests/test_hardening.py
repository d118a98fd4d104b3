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
