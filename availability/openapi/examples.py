"""Sample bodies for the documents: answers as the answer model renders them, requests the API accepts (a test
checks), and every error body as the error tree words it."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from .. import errors
from ..schemas import EXAMPLE_CONVERSATION as CONVERSATION
from ..schemas import EXAMPLE_QUEUE as QUEUE
from ..schemas import EXAMPLE_SUBSCRIPTION as SUBSCRIPTION
from ..schemas import EXAMPLE_WORKSTREAM as WORKSTREAM

if TYPE_CHECKING:
    from ..notifications.store import Subscription

# The sample ids (the schemas' own) are part of the module's face: the operations' parameters show them too.
__all__ = ["CONVERSATION", "QUEUE", "QUEUE_FR", "SUBSCRIPTION", "WORKSTREAM", "WORKSTREAM_2", "answers",
           "availability_change", "batch_request", "batch_response", "before_conversation", "best_times",
           "error_bodies", "escalation_decisions", "escalation_requests", "for_conversation", "public_answer",
           "snapshots", "subscription", "subscription_created", "subscription_requests", "workstreams"]

WORKSTREAM_2 = "8e4f2b1a-3c5d-4a6e-8f7b-9c0d1e2f3a4b"
QUEUE_FR = "1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


def answers() -> dict[str, dict[str, Any]]:
    """An available, a busy (from cache) and a closed answer, rendered by the answer model itself (worded for
    Europe/Paris), so the sample sentences are always the app's own."""
    from datetime import datetime, timedelta

    from ..answer import Availability

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    def rendered(answer: Availability, age: float) -> dict[str, Any]:
        return answer.to_json(answer.retrieved_at + timedelta(seconds=age), "Europe/Paris")

    open_: dict[str, Any] = {"within_operating_hours": True, "next_transition_time": at("2026-11-24T17:00:00Z"),
                             "next_opening_time": None, "next_closing_time": None,
                             "retrieved_at": at("2026-11-24T14:02:11.250Z")}
    available = Availability(queue_id=QUEUE, representatives_available=True, available_representatives=3,
                             position_in_queue=3, average_wait_seconds=90, **open_)
    busy = Availability(queue_id=QUEUE, representatives_available=False, available_representatives=0,
                        position_in_queue=6, average_wait_seconds=340, source="cache", **open_)
    closed = Availability(queue_id=QUEUE_FR, within_operating_hours=False, representatives_available=False,
                          available_representatives=None, position_in_queue=1, average_wait_seconds=None,
                          next_transition_time=at("2026-11-25T07:00:00Z"), next_opening_time=at("2026-11-25T07:00:00Z"),
                          next_closing_time=at("2026-11-25T17:00:00Z"), retrieved_at=at("2026-11-24T20:15:00Z"))
    return {"available": rendered(available, 0.004), "busy": rendered(busy, 7.5), "closed": rendered(closed, 0.012)}


def before_conversation() -> dict[str, dict[str, Any]]:
    return {
        "minimal": {"workstreamId": WORKSTREAM},
        "withContext": {
            "workstreamId": WORKSTREAM,
            "contextItems": {"Language": "fr", "Tier": 2},
            "engagementContext": {"msdyn_browser": "Edge"},
            "timeZone": "Europe/Paris",
        },
        "longForm": {
            "workstreamId": WORKSTREAM,
            "contextItems": {"Tier": {"value": 2, "type": "integer", "isDisplayable": False}},
        },
    }


def for_conversation() -> dict[str, dict[str, Any]]:
    return {
        "minimal": {"conversationId": CONVERSATION},
        "withContext": {"conversationId": CONVERSATION, "contextItems": {"Language": "fr"},
                        "timeZone": "Europe/Paris"},
    }


def batch_request() -> dict[str, Any]:
    return {"checks": [
        {"workstreamId": WORKSTREAM, "contextItems": {"Language": "fr"}, "timeZone": "Europe/Paris"},
        {"workstreamId": WORKSTREAM_2},
    ]}


def batch_response() -> dict[str, Any]:
    return {"results": [
        {"status": 200, "availability": answers()["closed"]},
        {"status": 404, **errors.NotFound(target="checks[1].workstreamId").to_body()},
    ]}


def escalation_requests() -> dict[str, dict[str, Any]]:
    return {
        "conversation": {"conversationId": CONVERSATION},
        "withLimit": {"conversationId": CONVERSATION, "maxWaitSeconds": 300, "language": "fr",
                      "timeZone": "Europe/Paris"},
        "beforeConversation": {"workstreamId": WORKSTREAM, "contextItems": {"Language": "fr"}},
    }


