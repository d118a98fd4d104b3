"""The sandbox's own switches: its clock, queued faults, call counts, and the `/_sandbox/...` endpoints."""

from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sandbox.scenario import GUID
from sandbox.wire import Reply, Request

if TYPE_CHECKING:
    from sandbox.server import Sandbox

UTC = timezone.utc
BEFORE = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
FOR = "CCaaS_GetRepresentativeAvailabilityForConversation"
# `actions`: the two availability actions; `token`: v1/v2 token endpoints; `keyVault`: authorized secret reads;
# `identity`: the managed identity endpoint; `queries`: WhoAmI and the workstream/queue queries.
FAULT_TARGETS = ("actions", "token", "keyVault", "identity", "queries")
MAX_DELAY_MS = 300_000


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

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {target: [f.describe() for f in queue] for target, queue in self._queues.items()}


class Stats:
    """Calls received since the last reset, faulted ones included."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts = {"tokens": 0, "identityTokens": 0, "secretReads": 0, "queries": 0, "whoAmI": 0}
            self._actions = {BEFORE: 0, FOR: 0}
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


class ControlError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Control:
    """`/_sandbox/...`: stats, faults, clock, secret rotation, token revocation, reset, info, recent requests."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle(self, request: Request) -> Reply:
        if request.client not in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
            return _error(403, "forbidden", None, "control endpoints answer loopback clients only")
        route = (request.method, request.path.rstrip("/"))
        handlers = {
            ("GET", "/_sandbox/stats"): self.stats,
            ("GET", "/_sandbox/faults"): self.list_faults,
            ("POST", "/_sandbox/faults"): self.add_fault,
            ("DELETE", "/_sandbox/faults"): self.clear_faults,
            ("GET", "/_sandbox/clock"): self.get_clock,
            ("POST", "/_sandbox/clock"): self.set_clock,
            ("POST", "/_sandbox/rotate-secret"): self.rotate_secret,
            ("POST", "/_sandbox/revoke-tokens"): self.revoke_tokens,
            ("POST", "/_sandbox/reset"): self.reset,
            ("GET", "/_sandbox/info"): self.info,
            ("GET", "/_sandbox/requests"): self.requests,
        }
        handler = handlers.get(route)
        if handler is None:
            known = {path for _, path in handlers}
            if route[1] in known:
                return _error(405, "method_not_allowed", None, f"{request.method} is not allowed on {route[1]}")
            return _error(404, "not_found", None, f"no control endpoint {route[1]}")
        try:
            return handler(request)
        except ControlError as exc:
            return _error(400, "invalid_request", exc.field, str(exc))

    def stats(self, request: Request) -> Reply:
        return Reply(200, self.sandbox.stats.snapshot())

    def list_faults(self, request: Request) -> Reply:
        return Reply(200, {"faults": self.sandbox.faults.describe()})

    def add_fault(self, request: Request) -> Reply:
        body = _json_object(request)
        allowed = {"target", "status", "retryAfter", "delayMs", "count", "workstreamId"}
        for key in body:
            if key not in allowed:
                raise ControlError(key, f"unknown field '{key}' (expected one of {', '.join(sorted(allowed))})")
        target = body.get("target")
        if target not in FAULT_TARGETS:
            raise ControlError("target", f"target must be one of {', '.join(FAULT_TARGETS)}")
        status = _optional_int(body, "status", 400, 599)
        retry_after = _optional_int(body, "retryAfter", 0, 86_400)
        delay_ms = _optional_int(body, "delayMs", 0, MAX_DELAY_MS)
        count = _optional_int(body, "count", 1, 10_000_000)
        if status is None and not delay_ms:
            raise ControlError("status", "give a status, a delayMs, or both")
        if retry_after is not None and status is None:
            raise ControlError("retryAfter", "retryAfter goes with a status")
        workstream = body.get("workstreamId")
        if workstream is not None:
            if target != "actions":
                raise ControlError("workstreamId", "workstreamId only narrows faults of target 'actions'")
            if not isinstance(workstream, str) or not GUID.match(workstream):
                raise ControlError("workstreamId", "workstreamId must be a GUID")
            workstream = workstream.lower()
        fault = Fault(status=status, retry_after=retry_after, delay_ms=delay_ms or 0, remaining=count,
                      workstream=workstream)
        queued = self.sandbox.faults.add(target, fault)
        return Reply(201, {"target": target, "fault": fault.describe(), "queued": queued})

    def clear_faults(self, request: Request) -> Reply:
        self.sandbox.faults.clear()
        return Reply(200, {"faults": self.sandbox.faults.describe()})

    def get_clock(self, request: Request) -> Reply:
        return Reply(200, self.sandbox.clock.describe())

    def set_clock(self, request: Request) -> Reply:
        body = _json_object(request)
        allowed = {"now", "reset", "frozen", "advanceSeconds"}
        for key in body:
            if key not in allowed:
                raise ControlError(key, f"unknown field '{key}' (expected one of {', '.join(sorted(allowed))})")
        clock = self.sandbox.clock
        frozen = body.get("frozen", False)
        if not isinstance(frozen, bool):
            raise ControlError("frozen", "frozen must be true or false")
        if body.get("reset") is True and len(body) == 1:
            clock.reset()
        elif "reset" in body:
            raise ControlError("reset", 'reset must be true and come alone: {"reset": true}')
        elif "now" in body:
            if "advanceSeconds" in body:
                raise ControlError("advanceSeconds", "give either now or advanceSeconds")
            clock.set(_instant(body["now"]), frozen=frozen)
        elif "advanceSeconds" in body:
            seconds = body["advanceSeconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise ControlError("advanceSeconds", "advanceSeconds must be a number")
            clock.advance(seconds)
        else:
            raise ControlError("now", 'give {"now": "<ISO-8601 instant>"}, {"advanceSeconds": n} or {"reset": true}')
        return Reply(200, clock.describe())

    def rotate_secret(self, request: Request) -> Reply:
        version = self.sandbox.vault.rotate()
        return Reply(200, {"name": self.sandbox.scenario.org.secret_name, "version": version})

    def revoke_tokens(self, request: Request) -> Reply:
        revoked = self.sandbox.tokens.revoke_all()
        return Reply(200, {"revoked": revoked})

    def reset(self, request: Request) -> Reply:
        self.sandbox.stats.reset()
        self.sandbox.faults.clear()
        self.sandbox.clock.reset()
        self.sandbox.requests.clear()
        return Reply(200, {"stats": self.sandbox.stats.snapshot(), "clock": self.sandbox.clock.describe()})

    def info(self, request: Request) -> Reply:
        return Reply(200, self.sandbox.info())

    def requests(self, request: Request) -> Reply:
        raw = request.params.get("limit", "100")
        if not raw.isdigit() or int(raw) > 1000:
            raise ControlError("limit", "limit must be an integer 0..1000")
        return Reply(200, {"requests": self.sandbox.requests.recent(int(raw))})


def _json_object(request: Request) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ControlError("body", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError("body", "the body must be a JSON object")
    return body


def _optional_int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    if key not in body or body[key] is None:
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(key, f"{key} must be an integer {low}..{high}")
    return value


def _instant(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            # A time without an offset is taken as UTC, the zone every upstream time is in.
            return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)
    raise ControlError("now", "now must be an ISO-8601 instant like 2026-03-02T09:30:00Z")


def _error(status: int, code: str, target: str | None, message: str) -> Reply:
    error = {"code": code, "message": message}
    if target:
        error["target"] = target
    return Reply(status, {"error": error})
