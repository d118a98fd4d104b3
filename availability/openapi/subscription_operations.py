"""Change subscriptions: the connector's webhook trigger, its management, and what the callbacks are sent."""

from __future__ import annotations

from typing import Any

from ..schemas import DELIVERY_HEADER as DELIVERY
from ..schemas import SIGNATURE_HEADER as SIGNATURE
from ..schemas import TIMED_SIGNATURE_HEADER as TIMED_SIGNATURE
from . import examples
from .operation import (
    CHECK_ERRORS,
    Body,
    Notification,
    Ok,
    Operation,
)

_SUBSCRIPTION_ID: dict[str, Any] = {
    "name": "id", "in": "path", "required": True, "title": "Subscription ID",
    "description": "The subscription's ID, as in the Location of its 201.",
    "schema": {"type": "string"}, "example": examples.SUBSCRIPTION,
}
_NOT_A_SUBSCRIPTION = {404: ("not_found: no change subscription has this ID.", ("not_found",))}
_STORAGE_FAULT = {503: ("upstream_unavailable (the subscriptions table cannot be reached) or configuration_error "
                        "(AzureWebJobsStorage is missing or refused).",
                        ("upstream_unavailable", "configuration_error"))}


def subscription_operations() -> list[Operation]:
    bodies = examples.subscription_requests()
    return [
        Operation(
            path="/subscriptions", method="post",
            operation_id="WhenAvailabilityChanges", tag="Notifications", connector=True, trigger="single",
            visibility="important",
            summary="When availability changes",
            description=(
                "Starts when a workstream's availability changes: when its queue opens or closes, or when a "
                "representative becomes free or stops being free. Pick the workstream to watch (with the context "
                "items its routing reads, if any) and whether to start on every change of status or only when a "
                "customer can, or can no longer, be escalated to a representative. A change at an opening or "
                "closing is sent within 90 seconds; a change of staffing within one snapshot interval (5 minutes by "
                "default). Each change carries the previous and the new status and the whole availability answer, "
                "with a sentence a bot can say as is. Use it instead of checking again and again."
            ),
            body=Body("SubscriptionRequest", "Subscription",
                      "The callback to call, the workstream to watch and which changes to send.",
                      {"status": {"summary": "Every change of status", "value": bodies["status"]},
                       "canEscalate": {"summary": "Only when escalating becomes possible or impossible, in French",
                                       "value": bodies["canEscalate"]}}),
            ok=Ok("SubscriptionCreated", "The subscription, with the status now (the baseline) and the secret that "
                                         "signs its deliveries, shown only here.", status=201,
                  headers={"Location": {"description": "The subscription's absolute URL, on the host the request "
                                                       "arrived on (https://<app>/api/subscriptions/{id}): a DELETE "
                                                       "there with the same key ends it.",
                                        "schema": {"type": "string", "format": "uri"}}},
                  examples={"created": {"summary": "Made while the queue is closed",
                                        "value": examples.subscription_created()}}),
            errors=CHECK_ERRORS,
            error_notes={
                400: ("invalid_request: a missing or invalid field (target names it): a callbackUrl that is not "
                      "https on port 443 or does not resolve to public addresses only, a workstreamId that is not a "
                      "GUID, context items the checks would refuse; or the workstream already has the most "
                      "subscriptions it may have.", ("invalid_request",)),
                404: ("not_found: Dynamics 365 does not know the workstream.", ("not_found",)),
            },
            notification=Notification(
                "AvailabilityChange", "A change of availability",
                "Sent to the subscription's callbackUrl (POST, JSON) when the watched field changes. Headers: "
                f"{TIMED_SIGNATURE} is t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<delivery ID>.<raw body>\" "
                "keyed with the subscription's secret>: check it and refuse a t more than 5 minutes from your clock, "
                f"so that a copy sent again later or under another ID fails; {SIGNATURE} is sha256= and the hex "
                f"HMAC-SHA256 of the raw body alone; {DELIVERY} is the delivery's ID, the same on every retry. "
                "Answer 2xx to take it, with the status line within 5 seconds of the connection (nothing after it is "
                "read); 5xx, 429 or no status line in time is retried with back-off; 410 deletes the subscription; "
                "after 10 failures in a row it is disabled.",
                headers=(
                    {"name": TIMED_SIGNATURE, "in": "header", "required": True,
                     "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<delivery ID>.<raw body>\", keyed "
                                    "with the subscription's secret>. Refuse a t more than 5 minutes from your clock.",
                     "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"}},
                    {"name": SIGNATURE, "in": "header", "required": True,
                     "description": "sha256=<hex HMAC-SHA256 of the raw body, keyed with the subscription's secret>.",
                     "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"}},
                    {"name": DELIVERY, "in": "header", "required": True,
                     "description": "The delivery's ID: the same on every retry of one change.",
                     "schema": {"type": "string", "format": "uuid"}},
                ),
                examples={"opened": {"summary": "The queue opened", "value": examples.availability_change()}}),
        ),
        Operation(
            path="/subscriptions", method="get",
            operation_id="ListSubscriptions", tag="Notifications", admin=True,
            summary="List change subscriptions",
            description="Every change subscription of this app, oldest first, with how its last delivery went; never "
                        "a callback URL (only its host) nor a secret. Needs the master key: it lists everyone's "
                        "subscriptions, with the ids that open them.",
            ok=Ok("SubscriptionList", "The subscriptions.",
                  examples={"one": {"summary": "One subscription", "value": {"subscriptions": [
                      examples.subscription()]}}}),
            errors=(401, 500, 503),
            error_notes={401: ("The master key is missing or wrong: any other key (a function or host key) is refused "
                               "by the Functions host, with an empty body.", ()), **_STORAGE_FAULT},
        ),
        Operation(
            path="/subscriptions/{id}", method="get",
            operation_id="GetSubscription", tag="Notifications",
            summary="Get a change subscription",
            description="One change subscription and how its last delivery went; never its callback URL (only its "
                        "host) nor its secret. Its ID, unguessable and shown only to whoever made it, is what opens "
                        "it, with any key of the app.",
            parameters=(_SUBSCRIPTION_ID,),
            ok=Ok("Subscription", "The subscription.",
                  examples={"delivered": {"summary": "Last delivery taken", "value": examples.subscription()}}),
            errors=(401, 404, 500, 503),
            error_notes={**_NOT_A_SUBSCRIPTION, **_STORAGE_FAULT},
        ),
        Operation(
            path="/subscriptions/{id}", method="delete",
            operation_id="DeleteSubscription", tag="Notifications", connector=True, visibility="internal",
            summary="Delete a change subscription",
            description="Ends a change subscription: nothing more is sent to its callback. The platform calls it "
                        "when a flow using the trigger is turned off or deleted.",
            parameters=(_SUBSCRIPTION_ID,),
            ok=Ok(None, "Deleted.", media=None, status=204),
            errors=(401, 404, 500, 503),
            error_notes={**_NOT_A_SUBSCRIPTION, **_STORAGE_FAULT},
        ),
    ]
