"""The one error hierarchy of the gateway; each class carries its error code and HTTP status.

    AvailabilityError                    (base; never raised as such)
    ├── InvalidRequest                   400  invalid_request
    ├── Unauthorized                     401  unauthorized
    ├── NotFound                         404  not_found
    ├── MethodNotAllowed                 405  method_not_allowed    (a method the route does not serve)
    ├── UpstreamError                    (base for trouble with Dynamics 365, Entra ID or Key Vault)
    │   ├── UpstreamAuthFailed           502  upstream_auth_failed
    │   ├── UpstreamThrottled            503  upstream_throttled    (carries retry_after)
    │   ├── UpstreamUnavailable          503  upstream_unavailable
    │   └── UpstreamTimeout              504  upstream_timeout
    ├── StorageError                     (base for trouble with Table Storage)
    │   ├── StorageUnavailable           503  upstream_unavailable
    │   └── StorageTimeout               504  upstream_timeout
    ├── ConfigurationError               503  configuration_error   (carries setting)
    └── InternalError                    500  internal_error        (a bug, answered in the error shape)

`message` is shown to callers as is, so it must never hold a secret, a token or an upstream body. To a caller,
Table Storage is one more service the gateway depends on: its errors answer with the same codes as the org's,
but are classes of their own, so that no code takes storage trouble for the org's.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

__all__ = [
    "AvailabilityError",
    "ConfigurationError",
    "InternalError",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "StorageError",
    "StorageTimeout",
    "StorageUnavailable",
    "Unauthorized",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamThrottled",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class AvailabilityError(Exception):
    """Base of every error the gateway answers with; `to_body()` is the API's error body."""

    code: ClassVar[str] = "upstream_unavailable"
    status: ClassVar[int] = 503
    default_message: ClassVar[str] = "The availability service could not answer."

    message: str
    target: str | None
    retry_after: int | None

    def __init__(
        self,
        message: str | None = None,
        *,
        target: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.target = target
        # Retry-After is whole seconds on the wire; rounding up never invites a caller back too early.
        self.retry_after = None if retry_after is None else max(0, math.ceil(retry_after))
        super().__init__(self.message)

    def to_body(self) -> dict[str, Any]:
        """The API's `{"error": {"code", "message", "target"?}}` body."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        return {"error": error}

    def __repr__(self) -> str:
        extra = f", target={self.target!r}" if self.target is not None else ""
        return f"{type(self).__name__}({self.message!r}{extra})"


class InvalidRequest(AvailabilityError):
    """The caller's request is malformed; `target` names the field at fault when there is one."""

    code = "invalid_request"
    status = 400
    default_message = "The request is not valid."


class Unauthorized(AvailabilityError):
    """The function key is missing or wrong."""

    code = "unauthorized"
    status = 401
    default_message = "A valid function key is required (x-functions-key header or code query parameter)."


class NotFound(AvailabilityError):
    """Dynamics 365 does not know the workstream or conversation."""

    code = "not_found"
    status = 404
    default_message = "The workstream or conversation was not found."


class MethodNotAllowed(AvailabilityError):
    """The route is the app's, the method is not one it answers (the app says so itself, with `Allow`)."""

    code = "method_not_allowed"
    status = 405
    default_message = "This route does not answer this method."


class UpstreamError(AvailabilityError):
    """Base for trouble reaching or using Dynamics 365 (and the identity services in front of it)."""

    code = "upstream_unavailable"
    status = 503
    default_message = "Dynamics 365 could not be reached; please try again shortly."


class UpstreamAuthFailed(UpstreamError):
    """Our own credentials were refused: client secret, application user or its role."""

    code = "upstream_auth_failed"
    status = 502
    default_message = (
        "Dynamics 365 refused the gateway's credentials; an administrator must check the app registration."
    )


class UpstreamThrottled(UpstreamError):
    """Dynamics 365 kept answering 429 beyond the time budget; `retry_after` is passed on."""

    code = "upstream_throttled"
    status = 503
    default_message = "Dynamics 365 is limiting requests right now; please try again later."

    def __init__(
        self, message: str | None = None, *, target: str | None = None, retry_after: float | None = None
    ) -> None:
        if message is None and retry_after is not None:
            seconds = max(0, math.ceil(retry_after))
            unit = "second" if seconds == 1 else "seconds"
            message = f"Dynamics 365 is limiting requests right now; please try again in {seconds} {unit}."
        super().__init__(message, target=target, retry_after=retry_after)


class UpstreamUnavailable(UpstreamError):
    """Dynamics 365 answered 5xx, could not be reached, or gave an answer we cannot read."""

    code = "upstream_unavailable"
    status = 503


class UpstreamTimeout(UpstreamError):
    """Dynamics 365 did not answer within the time budget."""

    code = "upstream_timeout"
    status = 504
    default_message = "Dynamics 365 did not answer within the time budget."


class StorageError(AvailabilityError):
    """Base for trouble reaching or using Table Storage (snapshots, subscriptions, the shared state)."""

    code = "upstream_unavailable"
    status = 503
    default_message = "Table storage could not be reached."


class StorageUnavailable(StorageError):
    """Table Storage could not be reached, or answered with an error."""

    code = "upstream_unavailable"
    status = 503


class StorageTimeout(StorageError):
    """Table Storage did not answer within the time left."""

    code = "upstream_timeout"
    status = 504
    default_message = "Table storage did not answer in time."


class ConfigurationError(AvailabilityError):
    """A required app setting is missing or malformed, or Key Vault cannot be read; names the setting."""

    code = "configuration_error"
    status = 503
    default_message = "The gateway is not configured correctly."

    setting: str | None

    def __init__(self, message: str | None = None, *, setting: str | None = None, target: str | None = None) -> None:
        self.setting = setting
        if message is None and setting is not None:
            message = f"The app setting {setting} is missing or malformed."
        super().__init__(message, target=target)


class InternalError(AvailabilityError):
    """An unexpected bug: logged with its trace, answered without it."""

    code = "internal_error"
    status = 500
    default_message = "The request could not be completed."
