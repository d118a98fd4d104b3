"""The org's workstreams as the gateway reads them from `msdyn_liveworkstreams` records, and a list of them as
kept: when it was had, until when it is fresh, until when it may stand in while the org fails."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..checks import is_guid
from .channels import channel_of

__all__ = ["Kept", "Workstream", "from_records"]


@dataclass(frozen=True)
class Workstream:
    """One workstream of the org: its id (lowercase GUID), name and `msdyn_streamsource` code."""

    id: str
    name: str
    channel_code: int | None

    @property
    def channel(self) -> str:
        """The readable channel (`chat`, `voice`, `sms`, ..., `other`)."""
        return channel_of(self.channel_code)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "channel": self.channel, "channelCode": self.channel_code}


@dataclass(frozen=True)
class Kept:
    """A list had from the org at `had_at`, fresh until `fresh_until`, servable as stale until `stale_until`
    (epoch seconds)."""

    workstreams: tuple[Workstream, ...]
    had_at: float
    fresh_until: float
    stale_until: float


def from_records(records: Iterable[dict[str, Any]]) -> tuple[Workstream, ...]:
    """The workstreams of `msdyn_liveworkstreams` records, sorted by name (then id); a record without a GUID is
    left out, a repeated id kept once."""
    found: dict[str, Workstream] = {}
    for record in records:
        workstream_id = str(record.get("msdyn_liveworkstreamid") or "").lower()
        if not is_guid(workstream_id) or workstream_id in found:
            continue
        code = record.get("msdyn_streamsource")
        found[workstream_id] = Workstream(workstream_id, str(record.get("msdyn_name") or ""),
                                          code if isinstance(code, int) and not isinstance(code, bool) else None)
    return tuple(sorted(found.values(), key=lambda w: (w.name.casefold(), w.name, w.id)))
