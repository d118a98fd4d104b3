"""What a request asks the dashboard to show: one workstream or all, how many days of heatmap, which time zone.

The page's own filter form sends these parameters, blank fields included; every fault is an `InvalidRequest`
naming its parameter, so the API's usual 400 answers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo

from .. import localtime
from ..errors import InvalidRequest
from ..http.params import check_parameter_names, guid_parameter, zone_parameter

DEFAULT_DAYS, MAX_DAYS = 7, 31
PARAMETERS = ("workstreamId", "days", "tz")


@dataclass(frozen=True)
class DashboardQuery:
    """What the page shows: one workstream or all, `days` of heatmap history, times in `tz`."""

    workstream_id: str | None = None
    days: int = DEFAULT_DAYS
    tz: str = "UTC"

    @property
    def zone(self) -> tzinfo:
        return localtime.zone(self.tz)


def parse_dashboard_query(params: Mapping[str, str]) -> DashboardQuery:
    """Validate the page's query parameters; every fault is an `InvalidRequest` naming its parameter.

    Blank `workstreamId` and `tz` (the page's own form sends them) mean all workstreams and UTC.
    """
    check_parameter_names(params, PARAMETERS)
    workstream_id = guid_parameter(params, "workstreamId", blank_is_absent=True)
    days = DEFAULT_DAYS
    raw = params.get("days")
    if raw is not None:
        text = raw.strip()
        # isdigit() alone takes other scripts' digits (and int() reads them): ASCII only.
        if not (text.isascii() and text.isdigit() and len(text) <= 3 and 1 <= int(text) <= MAX_DAYS):
            raise InvalidRequest(f"'days' must be a whole number from 1 to {MAX_DAYS}.", target="days")
        days = int(text)
    return DashboardQuery(workstream_id=workstream_id, days=days, tz=zone_parameter(params, "tz") or "UTC")
