"""What an operation of the API is, as data both documents are built from: its body, its answers, the webhook it
subscribes to; the parameters and error answers many operations share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..schemas import GUID_PATTERN, MAX_BODY_BYTES

# Query parameters may be left blank where the page's own form sends them empty: whitespace, as Python's
# str.strip() sees it (Rust's regex counts \x1c-\x1f as text, Python as whitespace).
BLANK_PATTERN = r"^[\s\x1c-\x1f]*$"

CORRELATION_PARAMETER: dict[str, Any] = {
    "name": "x-correlation-id",
    "in": "header",
    "required": False,
    "title": "Correlation ID",
    "_visibility": "advanced",
    "description": "Your own ID for this request, echoed in the x-correlation-id response header: 1 to 64 letters, "
                   "digits and . _ : - are kept; anything else (or none) is replaced by a new one, never refused. "
                   "The gateway's logs and telemetry never record yours: the answer's x-request-id is its own ID "
                   "for the request; quote that when reporting a problem.",
    # Any value is accepted (a bad one is replaced), so the schema must not forbid any.
    "schema": {"type": "string"},
}

# status -> (description, the error codes it carries)
ERROR_RESPONSES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("invalid_request: malformed JSON, a missing or invalid field (target names it), too many items, or a "
          f"body over {MAX_BODY_BYTES // 1024} KiB.", ("invalid_request",)),
    401: ("The key is missing or wrong: the Functions host refuses the request before the app sees it, with an "
          "empty body (no error code, no x-correlation-id). Use a host key of the function app: a function key "
          "opens only its own function.", ()),
    404: ("not_found: Dynamics 365 does not know the workstream or conversation.", ("not_found",)),
    500: ("internal_error: an unexpected fault of the gateway; quote the x-correlation-id when reporting it.",
          ("internal_error",)),
    502: ("upstream_auth_failed: Dynamics 365 refused the gateway's own credentials (client secret, application "
          "user or its role); an administrator must act.", ("upstream_auth_failed",)),
    503: ("upstream_throttled (Dynamics 365 kept limiting requests; Retry-After says when to retry), "
          "upstream_unavailable (Dynamics 365 failing or unreachable and no recent answer to fall back on), or "
          "configuration_error (a setting is missing or Key Vault cannot be read).",
          ("upstream_throttled", "upstream_unavailable", "configuration_error")),
    504: ("upstream_timeout: Dynamics 365 did not answer within the time budget (the gateway always answers within "
          "25 seconds).", ("upstream_timeout",)),
}
RESPONSE_NAMES = {400: "InvalidRequest", 401: "Unauthorized", 404: "NotFound", 500: "InternalError",
                  502: "UpstreamAuthFailed", 503: "ServiceUnavailable", 504: "UpstreamTimeout"}
CHECK_ERRORS = (400, 401, 404, 500, 502, 503, 504)


@dataclass(frozen=True)
class Body:
    """A JSON request body: its shape and named examples."""

    schema: str
    title: str
    description: str
    examples: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Ok:
    """The 200 answer: its shape (None: any JSON object, or the page for text/html)."""

    schema: str | None
    description: str
    media: str | None = "application/json"  # None: no content (a 204)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)  # beside x-correlation-id


@dataclass(frozen=True)
class Notification:
    """What the callback of a webhook subscription receives: a POST of the shape `schema`, with these headers."""

    schema: str
    summary: str
    description: str
    headers: tuple[dict[str, Any], ...] = ()
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One endpoint: where, what it takes, what it answers; `connector` ones go into the Power Platform connector."""

    path: str
    method: str
    operation_id: str
    tag: str
    summary: str
    description: str
    ok: Ok
    errors: tuple[int, ...] = ()
    body: Body | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    # status -> (description, codes) where this operation's causes differ from ERROR_RESPONSES
    error_notes: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    connector: bool = False
    visibility: str | None = None
    public: bool = False
    not_modified: bool = False  # answers 304 to a matching If-None-Match, with the 200's headers
    admin: bool = False  # needs the master key: the host refuses any other key with its empty 401
    trigger: str | None = None  # the connector's x-ms-trigger: "single" for a webhook trigger
    notification: Notification | None = None  # what the webhook this operation subscribes to is sent


def guid_parameter(name: str, title: str, description: str, example: str, *, blank: bool = False,
                   visibility: str | None = None) -> dict[str, Any]:
    guid = {"type": "string", "format": "uuid", "pattern": GUID_PATTERN}
    schema = {"anyOf": [guid, {"type": "string", "pattern": BLANK_PATTERN}]} if blank else guid
    parameter = {"name": name, "in": "query", "required": False, "title": title, "description": description,
                 "schema": schema, "example": example}
    return {**parameter, "_visibility": visibility} if visibility else parameter

