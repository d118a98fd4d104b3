"""The change subscriptions API: make one, list them, get one, delete one.

Making one validates the body against its shape (`SubscriptionRequest` in schemas/: the check's fields are a
before-conversation check's, read by the same parser), checks the callback (guard.py), keeps to the documented
number of subscriptions per workstream, asks the current availability (the baseline changes are told against,
through the service and its cache) and stores the subscription with a new signing secret, shown only in the 201.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..answer import Availability, format_time
from ..checks import is_guid, parse_before_conversation, validated
from ..dataverse.clock import jumped
from ..errors import AvailabilityError, InvalidRequest, NotFound
from ..language import negotiate
from ..schemas import MAX_SUBSCRIPTIONS_PER_WORKSTREAM
from .guard import NOT_PUBLIC, Callback, CallbackRefused, CallbackUnresolved, resolve
from .store import LimitReached, Subscription, SubscriptionStore, Watch, check_key
from .watch import Checks

__all__ = [
    "create_subscription",
    "created_json",
    "delete_subscription",
    "find_subscription",
    "list_subscriptions",
    "location_of",
]

log = logging.getLogger(__name__)

CHECK_FIELDS = ("workstreamId", "contextItems", "engagementContext")
_NOT_FOUND = "No change subscription has this id."


def location_of(request_url: str, subscription_id: str) -> str:
    """The subscription's URL, the 201's Location: the URL the create request arrived on (in Azure the worker has
    the scheme and host the front end saw), without its query (which may hold the key), plus the id. The
    connector's platform sends its DELETE there, with the connection's key only if it is on the connector's host."""
    parts = urlsplit(request_url)
    return urlunsplit((parts.scheme, parts.netloc, f"{parts.path.rstrip('/')}/{subscription_id}", "", ""))


def create_subscription(body: Any, *, accept_language: str | None, store: SubscriptionStore, service: Checks,
                        allow_private: bool, deadline: float | None = None,
                        now: Callable[[], datetime] = lambda: datetime.now(UTC)
                        ) -> tuple[Subscription, Availability]:
    """Validate, check and store a new subscription; returns it with its baseline answer.

    :raises InvalidRequest: the body, its callback URL, or one subscription too many for the workstream.
    :raises AvailabilityError: what the baseline check or storage answered (404 for an unknown workstream, ...).
    """
    data = validated("SubscriptionRequest", body)
    check = parse_before_conversation({name: data[name] for name in CHECK_FIELDS if name in data})
    callback = _allowed_callback(data["callbackUrl"], allow_private)
    store.ensure_table(deadline)
    if store.count(check.workstream_id, deadline=deadline) >= MAX_SUBSCRIPTIONS_PER_WORKSTREAM:
        raise _too_many()  # before asking the org; the count made with the row decides
    answer = service.check(check, deadline=deadline)
    subscription = Subscription(
        id=str(uuid.uuid4()), workstream_id=check.workstream_id,
        check_body={name: data[name] for name in CHECK_FIELDS[1:] if data.get(name) is not None},
        check_key=check_key(check), notify_on=data.get("notifyOn") or "status",
        language=negotiate(data.get("language"), accept_language), time_zone=data.get("timeZone"),
        created_at=now().replace(microsecond=0), callback_url=data["callbackUrl"], secret=secrets.token_urlsafe(32),
        callback_host=callback.host, seen_status=answer.status, seen_can_escalate=answer.can_escalate,
        seen_at=answer.retrieved_at)
    try:
        subscription = store.insert(subscription, limit=MAX_SUBSCRIPTIONS_PER_WORKSTREAM, deadline=deadline)
    except LimitReached:
        raise _too_many() from None
    _seed_watch(store, subscription.check_key, answer, deadline)
    log.info("Subscription %s made for workstream %s, calling back %s", subscription.id, subscription.workstream_id,
             subscription.callback_host)
    return subscription, answer


def created_json(subscription: Subscription, answer: Availability) -> dict[str, Any]:
    """The 201's body: the only answer that holds the secret."""
    return {"id": subscription.id, "workstreamId": subscription.workstream_id, "notifyOn": subscription.notify_on,
            "createdAt": format_time(subscription.created_at), "status": answer.status,
            "secret": subscription.secret}


def list_subscriptions(store: SubscriptionStore, *, deadline: float | None = None) -> list[dict[str, Any]]:
    return [subscription.to_json() for subscription in store.subscriptions(deadline=deadline)]


def find_subscription(store: SubscriptionStore, subscription_id: str, *, deadline: float | None = None
                      ) -> Subscription:
    """The subscription, or `NotFound` (for an id that is not even a GUID too)."""
    found = store.get(subscription_id, deadline=deadline) if is_guid(subscription_id) else None
    if found is None:
        raise NotFound(_NOT_FOUND)
    return found


def delete_subscription(store: SubscriptionStore, subscription_id: str, *, deadline: float | None = None) -> None:
    """Delete the subscription: nothing more is sent to it; `NotFound` when there is none."""
    found = find_subscription(store, subscription_id, deadline=deadline)
    store.delete(found.id, deadline=deadline)
    log.info("Subscription %s deleted", found.id)


def _allowed_callback(url: str, allow_private: bool) -> Callback:
    try:
        callback = Callback.parse(url)
        if not allow_private:  # with the setting every address is allowed: nothing to resolve now
            resolve(callback)
    except CallbackRefused as exc:
        raise InvalidRequest(f"callbackUrl is not allowed: {exc.reason}.", target="callbackUrl") from None
    except CallbackUnresolved:
        # Said as an address not allowed is: two answers would tell a caller which internal names exist.
        raise InvalidRequest(f"callbackUrl is not allowed: {NOT_PUBLIC}.", target="callbackUrl") from None
    return callback


def _too_many() -> InvalidRequest:
    return InvalidRequest(f"The workstream already has {MAX_SUBSCRIPTIONS_PER_WORKSTREAM} change subscriptions, the "
                          "most it may have; delete one first.", target="workstreamId")


def _seed_watch(store: SubscriptionStore, key: str, answer: Availability, deadline: float | None) -> None:
    """Give a check watched for the first time its answer (and so its next transition) at once, or anew when the
    org's clock moved since the watch's answer (it then tells nothing of now); best effort."""
    try:
        known = store.watch(key, deadline=deadline)
        offset = answer.clock_offset.total_seconds()
        if known is None or known.answer is None or jumped(known.answer.clock_offset.total_seconds(), offset):
            store.save_watch(Watch(key, answer, answer.org_retrieved_at), deadline=deadline)
    except AvailabilityError as exc:  # the next run asks instead
        log.warning("The watch of a new subscription was not written: %s", exc.message)
