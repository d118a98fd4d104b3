"""The subscriptions table (Azurite): a subscription is changed only as it was read, so two runs never both take
a change; one changed or deleted since it was read is told to its caller as such, not as storage trouble."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from availability.notifications.store import Conflict, Gone, Subscription, SubscriptionStore
from availability.tables import service_from_connection_string
from devtools.stack import Stack
from tests.availability.conftest import unique_table
from tests.availability.scenario import CHAT


def subscription() -> Subscription:
    now = datetime.now(UTC)
    return Subscription(id=uuid.uuid4().hex, workstream_id=CHAT, check_body={}, check_key=uuid.uuid4().hex,
                        notify_on="status", language="en", time_zone=None, created_at=now,
                        callback_url="https://receiver.example/hook", secret="s" * 32,
                        callback_host="receiver.example", seen_status="available", seen_can_escalate=True, seen_at=now)


def test_a_subscription_changed_since_it_was_read_is_a_conflict_and_a_deleted_one_is_gone(stack: Stack) -> None:
    assert stack.storage_connection is not None  # Azurite runs
    table = service_from_connection_string(stack.storage_connection).get_table_client(unique_table())
    store = SubscriptionStore(table)
    try:
        read = store.insert(subscription(), limit=100)
        saved = store.save(replace(read, consecutive_failures=1))  # one run's change
        with pytest.raises(Conflict):  # another run's change, on the row as it was before
            store.save(replace(read, consecutive_failures=2))
        stored = store.get(read.id)
        assert stored is not None and stored.consecutive_failures == 1
        store.delete(read.id)
        with pytest.raises(Gone):
            store.save(saved)
    finally:
        table.delete_table()
        store.close()
