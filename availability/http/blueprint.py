"""HTTP functions: parse the request, ask the app's parts, render the answer or the error.

Everything past `azure.functions` and the composition root is imported inside the functions: importing the
app is the cold start. Each route is one function declared without methods, so that every method reaches the app
and those it does not answer get its 405 with `Allow` (`answers`), where the host would give an empty 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import azure.functions as func

from .. import __version__, app
from ..errors import AvailabilityError
from .respond import REQUEST_ID, answers, correlation_id, handle, json_body, json_response, utcnow

if TYPE_CHECKING:
    from ..checks import Check

bp = func.Blueprint()


@bp.route(route="availability/before-conversation")
@answers("POST")
def before_conversation(req: func.HttpRequest) -> func.HttpResponse:
    """Queue, hours and staffing a new customer of a workstream would meet."""

    def work(deadline: float) -> tuple[Any, str]:
        from ..checks import parse_before_conversation

        check = parse_before_conversation(json_body(req))
        answer = app.current().service.check(check, deadline=deadline)
        return answer.to_json(utcnow(), check.time_zone, _language(check, req)), answer.source

    return handle("before-conversation", req, work)


@bp.route(route="availability/for-conversation")
@answers("POST")
def for_conversation(req: func.HttpRequest) -> func.HttpResponse:
    """Queue, hours and staffing for an ongoing conversation (e.g. an AI agent about to escalate)."""

    def work(deadline: float) -> tuple[Any, str]:
        from ..checks import parse_for_conversation

        check = parse_for_conversation(json_body(req))
        answer = app.current().service.check(check, deadline=deadline)
        return answer.to_json(utcnow(), check.time_zone, _language(check, req)), answer.source

    return handle("for-conversation", req, work)


@bp.route(route="availability/batch")
@answers("POST")
def batch(req: func.HttpRequest) -> func.HttpResponse:
    """Several before-conversation checks in one call; each gets its own status."""

    def work(deadline: float) -> tuple[Any, str]:
        from ..checks import parse_batch

        parsed = parse_batch(json_body(req))
        valid = [check for check in parsed if not isinstance(check, AvailabilityError)]
        answers = iter(app.current().service.check_many(valid, deadline=deadline)) if valid else iter(())
        now = utcnow()
        results = []
        for index, check in enumerate(parsed):
            if isinstance(check, AvailabilityError):
                results.append(_failed_entry(index, check))
                continue
            outcome = next(answers)
            if isinstance(outcome, AvailabilityError):
                results.append(_failed_entry(index, outcome))
            else:
                results.append({"status": 200, "availability": outcome.to_json(now, check.time_zone,
                                                                                _language(check, req))})
        failed = sum(1 for r in results if r["status"] != 200)
        return {"results": results}, f"{len(results) - failed}/{len(results)} ok"

    return handle("batch", req, work)


@bp.route(route="escalation/decision")
@answers("POST")
def escalation_decision(req: func.HttpRequest) -> func.HttpResponse:
    """Whether an AI agent should hand the customer to a representative now: the decision, why, and what to say."""

    def work(deadline: float) -> tuple[Any, str]:
        from ..checks import parse_escalation
        from ..decision import decision_for

        request = parse_escalation(json_body(req))
        decision, now = decision_for(app.current(), request, deadline=deadline)
        check = request.check
        return decision.to_json(now, check.time_zone, _language(check, req)), decision.reason

    return handle("escalation-decision", req, work)


@bp.route(route="health", auth_level=func.AuthLevel.ANONYMOUS)
@answers("GET")
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: answers without calling upstream."""
    return json_response({"status": "ok", "version": __version__}, 200, correlation_id(req))


@bp.route(route="openapi.json", auth_level=func.AuthLevel.ANONYMOUS)
@answers("GET")
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3 document of this API, with this app's own address as its server."""
    from ..openapi import openapi_document

    origin = urlsplit(req.url)
    server = f"{origin.scheme}://{origin.netloc}" if origin.scheme and origin.netloc else None
    return json_response(openapi_document(server), 200, correlation_id(req))


