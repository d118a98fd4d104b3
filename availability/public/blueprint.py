"""HTTP functions of the public endpoints, anonymous: `GET /api/public/availability/{alias}` (and `OPTIONS`) and
`GET /api/public/widget.js`; other methods get the app's 405.

In Azure the platform's CORS (set from the same `PUBLIC_ALLOWED_ORIGINS`) answers a browser's preflight before
it reaches the app on Linux Consumption and Flex Consumption; the `OPTIONS` here answers what reaches the app: an
`OPTIONS` that is no preflight, or every preflight on a plan where the platform leaves CORS to the app.

As in the keyed blueprint, everything past `azure.functions` and the composition root is imported inside the
functions: importing the app is the cold start.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import azure.functions as func

from .. import app
from ..errors import AvailabilityError
from ..http.respond import answers, handle, json_response, utcnow

if TYPE_CHECKING:
    from .answer import Wording
    from .config import PublicChecks

bp = func.Blueprint()

log = logging.getLogger(__name__)

WIDGET = Path(__file__).with_name("widget.js")
# A new version of the script reaches pages within the hour; the ETag makes the check after that cheap.
WIDGET_MAX_AGE = 3600
# Seconds the next good time may add to a public answer when its profile must be read first (once a slot).
NEXT_GOOD_TIME_BUDGET = 5.0


@bp.route(route="public/availability/{alias}", auth_level=func.AuthLevel.ANONYMOUS)
@answers("GET", "OPTIONS")
def public_availability(req: func.HttpRequest) -> func.HttpResponse:
    """A published check's answer for web pages: no key, cacheable, readable from the allowed origins."""
    if req.method == "OPTIONS":
        return _preflight(req)
    alias = req.route_params.get("alias", "")

    def work(deadline: float) -> tuple[Any, str]:
        from .answer import parse_wording, public_answer
        from .caching import cache_control, entity_tag

        current = app.current()
        check = current.public_checks.check(alias)
        wording = parse_wording(req.params, check)
        service = current.service
        answer = service.check(check, deadline=deadline)
        good = _next_good_time(check.workstream_id, answer.queue_id, wording, deadline) if wording.next_good_time \
            else None
        now = utcnow()
        body = public_answer(alias, answer, now, wording, good)
        caching = cache_control(answer, now, service.cache_seconds, service.stale_seconds)
        return (body, entity_tag(body), caching), answer.source

    def render(result: tuple[dict[str, Any], str, str], correlation: str) -> func.HttpResponse:
        from .caching import not_modified

        body, tag, caching = result
        headers = {"Cache-Control": caching, "ETag": tag}
        if not_modified(req.headers.get("if-none-match"), tag):
            return func.HttpResponse(status_code=304, mimetype="application/json",
                                     headers={"x-correlation-id": correlation, **headers})
        return json_response(body, 200, correlation, headers)

    return _with_cors(req, handle("public-availability", req, work, render))


@bp.route(route="public/widget.js", auth_level=func.AuthLevel.ANONYMOUS)
@answers("GET")
def public_widget(req: func.HttpRequest) -> func.HttpResponse:
    """The drop-in script that shows a page's elements for the current status of one published check."""

    def render(script: tuple[bytes, str], correlation: str) -> func.HttpResponse:
        from .caching import not_modified

        payload, tag = script
        # Any page may load it, with Subresource Integrity (which needs CORS) or behind Cross-Origin-Embedder-Policy.
        headers = {"x-correlation-id": correlation, "Cache-Control": f"public, max-age={WIDGET_MAX_AGE}", "ETag": tag,
                   "Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin",
                   "X-Content-Type-Options": "nosniff"}
        if not_modified(req.headers.get("if-none-match"), tag):
            return func.HttpResponse(status_code=304, mimetype="text/javascript", headers=headers)
        return func.HttpResponse(payload, mimetype="text/javascript", charset="utf-8", headers=headers)

    return handle("public-widget", req, lambda deadline: (_widget(), "script"), render)


def _next_good_time(workstream_id: str, queue_id: str, wording: Wording, deadline: float) -> dict[str, Any] | None:
    """The published check's next good time, or None when the history cannot say (never an error of the answer)."""
    from ..besttimes.answer import next_good_time

    try:
        return next_good_time(app.current().profiles, workstream_id, queue_id=queue_id,
                              time_zone=wording.time_zone, language=wording.language,
                              deadline=min(deadline, time.monotonic() + NEXT_GOOD_TIME_BUDGET))
    except AvailabilityError as error:
        log.info("No next good time for a public answer: %s (%s)", error.message, error.code)
        return None


def _preflight(req: func.HttpRequest) -> func.HttpResponse:
    def render(public: PublicChecks, correlation: str) -> func.HttpResponse:
        from .cors import preflight_headers

        headers = preflight_headers(req.headers.get("origin"), public)
        return func.HttpResponse(status_code=204, headers={"x-correlation-id": correlation, **headers})

    def work(deadline: float) -> tuple[PublicChecks, str]:
        public = app.current().public_checks
        public.check(req.route_params.get("alias", ""))  # what GET would not answer has nothing to grant
        return public, "preflight"

    return handle("public-availability-preflight", req, work, render)


def _with_cors(req: func.HttpRequest, response: func.HttpResponse) -> func.HttpResponse:
    """`response` (an answer or an error: a page may read why) with the CORS headers for the request's origin."""
    from .cors import cors_headers

    try:
        public = app.current().public_checks
    except AvailabilityError:  # the settings cannot be read: no origin is known to be allowed
        return response
    for name, value in cors_headers(req.headers.get("origin"), public).items():
        response.headers[name] = value
    return response


@lru_cache(maxsize=1)
def _widget() -> tuple[bytes, str]:
    """The script and its ETag, read once, on first use."""
    from .caching import strong_tag

    payload = WIDGET.read_bytes()
    return payload, strong_tag(payload)