def escalation_decisions() -> dict[str, dict[str, Any]]:
    """An escalate, an offer_alternative and a closed decision, made and worded by the decision's own rules."""
    from datetime import datetime, timedelta

    from ..answer import Availability
    from ..escalation import decide

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    retrieved = at("2026-11-24T14:02:11.250Z")

    def busy_with(wait: int, position: int) -> Availability:
        return Availability(queue_id=QUEUE, within_operating_hours=True, representatives_available=False,
                            available_representatives=0, position_in_queue=position, average_wait_seconds=wait,
                            next_transition_time=at("2026-11-24T17:00:00Z"), next_opening_time=None,
                            next_closing_time=None, retrieved_at=retrieved)

    busy, long = busy_with(600, 6), busy_with(1500, 14)
    closed = Availability(queue_id=QUEUE_FR, within_operating_hours=False, representatives_available=False,
                          available_representatives=None, position_in_queue=1, average_wait_seconds=None,
                          next_transition_time=at("2026-11-25T07:00:00Z"), next_opening_time=at("2026-11-25T07:00:00Z"),
                          next_closing_time=at("2026-11-25T17:00:00Z"), retrieved_at=at("2026-11-24T20:15:00Z"))
    now = retrieved + timedelta(seconds=0.004)
    return {
        "shortWait": decide(busy, max_wait=600, now=now).to_json(now, "Europe/Paris"),
        "longWait": decide(long, max_wait=300, now=now).to_json(now, "Europe/Paris", "fr"),
        "closed": decide(closed, max_wait=600, now=closed.retrieved_at).to_json(closed.retrieved_at, "Europe/Paris"),
    }


def public_answer(next_good_time: bool = False) -> dict[str, Any]:
    """A public answer for the alias "support", rendered by the public endpoint's own code (closed, worded in French
    for Europe/Paris), with the next good time when asked."""
    from datetime import datetime, timedelta

    from ..answer import Availability
    from ..public.answer import Wording, public_answer

    retrieved = datetime(2026, 11, 24, 20, 15, tzinfo=UTC)
    closed = Availability(queue_id=QUEUE_FR, within_operating_hours=False, representatives_available=False,
                          available_representatives=None, position_in_queue=1, average_wait_seconds=None,
                          next_transition_time=datetime(2026, 11, 25, 7, tzinfo=UTC),
                          next_opening_time=datetime(2026, 11, 25, 7, tzinfo=UTC),
                          next_closing_time=datetime(2026, 11, 25, 17, tzinfo=UTC), retrieved_at=retrieved)
    good = None
    if next_good_time:
        from ..besttimes.wording import window_message

        start, end = retrieved + timedelta(hours=11, minutes=45), retrieved + timedelta(hours=14, minutes=45)
        good = {"start": "2026-11-25T08:00:00Z", "end": "2026-11-25T11:00:00Z", "confidence": "high",
                "message": window_message(start, end, retrieved, "Europe/Paris", "fr")}
    return public_answer("support", closed, retrieved + timedelta(seconds=3),
                         Wording("Europe/Paris", "fr", next_good_time), good)


def best_times() -> dict[str, dict[str, Any]]:
    """Best times rendered by the best-times code itself from a history of office hours (weekdays 09:00-17:00 UTC,
    nobody free at lunch): with 8 weeks of it, worded in French for Europe/Paris; with one week, the plain answer
    that there is not enough history."""
    from datetime import UTC, datetime, timedelta

    from ..besttimes.answer import outlook_json
    from ..besttimes.windows import suggest
    from ..snapshots import Profile, Snapshot

    now = datetime(2026, 11, 24, 14, 20, tzinfo=UTC)  # a Tuesday

    def profile(weeks: int) -> Profile:
        rows = []
        moment = now - timedelta(weeks=weeks)
        while moment < now:
            open_ = moment.weekday() < 5 and 9 <= moment.hour < 17
            busy = moment.hour == 12 or (moment.hour == 16 and moment.minute == 5)  # lunch; a late-afternoon lapse
            status = "closed" if not open_ else "busy" if busy else "available"
            rows.append(Snapshot(workstream_id=WORKSTREAM, captured_at=moment, queue_id=QUEUE, status=status,
                                 within_operating_hours=open_, representatives_available=status == "available",
                                 average_wait_seconds=60 + 30 * (moment.hour % 3) if open_ else None))
            moment += timedelta(minutes=5)
        return Profile.from_rows(WORKSTREAM, rows, zone_name="UTC", zone=UTC,
                                 start=now - timedelta(weeks=weeks), end=now)

    return {"suggestions": outlook_json(suggest(profile(8), now, count=3), now, "Europe/Paris", "fr"),
            "notEnoughHistory": outlook_json(suggest(profile(1), now, count=3), now, "Europe/Paris", "fr")}


