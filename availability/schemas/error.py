"""The error body every endpoint answers with when it fails: its code, a sentence and the field at fault."""

from __future__ import annotations

from typing import Any

from .core import ref

__all__ = ["error_codes", "error_codes_described", "error_names", "error_shapes", "error_statuses"]


def error_statuses() -> dict[str, int]:
    """The codes of the error tree's leaves with their HTTP status, in the order the tree defines them (a base such
    as UpstreamError is never raised)."""
    from .. import errors

    def leaves(cls: type[errors.AvailabilityError]) -> list[type[errors.AvailabilityError]]:
        below = [sub for sub in cls.__subclasses__() if sub.__module__ == errors.__name__]
        return [leaf for sub in below for leaf in leaves(sub)] if below else [cls]

    statuses: dict[str, int] = {}
    for leaf in leaves(errors.AvailabilityError):
        statuses.setdefault(leaf.code, leaf.status)
    return statuses


def error_codes() -> list[str]:
    """The error codes, in the order the error tree defines them."""
    return list(error_statuses())


def error_codes_described() -> str:
    """Every code with its HTTP status, by status: "invalid_request (400), ..., upstream_throttled,
    upstream_unavailable or configuration_error (503), upstream_timeout (504)"."""
    by_status: dict[int, list[str]] = {}
    for code, status in error_statuses().items():
        by_status.setdefault(status, []).append(code)
    parts = []
    for status, codes in sorted(by_status.items()):
        named = codes[0] if len(codes) == 1 else f"{', '.join(codes[:-1])} or {codes[-1]}"
        parts.append(f"{named} ({status}{', a fault of the gateway' if status == 500 else ''})")
    return ", ".join(parts) + "."


def error_names() -> dict[str, str]:
    """Each error code as a designer shows it: `upstream_timeout` is "Upstream timeout"."""
    return {code: code.replace("_", " ").capitalize() for code in error_codes()}


def error_shapes() -> dict[str, dict[str, Any]]:
    """`ErrorDetail` and the `Error` body that holds it."""
    return {
        "ErrorDetail": {
            "type": "object",
            "title": "Error",
            "description": "What went wrong, in a sentence that can be shown to a maker.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": error_codes(), "title": "Error code",
                         "_enum_names": error_names(),
                         "examples": ["invalid_request"],
                         "description": error_codes_described()},
                "message": {"type": "string", "title": "Error message",
                            "description": "One sentence explaining the error; never holds a secret."},
                "target": {"type": "string", "title": "Field at fault", "examples": ["contextItems.Tier"],
                           "description": "The request field at fault, when there is one (e.g. "
                                          "checks[2].workstreamId)."},
            },
        },
        "Error": {
            "type": "object",
            "title": "Error response",
            "required": ["error"],
            "properties": {"error": ref("ErrorDetail")},
        },
    }
