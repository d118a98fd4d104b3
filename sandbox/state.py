"""The sandbox's shared, switchable state: its clock, queued faults, call counts and recent requests.

The control endpoints move it; the simulated services read it. It knows no service, so every module may import it.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

# `actions`: the two availability actions; `token`: v1/v2 token endpoints; `keyVault`: authorized secret reads;
# `identity`: the managed identity endpoint; `queries`: the workstream and queue queries; `whoAmI`: WhoAmI (what the
# gateway reads the org's clock with, kept apart so that a test faulting discovery does not fault that read).
FAULT_TARGETS = ("actions", "token", "keyVault", "identity", "queries", "whoAmI")


class Clock:
    """The sandbox clock that answers are computed at: the real clock, optionally moved and/or frozen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None

    def now(self) -> datetime:
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return datetime.now(UTC) + self._offset

    def set(self, t: datetime, *, frozen: bool = False) -> None:
        with self._lock:
            self._offset = t - datetime.now(UTC)
            self._frozen_at = t if frozen else None

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
            if self._frozen_at is not None:
                self._frozen_at += timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
            self._frozen_at = None

    def describe(self) -> dict[str, Any]:
        now = self.now()
        return {"now": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "frozen": self._frozen_at is not None,
                "offsetSeconds": round((now - datetime.now(UTC)).total_seconds(), 3)}


@dataclass
class Fault:
    status: int | None = None
    retry_after: int | None = None
    delay_ms: int = 0
    remaining: int | None = None  # None: every call until cleared
    workstream: str | None = None  # actions only: just the calls for this workstream

    def describe(self) -> dict[str, Any]:
        return {"status": self.status, "retryAfter": self.retry_after, "delayMs": self.delay_ms,
                "count": self.remaining, "workstreamId": self.workstream}


@dataclass(frozen=True)
class Failure:
    """How a faulted call is answered: a status, with Retry-After when the fault gives one."""

    status: int
    retry_after: int | None = None


class Faults:
    """Faults queued per target; a call takes the first fault that applies to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[Fault]] = {target: [] for target in FAULT_TARGETS}

    def add(self, target: str, fault: Fault) -> int:
        with self._lock:
            self._queues[target].append(fault)
            return len(self._queues[target])

    def clear(self) -> None:
        with self._lock:
            for queue in self._queues.values():
                queue.clear()

    def take(self, target: str, workstream: str | None = None) -> Fault | None:
        queue = self._queues[target]
        if not queue:  # the common case, without the lock
            return None
        with self._lock:
            for i, fault in enumerate(queue):
                if fault.workstream is not None and fault.workstream != workstream:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del queue[i]
                return replace(fault)
        return None

    def strike(self, target: str, workstream: str | None = None) -> Failure | None:
        """A call to `target` meets its next fault: wait out its delay, then how to fail, or None to answer normally."""
        fault = self.take(target, workstream)
        if fault is None:
            return None
        if fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)  # only this connection's thread waits
        return Failure(fault.status, fault.retry_after) if fault.status is not None else None

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {target: [f.describe() for f in queue] for target, queue in self._queues.items()}


class Stats:
    """Calls received since the last reset, faulted ones included; `actions` are the org actions counted by name."""

    def __init__(self, actions: Iterable[str]) -> None:
        self._action_names = tuple(actions)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts = {"tokens": 0, "identityTokens": 0, "secretReads": 0, "queries": 0, "whoAmI": 0}
            self._actions = dict.fromkeys(self._action_names, 0)
            self._rejected = {"tokens": 0, "identityTokens": 0, "secretReads": 0, "actions": 0}
            self._issued: dict[str, int] = {}  # managed identity tokens issued, by "<client id> <resource>"

    def count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def count_action(self, action: str) -> None:
        with self._lock:
            self._actions[action] += 1

    def count_rejected(self, key: str) -> None:
        with self._lock:
            self._rejected[key] += 1

    def count_identity_token(self, client_id: str, resource: str) -> None:
        with self._lock:
            key = f"{client_id} {resource}"
            self._issued[key] = self._issued.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self._counts, "actions": dict(self._actions), "unauthorized": dict(self._rejected),
                    "identityTokensIssued": dict(self._issued)}


class RequestLog:
    """The last requests seen (no secrets): method, path, status, duration and correlation ids."""

    def __init__(self, size: int = 1000) -> None:
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def add(self, entry: dict[str, Any]) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def recent(self, limit: int) -> list[dict[str, Any]]:
        entries = list(self._entries)
        return entries[-limit:] if limit else []
