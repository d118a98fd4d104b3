"""A request and a reply as the simulated services see them, free of the HTTP server's plumbing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

HTTP_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client: str

    _params: dict[str, str] | None = field(default=None, repr=False)

    @property
    def params(self) -> dict[str, str]:
        """Query parameters (first value of each)."""
        if self._params is None:
            self._params = {k: v[0] for k, v in parse_qs(self.query, keep_blank_values=True).items()}
        return self._params

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def bearer(self) -> str | None:
        """The bearer token of the Authorization header, or None."""
        value = self.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


@dataclass
class Reply:
    status: int
    body: Any = None  # a JSON-able value, or bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def new_id() -> str:
    return str(uuid.uuid4())


def iso(t: datetime) -> str:
    """UTC instant as the upstream writes it: `2026-03-02T17:00:00Z`."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def reason(status: int) -> str:
    return HTTP_REASONS.get(status, "Error")
