"""The public answer: what a web page may learn about a published check, worded for the `tz` and `lang` it asks.

It is the availability answer without the queue id, the staffing figures (representatives, position in queue)
and the freshness fields that change with every request (`source`, `ageSeconds`). The query can change the
wording only, and ask for the optional `nextGoodTime` (`include=nextGoodTime`): the check itself is the alias's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..answer import Availability, format_time
from ..checks import BeforeConversationCheck
from ..errors import InvalidRequest
from ..http.params import check_parameter_names
from ..language import is_language_tag, negotiate
from ..localtime import is_zone_name

PARAMETERS = ("tz", "lang", "include")
OPTIONAL_FIELDS = ("nextGoodTime",)  # what `include` may ask for, comma-separated


@dataclass(frozen=True)
class Wording:
    """How to word the message: a time zone (None: UTC) and a supported language; whether to add `nextGoodTime`."""

    time_zone: str | None
    language: str
    next_good_time: bool = False


def parse_wording(params: Mapping[str, str], check: BeforeConversationCheck) -> Wording:
    """`tz` and `lang` of the query (blank = absent), else the alias's own `timeZone` and `language`.

    Accept-Language is not read: a shared cache keys answers by URL, so the URL alone decides the wording.
    """
    check_parameter_names(params, PARAMETERS)
    time_zone, tag = _given(params, "tz"), _given(params, "lang")
    if time_zone is not None and not is_zone_name(time_zone):
        raise InvalidRequest("'tz' must be an IANA time zone name such as Europe/Paris.", target="tz")
    if tag is not None and not is_language_tag(tag):
        raise InvalidRequest("'lang' must be a BCP 47 language tag such as fr or pt-BR.", target="lang")
    included = {name.strip() for name in (_given(params, "include") or "").split(",") if name.strip()}
    if not included <= set(OPTIONAL_FIELDS):
        raise InvalidRequest(f"'include' may name only {', '.join(OPTIONAL_FIELDS)}.", target="include")
    return Wording(time_zone or check.time_zone, negotiate(tag or check.language), "nextGoodTime" in included)


def public_answer(alias: str, answer: Availability, now: datetime, wording: Wording,
                  next_good_time: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's public answer (`PublicAvailability`) for `alias`, with `nextGoodTime` when the wording asks."""
    body = {
        "alias": alias,
        "status": answer.status,
        "canEscalate": answer.can_escalate,
        "message": answer.message(now, wording.time_zone, wording.language),
        "language": wording.language,
        "averageWaitSeconds": answer.average_wait_seconds,
        "nextOpeningTime": format_time(answer.next_opening_time),
        "nextClosingTime": format_time(answer.next_closing_time),
        "retrievedAt": format_time(answer.retrieved_at, milliseconds=True),
    }
    if wording.next_good_time:
        body["nextGoodTime"] = next_good_time
    return body


def _given(params: Mapping[str, str], name: str) -> str | None:
    # Blank is absent, as a page's own form may send it; anything else is taken as it is, spaces included.
    value = params.get(name)
    return value if value is not None and value.strip() else None
