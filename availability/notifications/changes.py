"""What a change is: an answer brought up to date by a snapshot row, since when a status holds (on the org's clock),
and what a delivery of it says."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from ..answer import Availability, format_time
from ..dataverse.clock import jumped
from ..snapshots import Snapshot
from .store import Subscription

__all__ = ["ASK", "change_body", "merge_snapshot", "status_since"]

ASK = object()  # merge_snapshot's "the row says the hours changed: ask"


def merge_snapshot(answer: Availability, row: Snapshot) -> Availability | object | None:
    """`answer` brought up to date with a snapshot row of its workstream: the new answer, `ASK` when the row shows
    more than staffing changed (another queue, the hours), or None when the row is not newer or holds an error."""
    if row.error or row.retrieved_at is None or row.retrieved_at <= answer.retrieved_at:
        return None
    offset = answer.clock_offset
    transition = answer.next_transition_time
    if (row.queue_id != answer.queue_id or row.within_operating_hours != answer.within_operating_hours
            or (transition is not None and transition <= row.retrieved_at + offset)):
        return ASK  # the row cannot give the new opening and closing times
    return replace(answer, representatives_available=bool(row.representatives_available),
                   available_representatives=row.available_representatives, position_in_queue=row.position_in_queue,
                   average_wait_seconds=row.average_wait_seconds, retrieved_at=row.retrieved_at,
                   org_time=(row.retrieved_at + offset) if answer.org_time else None, source="live")


def change_body(subscription: Subscription, answer: Availability, changed_at: datetime, now: datetime
                ) -> dict[str, Any]:
    """What a delivery tells: the status last told, the new one, and the whole answer, worded in the
    subscription's language and time zone."""
    return {"subscriptionId": subscription.id, "workstreamId": subscription.workstream_id,
            "previousStatus": subscription.seen_status, "status": answer.status, "canEscalate": answer.can_escalate,
            "changedAt": format_time(changed_at),
            "availability": answer.to_json(now, subscription.time_zone, subscription.language)}


def status_since(previous: Availability | None, answer: Availability, known: datetime | None) -> datetime:
    """Since when `answer`'s status holds, on the org's clock: the transition that changed it when there was one
    (it passed between the two answers), else when it was seen."""
    if previous is None or known is None:
        return answer.org_retrieved_at
    if (previous.status, previous.can_escalate) == (answer.status, answer.can_escalate):
        return known
    transition = previous.next_transition_time
    if transition is not None and previous.org_retrieved_at <= transition <= answer.org_retrieved_at \
            and not jumped(previous.clock_offset.total_seconds(), answer.clock_offset.total_seconds()):
        return transition  # (after a jump of the org's clock, much else may have happened between the two)
    return answer.org_retrieved_at