def snapshots() -> dict[str, Any]:
    return {"snapshots": [
        {"workstreamId": WORKSTREAM, "queueId": QUEUE, "capturedAt": "2026-11-24T14:05:00Z",
         "status": "available", "withinOperatingHours": True, "representativesAvailable": True,
         "availableRepresentatives": 3, "positionInQueue": 3, "averageWaitSeconds": 90, "error": None},
        {"workstreamId": WORKSTREAM, "queueId": None, "capturedAt": "2026-11-24T14:00:00Z",
         "status": None, "withinOperatingHours": None, "representativesAvailable": None,
         "availableRepresentatives": None, "positionInQueue": None, "averageWaitSeconds": None,
         "error": "upstream_timeout"},
    ], "truncated": False}


def error_bodies() -> dict[str, dict[str, Any]]:
    """Error code → a body of that code, worded by the error tree itself."""
    samples: list[errors.AvailabilityError] = [
        errors.InvalidRequest("workstreamId must be a GUID such as 00000000-0000-0000-0000-000000000000.",
                              target="workstreamId"),
        errors.Unauthorized(),
        errors.NotFound(target="workstreamId"),
        errors.UpstreamAuthFailed(),
        errors.UpstreamThrottled(retry_after=30),
        errors.UpstreamUnavailable(),
        errors.ConfigurationError(setting="DATAVERSE_URL"),
        errors.UpstreamTimeout(),
        errors.InternalError(),
    ]
    return {error.code: error.to_body() for error in samples}


_CALLBACK = "https://prod-27.westeurope.logic.azure.com/workflows/5e1c/triggers/manual/paths/invoke?sig=REDACTED"


def subscription_requests() -> dict[str, dict[str, Any]]:
    return {
        "status": {"callbackUrl": _CALLBACK, "workstreamId": WORKSTREAM},
        "canEscalate": {"callbackUrl": "https://hooks.contoso.com/availability", "workstreamId": WORKSTREAM,
                        "contextItems": {"Language": "fr"}, "notifyOn": "canEscalate", "language": "fr",
                        "timeZone": "Europe/Paris"},
    }


def _subscription() -> Subscription:
    """A subscription as the store holds it, to render the examples with the model's own code."""
    from datetime import datetime

    from ..notifications.store import Subscription

    return Subscription(
        id=SUBSCRIPTION, workstream_id=WORKSTREAM, check_body={}, check_key="0" * 32, notify_on="status",
        language="en", time_zone="Europe/Paris", created_at=datetime(2026, 11, 24, 20, 15, 3, tzinfo=UTC),
        callback_url=_CALLBACK, secret="example-secret",  # noqa: S106 - a documentation example
        callback_host="prod-27.westeurope.logic.azure.com",
        seen_status="closed", seen_can_escalate=False,
        seen_at=datetime(2026, 11, 24, 20, 15, 3, tzinfo=UTC), last_delivery_status="delivered",
        last_delivery_at=datetime(2026, 11, 25, 7, 0, 2, tzinfo=UTC), last_response_status=202)


def subscription_created() -> dict[str, Any]:
    from dataclasses import replace

    from ..answer import Availability
    from ..notifications.subscriptions import created_json

    made = replace(_subscription(), secret="hV2sJ0q8Zb4mN7cT1xW9yR3kL6pA5dF2gE8uI0oQ4sY")  # noqa: S106 - an example
    baseline = Availability(queue_id=QUEUE, within_operating_hours=False, representatives_available=False,
                            available_representatives=None, position_in_queue=1, average_wait_seconds=None,
                            next_transition_time=None, next_opening_time=None, next_closing_time=None,
                            retrieved_at=made.created_at)
    return created_json(made, baseline)


def subscription() -> dict[str, Any]:
    return _subscription().to_json()


def availability_change() -> dict[str, Any]:
    """What the callback receives when the queue opens, built by the code that builds deliveries."""
    from datetime import datetime, timedelta

    from ..answer import Availability
    from ..notifications.changes import change_body

    opened = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    answer = Availability(queue_id=QUEUE, within_operating_hours=True, representatives_available=True,
                          available_representatives=2, position_in_queue=1, average_wait_seconds=30,
                          next_transition_time=datetime(2026, 11, 25, 17, 0, tzinfo=UTC),
                          next_opening_time=None, next_closing_time=None, retrieved_at=opened + timedelta(seconds=2))
    return change_body(_subscription(), answer, opened, answer.retrieved_at + timedelta(milliseconds=40))


def workstreams() -> dict[str, Any]:
    """The org's workstreams as `GET /api/workstreams` lists them."""
    from ..workstreams import Workstream

    listed = [Workstream(WORKSTREAM_2, "Phone support", 192440000),
              Workstream("3a9e6c1d-2b4f-4e8a-9c7d-5f1e0a2b3c4d", "Text messages", 192340000),
              Workstream(WORKSTREAM, "Website chat", 192360000)]
    return {"workstreams": [w.to_json() for w in listed], "source": "cache"}
