"""The best-times answer: the suggestions of a workstream's history as the API gives them, and the one a web
page's `nextGoodTime` shows."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..answer import Availability, format_time
from ..errors import AvailabilityError, NotFound
from ..localtime import zone
from .cache import ProfileCache
from .query import BestTimesQuery
from .windows import DEFAULT_MIN_SHARE, MIN_WEEKS, Outlook, Window, suggest
from .wording import empty_message, window_message

if TYPE_CHECKING:
    from ..escalation import HourHistory

log = logging.getLogger(__name__)

PUBLIC_WITHIN = timedelta(days=7)  # a web page, or an agent, offers the next good time this week
HISTORY_BUDGET = 5.0  # seconds a decision waits for the history before it goes on without


def _share(value: float) -> float:
    return round(value, 3)


def suggestion_json(window: Window, now: datetime, time_zone: str | None, language: str) -> dict[str, Any]:
    """One suggestion as the API gives it."""
    return {
        "start": format_time(window.start),
        "end": format_time(window.end),
        "availableShare": _share(window.available_share),
        "shareLow": _share(window.share_low),
        "weeks": window.weeks,
        "waitSeconds": {"median": window.wait_median, "p90": window.wait_p90},
        "confidence": window.confidence,
        "message": window_message(window.start, window.end, now, time_zone, language),
    }


def outlook_json(outlook: Outlook, now: datetime, time_zone: str | None, language: str) -> dict[str, Any]:
    """The answer of `GET /api/workstreams/{id}/best-times` for `outlook`, worded in `language` for `time_zone`."""
    profile = outlook.profile
    suggestions = [suggestion_json(window, now, time_zone, language) for window in outlook.windows]
    reason = outlook.reason
    return {
        "workstreamId": profile.workstream_id,
        "basis": {
            "weeks": outlook.weeks,
            "snapshots": profile.snapshots,
            "from": format_time(profile.first),
            "to": format_time(profile.last),
            "minWeeks": outlook.min_weeks,
            "enough": outlook.enough_history,
            "timeZone": profile.zone_name,
        },
        "suggestions": suggestions,
        "reason": reason,
        "message": suggestions[0]["message"] if reason is None else empty_message(reason, language),
        "language": language,
    }


def best_times(profiles: ProfileCache, query: BestTimesQuery, *, deadline: float | None = None,
               listed: Callable[[str, float | None], bool] | None = None) -> dict[str, Any]:
    """The answer for `query`: the workstream's profile (cached per slot, no org call), its windows from now on.

    A workstream without a single snapshot is looked up with `listed` (the org's active workstreams, asked once per
    directory window): one it does not list is a mistaken id, answered `not_found`, not "not enough history yet".
    """
    profile = profiles.profile(query.workstream_id, deadline=deadline)
    if profile.snapshots == 0 and listed is not None and not listed(query.workstream_id, deadline):
        raise NotFound(message=f"No snapshot of the workstream {query.workstream_id} was ever recorded, and the org "
                               "does not list it among its active workstreams.", target="id")
    now = profiles.now()
    outlook = suggest(profile, now, count=query.count, within=query.within, min_share=query.min_share,
                      day_zone=zone(query.time_zone))
    return outlook_json(outlook, now, query.time_zone, query.language)


def next_good_time(profiles: ProfileCache, workstream_id: str, *, queue_id: str | None = None,
                   time_zone: str | None, language: str, deadline: float | None = None) -> dict[str, Any] | None:
    """The first suggestion of the coming week for a web page, without staffing figures; None when there is none.

    :keyword queue_id: the queue the check is routed to now: when the history never saw it (the check's context
        routes elsewhere than the snapshots' default route), the history says nothing of it.
    """
    profile = profiles.profile(workstream_id, deadline=deadline)
    if queue_id is not None and profile.queues and queue_id.lower() not in {q.lower() for q in profile.queues}:
        return None
    now = profiles.now()
    outlook = suggest(profile, now, count=1, within=PUBLIC_WITHIN, min_share=DEFAULT_MIN_SHARE,
                      day_zone=zone(time_zone))
    if not outlook.windows:
        return None
    window = outlook.windows[0]
    return {"start": format_time(window.start), "end": format_time(window.end), "confidence": window.confidence,
            "message": window_message(window.start, window.end, now, time_zone, language)}


def hour_history(profiles: ProfileCache, workstream_id: str, answer: Availability, now: datetime, *,
                 deadline: float) -> HourHistory | None:
    """What the workstream's history says for a decision about `answer` now (the gateway's clock): the spread of the
    waits recorded in this hour of the week, around the org's average, and the first good time of the coming week.

    None when the history cannot say in time, or says nothing of the queue the check is routed to now; a decision
    never fails for it.
    """
    from ..escalation import HourHistory, Suggestion

    try:
        profile = profiles.profile(workstream_id, deadline=min(deadline, time.monotonic() + HISTORY_BUDGET))
    except AvailabilityError as error:
        log.info("No history for a decision: %s (%s)", error.message, error.code)
        return None
    if profile.queues and answer.queue_id.lower() not in {queue.lower() for queue in profile.queues}:
        return None
    org_now = answer.org_now(now)
    cell = profile.hour(org_now)
    low = high = None
    spread, average = cell.wait_spread, answer.average_wait_seconds
    if spread is not None and average is not None and cell.weeks >= MIN_WEEKS:
        low, high = max(0, average - spread), average + spread
    outlook = suggest(profile, org_now, count=1, within=PUBLIC_WITHIN, min_share=DEFAULT_MIN_SHARE)
    best = None
    if outlook.windows:
        window = outlook.windows[0]
        best = Suggestion(window.start, window.end, window.confidence)
    return HourHistory(low, high, best)
