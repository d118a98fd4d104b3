"""The best-times answer: the suggestions of a workstream's history as the API gives them, and the one a web
page's `nextGoodTime` shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..answer import format_time
from ..localtime import zone
from .cache import ProfileCache
from .query import BestTimesQuery
from .windows import DEFAULT_MIN_SHARE, Outlook, Window, suggest
from .wording import empty_message, window_message

PUBLIC_WITHIN = timedelta(days=7)  # a web page offers the next good time this week


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


def best_times(profiles: ProfileCache, query: BestTimesQuery, *, deadline: float | None = None) -> dict[str, Any]:
    """The answer for `query`: the workstream's profile (cached per slot, no org call), its windows from now on."""
    profile = profiles.profile(query.workstream_id, deadline=deadline)
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
