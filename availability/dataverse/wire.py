"""The org's wire format: action names, request bodies, reading answers, errors and headers.

Requests are exact (double-encoded context JSON, datatype codes as strings); reading is tolerant (names in any
case, sentinel dates, older payloads without some fields). Nothing here sends anything.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ..answer import Availability
from ..checks import BeforeConversationCheck, Check, ContextItem, ForConversationCheck, is_guid
from ..errors import AvailabilityError, InvalidRequest, NotFound, UpstreamAuthFailed, UpstreamUnavailable
from ..localtime import utc

log = logging.getLogger(__name__)

BEFORE_CONVERSATION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
FOR_CONVERSATION = "CCaaS_GetRepresentativeAvailabilityForConversation"
ACTIONS = (BEFORE_CONVERSATION, FOR_CONVERSATION)
API_PATH = "/api/data/v9.2/"
API_VERSION = "1.0"
TEXT_DATATYPE = "192350000"
INTEGER_DATATYPE = "192350001"
MIN_RETRY_AFTER = 1.0  # seconds
# No Retry-After holds calls longer than this, whoever says it (the org, or a row of the shared state): Dataverse's
# own are seconds to a few minutes, and a longer one is more likely a fault than a wish.
MAX_RETRY_AFTER = 300.0


# ------------------------------------------------------------------------------------------------ requests


def action_of(check: Check) -> str:
    """The action that answers `check`."""
    return FOR_CONVERSATION if isinstance(check, ForConversationCheck) else BEFORE_CONVERSATION


def _context_entry(item: ContextItem) -> dict[str, Any]:
    datatype = INTEGER_DATATYPE if item.type == "integer" else TEXT_DATATYPE
    return {"value": item.value, "isDisplayable": item.is_displayable, "datatype": datatype}


def request_body(check: Check) -> dict[str, str]:
    """The action's request body; context objects are double-encoded (a JSON string inside the JSON body)."""
    body = {"ApiVersion": API_VERSION}
    if isinstance(check, BeforeConversationCheck):
        body["LiveWorkStreamId"] = check.workstream_id
    else:
        body["ConversationId"] = check.conversation_id
    if check.context_items:
        body["CustomContextItems"] = json.dumps({item.name: _context_entry(item) for item in check.context_items})
    if isinstance(check, BeforeConversationCheck) and check.engagement_context:
        body["ChannelEngagementContext"] = json.dumps(dict(check.engagement_context))
    return body


def not_found_message(check: Check) -> tuple[str, str]:
    """The 404's message and target for `check`."""
    if isinstance(check, ForConversationCheck):
        return (f"The conversation {check.conversation_id} is not known to the org or is not active.",
                "conversationId")
    return f"The workstream {check.workstream_id} is not known to the org.", "workstreamId"


# ------------------------------------------------------------------------------------------------ answers


def _malformed() -> UpstreamUnavailable:
    # Never echo the payload: it is upstream's data, not ours to show.
    return UpstreamUnavailable("Dynamics 365 gave an availability answer the gateway could not read.")


def _bool(fields: Mapping[str, Any], name: str) -> bool:
    value = fields.get(name)
    if not isinstance(value, bool):
        raise _malformed()
    return value


def _number(fields: Mapping[str, Any], name: str) -> int | float | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _malformed()
    # Dataverse numbers are Int32 or Double; anything beyond is not an answer we can trust (or float()).
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > 2**53:
        raise _malformed()
    return value


def _int(fields: Mapping[str, Any], name: str) -> int | None:
    value = _number(fields, name)
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise _malformed()
    return int(value)


def _time(fields: Mapping[str, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _malformed()
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _malformed() from None
    # 0001-01-01 and 9999-12-31 mean "no such time" whatever their precision or offset; checked before
    # converting to UTC, which would overflow at the edges of the calendar.
    if moment.year in (1, 9999):
        return None
    return utc(moment).replace(microsecond=0)


def _average_wait(fields: Mapping[str, Any]) -> int | None:
    seconds = _number(fields, "averagewaittimeinseconds")
    minutes = _number(fields, "averagewaittime")
    if seconds is not None:
        return round(seconds)
    return None if minutes is None else round(minutes * 60)


def parse_availability(payload: Any, retrieved_at: datetime, org_time: datetime | None = None) -> Availability:
    """Normalize an action's 200 body; raises `UpstreamUnavailable` when it lacks what an answer needs."""
    if not isinstance(payload, dict):
        raise _malformed()
    # The docs' table says camelCase, their samples PascalCase: match names case-insensitively.
    fields = {key.lower(): value for key, value in payload.items() if isinstance(key, str) and not key.startswith("@")}
    queue_id = fields.get("queueid")
    if not isinstance(queue_id, str) or not is_guid(queue_id.strip()):
        raise _malformed()
    return Availability(
        queue_id=queue_id.strip().lower(),
        within_operating_hours=_bool(fields, "isqueueavailable"),
        representatives_available=_bool(fields, "isagentavailable"),
        available_representatives=_int(fields, "numberofexpertsavailableinqueue"),
        position_in_queue=_int(fields, "positioninqueue"),
        average_wait_seconds=_average_wait(fields),
        next_transition_time=_time(fields, "nexttransitiontime"),
        next_opening_time=_time(fields, "starttimeofnextoperatinghour"),
        next_closing_time=_time(fields, "endtimeofnextoperatinghour"),
        retrieved_at=utc(retrieved_at),
        org_time=None if org_time is None else utc(org_time),
    )


# ---------------------------------------------------------------------------------------- headers, errors


def org_date(headers: Mapping[str, str]) -> datetime | None:
    """The org's clock from its `Date` header (1 s resolution); None when absent or unreadable."""
    value = headers.get("Date")
    if not value:
        return None
    try:
        return utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); 1 s to 300 s, and 1 s when unreadable.

    An HTTP date is the org's time: it is measured from the same answer's `Date` (the org's clock), else from `now`.
    """
    value = (headers.get("Retry-After") or "").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            since = org_date(headers) or now or datetime.now(UTC)
            seconds = (parsedate_to_datetime(value) - since).total_seconds()
        except (TypeError, ValueError, IndexError):
            seconds = MIN_RETRY_AFTER
    # 0, a past date or garbage must not turn into a tight loop against a throttling org.
    return MIN_RETRY_AFTER if math.isnan(seconds) else min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, seconds))


def error_message(payload: Any) -> str:
    """The Dataverse error message (`{"error": {"code", "message"}}`), trimmed; never the whole body."""
    try:
        return str(payload["error"]["message"])[:300]
    except (KeyError, TypeError):
        return ""


def client_error(status: int, message: str, not_found: str, target: str | None) -> AvailabilityError:
    """The gateway's error for a 4xx of the org."""
    if status == 404:
        return NotFound(message=not_found, target=target)
    if status == 400:
        # The org's own words go to the log, not to the caller (they may name the org's internals).
        log.warning("Dynamics 365 answered 400: %s", message or "(no message)")
        return InvalidRequest(message="Dynamics 365 rejected the request (for example a context item whose type "
                                      "differs from the one the org defines).")
    if status in (401, 403):
        return UpstreamAuthFailed(
            message="Dynamics 365 refused the app's credentials (the application user may be missing or lack "
                    "the Omnichannel administrator role).")
    if status == 405:
        return UpstreamUnavailable(message="Dynamics 365 does not allow this API in the org.")
    return UpstreamUnavailable(message=f"Dynamics 365 answered with HTTP {status}.")
