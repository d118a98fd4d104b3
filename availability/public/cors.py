"""CORS for the public answers: readable by the pages of `PUBLIC_ALLOWED_ORIGINS` only.

An origin is allowed by exact match (browsers send it as `scheme://host[:port]`) and echoed with `Vary: Origin`,
so a shared cache never hands one origin's answer to another; with `*` listed every origin is. Other origins get
no CORS header at all (their pages cannot read the answer; the answer itself is public anyway). The keyed
endpoints send none: they are for servers and flows, which need none.
"""

from __future__ import annotations

from .config import PublicChecks

METHODS = "GET, OPTIONS"
# Requests the widget sends need no preflight; these are the headers a page's own script may add.
ALLOWED_HEADERS = "If-None-Match, x-correlation-id"
# Chromium keeps a preflight at most 2 hours: longer would only promise what browsers do not do.
PREFLIGHT_MAX_AGE = "7200"
# Age is not CORS-safelisted: the widget reads it to ask again when a shared cache's copy runs out, not a full
# max-age after a copy that was already old.
EXPOSED = "Age"


def cors_headers(origin: str | None, public: PublicChecks) -> dict[str, str]:
    """The CORS headers of an answer to a request from `origin` (its `Origin` header)."""
    headers = _grant(origin, public)
    if "Access-Control-Allow-Origin" in headers:
        headers["Access-Control-Expose-Headers"] = EXPOSED
    return headers


def preflight_headers(origin: str | None, public: PublicChecks) -> dict[str, str]:
    """The headers of the `OPTIONS` preflight's 204: the grant for an allowed origin, else only `Allow`."""
    headers = {"Allow": METHODS, **_grant(origin, public)}
    if "Access-Control-Allow-Origin" in headers:
        headers.update({"Access-Control-Allow-Methods": METHODS, "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                        "Access-Control-Max-Age": PREFLIGHT_MAX_AGE})
    return headers


def _grant(origin: str | None, public: PublicChecks) -> dict[str, str]:
    """`Access-Control-Allow-Origin` for an allowed `origin` (and `Vary: Origin` unless every origin is)."""
    if public.any_origin:
        return {"Access-Control-Allow-Origin": "*"}
    if not public.origins:
        return {}
    if origin and origin in public.origins:
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {"Vary": "Origin"}

