"""Fixtures of the availability tests that read and write Table Storage (Azurite)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from availability.snapshots import SnapshotStore


class RequestCounter:
    """Counts every HTTP request a TableClient sends (azure-core's per-request `raw_response_hook`)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, response) -> None:
        request = response.http_request
        with self._lock:
            self.requests.append((request.method, request.url))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    @property
    def count(self) -> int:
        return len(self.requests)


def unique_table() -> str:
    """A table of its own, so that tests never see each other's rows."""
    return f"T{uuid.uuid4().hex[:20]}"


@pytest.fixture
def counter() -> RequestCounter:
    return RequestCounter()


@pytest.fixture
def store(stack, counter):
    opened = SnapshotStore.from_connection_string(stack.storage_connection, unique_table(), raw_response_hook=counter)
    yield opened
    opened.close()


def connect(environ, cache_seconds: float = 60):
    """An AvailabilityService and DataverseClient built by the app's composition root from the settings `environ`."""
    from devtools.sandbox_client import sandbox_app

    app = sandbox_app({**environ, "AVAILABILITY_CACHE_SECONDS": str(cache_seconds)})
    return app.service, app.client


@contextmanager
def sandbox_org(stack, cache_seconds: float = 60) -> Iterator[tuple]:
    """(service, client) pointed at the sandbox org."""
    service, client = connect(stack.sandbox_settings(), cache_seconds)
    try:
        yield service, client
    finally:
        client.close()
