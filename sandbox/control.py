"""The `/_sandbox/...` endpoints: stats, faults, clock, secret rotation, token revocation, reset, info, requests,
telemetry.

They move the shared state (sandbox.state) and the credentials the services hand out, all passed in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sandbox.credentials import TokenStore
from sandbox.scenario import GUID
from sandbox.state import FAULT_TARGETS, Clock, Fault, Faults, RequestLog, Stats
from sandbox.telemetry import Telemetry
from sandbox.vault import KeyVault
from sandbox.wire import Reply, Request

MAX_DELAY_MS = 300_000


class ControlError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Control:
    """`/_sandbox/...`: stats, faults, clock, secret rotation, token revocation, reset, info, recent requests."""

    def __init__(self, *, clock: Clock, faults: Faults, stats: Stats, requests: RequestLog, tokens: TokenStore,
                 vault: KeyVault, info: dict[str, Any], telemetry: Telemetry) -> None:
        self.clock = clock
        self.faults = faults
        self.stats = stats
        self.requests = requests
        self.tokens = tokens
        self.vault = vault
        self.info = info
        self.telemetry = telemetry

    def handle(self, request: Request) -> Reply:
        if request.client not in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
            return _error(403, "forbidden", None, "control endpoints answer loopback clients only")
        route = (request.method, request.path.rstrip("/"))
        handlers = {
            ("GET", "/_sandbox/stats"): self.get_stats,
            ("GET", "/_sandbox/faults"): self.list_faults,
            ("POST", "/_sandbox/faults"): self.add_fault,
            ("DELETE", "/_sandbox/faults"): self.clear_faults,
            ("GET", "/_sandbox/clock"): self.get_clock,
            ("POST", "/_sandbox/clock"): self.set_clock,
            ("POST", "/_sandbox/rotate-secret"): self.rotate_secret,
            ("POST", "/_sandbox/revoke-tokens"): self.revoke_tokens,
            ("POST", "/_sandbox/reset"): self.reset,
            ("GET", "/_sandbox/info"): self.get_info,
            ("GET", "/_sandbox/requests"): self.list_requests,
            ("GET", "/_sandbox/telemetry"): self.get_telemetry,
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

    def get_stats(self, request: Request) -> Reply:
        return Reply(200, self.stats.snapshot())

    def list_faults(self, request: Request) -> Reply:
        return Reply(200, {"faults": self.faults.describe()})

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
        queued = self.faults.add(target, fault)
        return Reply(201, {"target": target, "fault": fault.describe(), "queued": queued})

    def clear_faults(self, request: Request) -> Reply:
        self.faults.clear()
        return Reply(200, {"faults": self.faults.describe()})

    def get_clock(self, request: Request) -> Reply:
        return Reply(200, self.clock.describe())

    def set_clock(self, request: Request) -> Reply:
        body = _json_object(request)
        allowed = {"now", "reset", "frozen", "advanceSeconds"}
        for key in body:
            if key not in allowed:
                raise ControlError(key, f"unknown field '{key}' (expected one of {', '.join(sorted(allowed))})")
        clock = self.clock
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
        version = self.vault.rotate()
        return Reply(200, {"name": self.vault.name, "version": version})

    def revoke_tokens(self, request: Request) -> Reply:
        revoked = self.tokens.revoke_all()
        return Reply(200, {"revoked": revoked})

    def reset(self, request: Request) -> Reply:
        self.stats.reset()
        self.faults.clear()
        self.clock.reset()
        self.requests.clear()
        self.telemetry.reset()
        return Reply(200, {"stats": self.stats.snapshot(), "clock": self.clock.describe()})

    def get_info(self, request: Request) -> Reply:
        return Reply(200, self.info)

    def get_telemetry(self, request: Request) -> Reply:
        return Reply(200, self.telemetry.summary(attributes=request.params.get("attributes") == "true"))

    def list_requests(self, request: Request) -> Reply:
        raw = request.params.get("limit", "100")
        if not raw.isdigit() or int(raw) > 1000:
            raise ControlError("limit", "limit must be an integer 0..1000")
        return Reply(200, {"requests": self.requests.recent(int(raw))})


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
