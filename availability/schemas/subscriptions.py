"""Change subscriptions (`/api/subscriptions`): the request, what list and get show, the 201, and what a
delivery to the callback holds."""

from __future__ import annotations

from typing import Any

from .core import (
    CALLBACK_PATTERN,
    EXAMPLE_SUBSCRIPTION,
    EXAMPLE_WORKSTREAM,
    GUID,
    MAX_CALLBACK_LENGTH,
    MAX_SUBSCRIPTIONS_PER_WORKSTREAM,
    NULLABLE_INT,
    NULLABLE_WHEN,
    STATUS_MEANING,
    WHEN,
    ref,
    status_field,
    statuses,
)
from .fields import context_items, engagement_context, language_field, time_zone_field

__all__ = ["NOTIFY_ON_NAMES", "subscription_shapes"]

NOTIFY_ON_NAMES = {"status": "Every change of status", "canEscalate": "When escalation becomes possible or not"}


def subscription_shapes() -> dict[str, dict[str, Any]]:
    """The subscription request, `Subscription` and its list, the 201's `SubscriptionCreated`, `AvailabilityChange`."""
    when_delivered = {**NULLABLE_WHEN, "title": "Last delivery at",
                      "description": "UTC time of the last delivery attempt; null before the first."}
    status = status_field()
    subscription_id = {"type": "string", "format": "uuid", "title": "Subscription ID",
                       "examples": [EXAMPLE_SUBSCRIPTION],
                       "description": "The subscription's ID, as in its Location (/api/subscriptions/{id})."}
    workstream = {"type": "string", "format": "uuid", "title": "Workstream ID", "examples": [EXAMPLE_WORKSTREAM],
                  "description": "The workstream watched."}
    notify_on = {"type": "string", "enum": ["status", "canEscalate"], "title": "Notify on",
                 "_enum_names": NOTIFY_ON_NAMES,
                 "description": "status: every change of status; canEscalate: only when canEscalate changes."}
    created = {**WHEN, "title": "Created at", "description": "UTC time the subscription was made."}
    return {
        "SubscriptionRequest": {
            "type": "object",
            "title": "Change subscription",
            "description": "Where to send the changes of one check's availability, and which changes.",
            "required": ["callbackUrl", "workstreamId"],
            "additionalProperties": False,
            "properties": {
                "callbackUrl": {
                    "type": "string", "format": "uri", "maxLength": MAX_CALLBACK_LENGTH,
                    "pattern": CALLBACK_PATTERN, "title": "Callback URL", "_visibility": "internal",
                    "_notification_url": True, "_swagger": {"pattern": None, "examples": None},  # the platform fills it
                    "examples": ["https://hooks.contoso.com/availability"],
                    "description": "The https URL each change is sent to (POST, JSON, signed with the secret the "
                                   "201 answer gives). It must not resolve to a loopback, private or link-local "
                                   "address; http and such addresses are allowed only where the app setting "
                                   "NOTIFY_ALLOW_PRIVATE_CALLBACKS is true (local development). It is stored but "
                                   "never shown again: list and get show its host only.",
                    "_messages": {"*": "{subject} must be an absolute https URL of a host name, such as "
                                       "https://hooks.contoso.com/availability (no user name or password, no "
                                       f"fragment, at most {MAX_CALLBACK_LENGTH} characters)."},
                },
                "workstreamId": {
                    **GUID, "title": "Workstream", "_visibility": "important", "_pick": "workstream",
                    "examples": [EXAMPLE_WORKSTREAM],
                    "description": f"The workstream to watch: its ID (msdyn_liveworkstreamid), picked by name in the "
                                   f"connector; at most {MAX_SUBSCRIPTIONS_PER_WORKSTREAM} subscriptions per "
                                   "workstream.",
                },
                "contextItems": context_items(),
                "engagementContext": engagement_context(),
                "notifyOn": {
                    "type": ["string", "null"], "enum": ["status", "canEscalate", None], "default": "status",
                    "title": "Notify on", "_visibility": "important", "examples": ["canEscalate"],
                    "_enum_names": NOTIFY_ON_NAMES,
                    "description": f"status (default): a change is sent on every change of status "
                                   f"({', '.join(statuses())}). canEscalate: a change is sent only when a "
                                   "representative becomes free or stops being free. null is the same as leaving it "
                                   "out.",
                    "_messages": {"*": "{subject} must be status or canEscalate."},
                },
                "timeZone": time_zone_field(),
                "language": language_field(),
            },
        },
        "SubscriptionCreated": {
            "type": "object",
            "title": "New change subscription",
            "description": "The subscription just made, with its baseline status and the secret that signs its "
                           "deliveries (shown only here).",
            "required": ["id", "workstreamId", "notifyOn", "createdAt", "status", "secret"],
            "properties": {
                "id": subscription_id,
                "workstreamId": workstream,
                "notifyOn": notify_on,
                "createdAt": created,
                "status": {**status, "title": "Current status",
                           "description": "The status now: changes are measured against it. "
                                          + STATUS_MEANING},
                "secret": {"type": "string", "title": "Signing secret", "_visibility": "advanced",
                           "description": "Key of the HMAC-SHA256 signature each delivery carries in "
                                          "x-availability-signature (sha256=<hex of the raw body>). Shown only "
                                          "in this answer: keep it."},
            },
        },
        "Subscription": {
            "type": "object",
            "title": "Change subscription",
            "description": "A change subscription as list and get show it: never its full callback URL nor its "
                           "secret.",
            "required": ["id", "workstreamId", "notifyOn", "createdAt", "callbackHost", "lastDeliveryAt",
                         "lastDeliveryStatus", "lastResponseStatus", "consecutiveFailures", "enabled"],
            "properties": {
                "id": subscription_id,
                "workstreamId": workstream,
                "notifyOn": notify_on,
                "createdAt": created,
                "callbackHost": {"type": "string", "title": "Callback host", "examples": ["hooks.contoso.com"],
                                 "description": "The host of the callback URL (the rest, which may hold a "
                                                "signature, is never shown)."},
                "lastDeliveryAt": when_delivered,
                "lastDeliveryStatus": {
                    "type": ["string", "null"], "enum": ["delivered", "retrying", "failed", None],
                    "title": "Last delivery status",
                    "description": "delivered: the callback answered 2xx; retrying: it failed (5xx, 429, timeout) "
                                   "and is tried again with back-off; failed: it was refused (another 4xx, a "
                                   "redirect or an address not allowed) or given up; null before the first."},
                "lastResponseStatus": {**NULLABLE_INT, "title": "Last response status",
                                       "description": "HTTP status of the callback's last answer; null when it "
                                                      "gave none (timeout, refused address) or before the first."},
                "consecutiveFailures": {"type": "integer", "format": "int32", "minimum": 0,
                                        "title": "Consecutive failures",
                                        "description": "Failed attempts since the last delivery; at 10 the "
                                                       "subscription is disabled."},
                "enabled": {"type": "boolean", "title": "Enabled",
                            "description": "False once 10 attempts in a row failed: nothing more is sent (delete "
                                           "it and subscribe again)."},
            },
        },
        "SubscriptionList": {
            "type": "object",
            "title": "Change subscriptions",
            "required": ["subscriptions"],
            "properties": {
                "subscriptions": {"type": "array", "title": "Subscriptions", "items": ref("Subscription"),
                                  "description": "Every change subscription of this app, oldest first."},
            },
        },
        "AvailabilityChange": {
            "type": "object",
            "title": "Availability change",
            "description": "What the callback receives when the watched availability changes.",
            "required": ["subscriptionId", "workstreamId", "previousStatus", "status", "canEscalate", "changedAt",
                         "availability"],
            "properties": {
                "subscriptionId": subscription_id,
                "workstreamId": workstream,
                "previousStatus": {**status, "title": "Previous status",
                                   "description": "The status last sent (or the one when subscribing)."},
                "status": {**status, "title": "Status", "description": "The status now. " + STATUS_MEANING},
                "canEscalate": {"type": "boolean", "title": "Can escalate",
                                "description": "True exactly when status is available: a representative can take "
                                               "a customer now."},
                "changedAt": {**WHEN, "title": "Changed at",
                              "description": "UTC time of the change: the opening or closing time when the queue's "
                                             "hours changed it, else when the gateway saw it."},
                "availability": ref("Availability"),
            },
        },
    }
