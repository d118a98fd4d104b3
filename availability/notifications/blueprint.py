"""Blueprint: the change subscriptions API (`/api/subscriptions`) and the `notify_subscribers` timer.

The work is in subscriptions.py (the API) and watch.py (a run); everything past `azure.functions` and the
composition root is imported inside the functions, as importing the app is the cold start.

Each of the two routes is served by a function per operation (so that each may need a key of its own level: the
list needs the master key), so
none can be declared without methods: the one refusing declares every other method a Python function may declare
and answers them 405 with `Allow`. Methods no Python function can declare (TRACE, ...) get the host's empty 404
there.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from .. import app
from ..errors import AvailabilityError
from ..http.respond import answers, declared_besides, handle, json_body, json_response

log = logging.getLogger(__name__)
bp = func.Blueprint()

COLLECTION_METHODS = ("GET", "POST")  # of /api/subscriptions
ITEM_METHODS = ("DELETE", "GET")  # of /api/subscriptions/{id}


@bp.route(route="subscriptions", methods=declared_besides("GET"))
@answers("POST", allow=COLLECTION_METHODS, endpoint="subscriptions.create")
def create_subscription(req: func.HttpRequest) -> func.HttpResponse:
    """Subscribe a callback to the changes of one check's availability (the connector's trigger)."""

    def work(deadline: float) -> tuple[Any, str]:
        from .subscriptions import create_subscription as create
        from .subscriptions import created_json

        current = app.current()
        made, answer = create(json_body(req), accept_language=req.headers.get("accept-language"),
                              store=current.subscriptions, service=current.service,
                              allow_private=current.settings.private_callbacks(), deadline=deadline)
        return created_json(made, answer), "created"

    def created(body: Any, correlation: str) -> func.HttpResponse:
        from .subscriptions import location_of

        return json_response(body, 201, correlation, {"Location": location_of(req.url, body["id"])})

    return handle("subscriptions.create", req, work, render=created)


# Listing everyone's subscriptions is an operator's act: the master key only (the host refuses any other key with
# its empty 401). A subscription's own id, unguessable and shown only to whoever made it, opens it with any key.
@bp.route(route="subscriptions", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@answers("GET", allow=COLLECTION_METHODS, endpoint="subscriptions.list")
def list_subscriptions(req: func.HttpRequest) -> func.HttpResponse:
    """Every change subscription, without callback URLs or secrets (master key)."""

    def work(deadline: float) -> tuple[Any, str]:
        from .subscriptions import list_subscriptions as listed

        found = listed(app.current().subscriptions, deadline=deadline)
        return {"subscriptions": found}, f"{len(found)} subscriptions"

    return handle("subscriptions.list", req, work)


@bp.route(route="subscriptions/{id}", methods=["GET"])
@answers("GET", allow=ITEM_METHODS, endpoint="subscriptions.get")
def get_subscription(req: func.HttpRequest) -> func.HttpResponse:
    """One change subscription, without its callback URL or secret."""

    def work(deadline: float) -> tuple[Any, str]:
        from .subscriptions import find_subscription

        return find_subscription(app.current().subscriptions, req.route_params.get("id", ""),
                                 deadline=deadline).to_json(), "found"

    return handle("subscriptions.get", req, work)


@bp.route(route="subscriptions/{id}", methods=declared_besides("GET"))
@answers("DELETE", allow=ITEM_METHODS, endpoint="subscriptions.delete")
def delete_subscription(req: func.HttpRequest) -> func.HttpResponse:
    """Delete a change subscription: nothing more is sent to its callback (the connector's unsubscribe)."""

    def work(deadline: float) -> tuple[Any, str]:
        from .subscriptions import delete_subscription as delete

        delete(app.current().subscriptions, req.route_params.get("id", ""), deadline=deadline)
        return None, "deleted"

    def no_content(body: Any, correlation: str) -> func.HttpResponse:
        return func.HttpResponse(status_code=204, headers={"x-correlation-id": correlation,
                                                          "Cache-Control": "no-store"})

    return handle("subscriptions.delete", req, work, render=no_content)


@bp.timer_trigger(schedule="%NOTIFY_SCHEDULE%", arg_name="timer", run_on_startup=False)
def notify_subscribers(timer: func.TimerRequest) -> None:
    """Find the changes of every watched check and deliver them to their subscriptions."""
    try:
        app.current().notifier.run(past_due=bool(timer.past_due))
    except AvailabilityError as error:
        # Logged without a trace (a setting or storage problem, not a bug); raised so the invocation fails.
        log.error("Notify run failed: %s (%s)", error.message, error.code)
        raise
