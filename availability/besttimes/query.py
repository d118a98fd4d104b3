"""What `GET /api/workstreams/{id}/best-times` asks: which workstream, how many suggestions, how far ahead, how
staffed they must have been, and how to word them. Every fault is an `InvalidRequest` naming its parameter."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from ..errors import InvalidRequest
from ..http.params import check_parameter_names, guid_parameter, zone_parameter
from ..language import is_language_tag, negotiate
from .windows import DEFAULT_COUNT, DEFAULT_MIN_SHARE, DEFAULT_WITHIN_HOURS, MAX_COUNT, MAX_WITHIN_HOURS

PARAMETERS = ("count", "within", "minAvailableShare", "tz", "lang")
_NUMBER = re.compile(r"[0-9.eE+-]{1,32}")  # what float() reads, without its spaces, underscores, nan and inf


@dataclass(frozen=True)
class BestTimesQuery:
    """A request for best times: `within` hours ahead, each hour of a window free at least `min_share` of the time."""

    workstream_id: str
    count: int = DEFAULT_COUNT
    within_hours: int = DEFAULT_WITHIN_HOURS
    min_share: float = DEFAULT_MIN_SHARE
    time_zone: str | None = None
    language: str = "en"

    @property
    def within(self) -> timedelta:
        return timedelta(hours=self.within_hours)


def parse_best_times_query(workstream_id: str, params: Mapping[str, str],
                           accept_language: str | None = None) -> BestTimesQuery:
    """Validate the route's workstream id and the query; `lang` (else `Accept-Language`) picks the language."""
    check_parameter_names(params, PARAMETERS)
    workstream = guid_parameter({"id": workstream_id}, "id")
    assert workstream is not None  # the route always has one
    tag = (params.get("lang") or "").strip() or None
    if tag is not None and not is_language_tag(tag):
        raise InvalidRequest("'lang' must be a BCP 47 language tag such as fr or pt-BR.", target="lang")
    return BestTimesQuery(
        workstream_id=workstream,
        count=_whole(params, "count", DEFAULT_COUNT, 1, MAX_COUNT),
        within_hours=_whole(params, "within", DEFAULT_WITHIN_HOURS, 1, MAX_WITHIN_HOURS),
        min_share=_share(params, "minAvailableShare", DEFAULT_MIN_SHARE),
        time_zone=zone_parameter(params, "tz"),
        language=negotiate(tag, accept_language))


def _whole(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    # isdigit() alone takes other scripts' digits (and int() reads them): ASCII only.
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and low <= int(text) <= high):
        raise InvalidRequest(f"'{name}' must be a whole number from {low} to {high}.", target=name)
    return int(text)


def _share(params: Mapping[str, str], name: str, default: float) -> float:
    raw = params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    problem = InvalidRequest(f"'{name}' must be a number from 0 to 1, such as 0.8.", target=name)
    if not _NUMBER.fullmatch(text):
        raise problem
    try:
        value = float(text)
    except ValueError:
        raise problem from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise problem
    return value