@bp.route(route="snapshots")
@answers("GET")
def snapshots(req: func.HttpRequest) -> func.HttpResponse:
    """Availability history recorded by the snapshot timer, newest first."""

    def work(deadline: float) -> tuple[Any, str]:
        from dataclasses import replace

        from .params import parse_history_query

        current = app.current()
        query = parse_history_query(req.params, current.org_clock.now)  # as last learnt: a read asks no org
        # One row more than asked for tells whether the answer was cut at `limit`.
        rows = current.snapshot_store.history(replace(query, limit=query.limit + 1), deadline=deadline)
        truncated = len(rows) > query.limit
        rows = rows[:query.limit]
        return {"snapshots": [row.to_json() for row in rows], "truncated": truncated}, f"{len(rows)} rows"

    return handle("snapshots", req, work)


@bp.route(route="workstreams")
@answers("GET")
def workstreams(req: func.HttpRequest) -> func.HttpResponse:
    """The org's active workstreams, sorted by name, optionally of one channel: what a maker picks from."""

    def work(deadline: float) -> tuple[Any, str]:
        from .params import parse_workstreams_query

        channel = parse_workstreams_query(req.params)
        listing = app.current().workstreams.listing(deadline=deadline)
        return listing.to_json(channel), listing.source

    return handle("workstreams", req, work)


@bp.route(route="dashboard")
@answers("GET")
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """The supervisor dashboard: one self-contained HTML page (now, the last 24 hours, the hour-of-week heatmap)."""
    page: dict[str, str] = {}

    def work(deadline: float) -> tuple[Any, str]:
        from ..dashboard import dashboard_page

        # The page's "now" is the org's (as last learnt): its history is slotted on the org's clock.
        page["html"], page["nonce"] = dashboard_page(req.params, now=app.current().org_clock.now(),
                                                     deadline=deadline, **_dashboard_parts())
        return None, "html"

    response = handle("dashboard", req, work)  # errors (400 with target, ...) keep the API's JSON shape
    if response.status_code != 200:
        return response
    from ..dashboard import content_security_policy

    ids = {name: response.headers[name] for name in ("x-correlation-id", REQUEST_ID) if name in response.headers}
    return func.HttpResponse(page["html"], status_code=200, mimetype="text/html", charset="utf-8", headers={
        **ids, "Cache-Control": "no-store", "Content-Security-Policy": content_security_policy(page["nonce"]),
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


def _failed_entry(index: int, error: AvailabilityError) -> dict[str, Any]:
    """A batch entry's error, its target named within the batch (`checks[3].timeZone`)."""
    body = error.to_body()  # a copy: the error may be shared by identical checks
    target = body["error"].get("target")
    if target and not target.startswith("checks["):  # an upstream error names the field alone
        body["error"]["target"] = f"checks[{index}].{target}"
    return {"status": error.status, **body}


def _language(check: Check, req: func.HttpRequest) -> str:
    """The language `message` is worded in: the check's own tag, else the request's Accept-Language."""
    from ..language import negotiate

    return negotiate(check.language, req.headers.get("accept-language"))


def _dashboard_parts() -> dict[str, Any]:
    """The parts the page draws from; one that cannot be built is passed as its error (the page says so)."""
    parts: dict[str, Any] = {}
    current = app.current()
    try:
        parts["store"] = current.snapshot_store
        parts["profiles"] = current.profiles
    except AvailabilityError as exc:
        parts["store"] = parts["profiles"] = exc
    try:
        parts["service"], parts["configured"] = current.service, current.settings.snapshot_workstreams
    except AvailabilityError as exc:
        parts["service"], parts["configured"] = exc, None
    parts["directory"] = current.org_directory
    return parts
