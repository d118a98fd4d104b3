"""A snapshot row: one workstream at one slot, the upstream facts or the code of the error that replaced them.

**PartitionKey = workstream id** (lowercase GUID), **RowKey = the slot inverted**: `999999999999 − epoch seconds
of the slot`, zero-padded to 12 digits, so the rows of a partition sort newest first. Nulls are left out of the
entity (Table Storage has no null) and read back as null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..answer import Availability, format_time
from ..localtime import utc

FIELDS = ("workstreamId", "queueId", "capturedAt", "retrievedAt", "status", "withinOperatingHours",
           "representativesAvailable", "availableRepresentatives", "positionInQueue", "averageWaitSeconds",
           "error")
_MAX_KEY = 999_999_999_999  # 12 digits: epoch seconds up to the year 33658
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the oldest time a RowKey holds
DEFAULT_LIMIT, MAX_LIMIT = 500, 5000
DEFAULT_WINDOW = timedelta(hours=24)


def row_key(slot: datetime) -> str:
    """The RowKey of `slot`: inverted epoch seconds, so ascending RowKeys run newest first."""
    return f"{_MAX_KEY - int(utc(slot).timestamp()):012d}"


def _slot_of(key: str) -> datetime:
    return datetime.fromtimestamp(_MAX_KEY - int(key), UTC)


@dataclass(frozen=True)
class Snapshot:
    """One workstream at one slot: the upstream facts, or the code of the error that replaced them."""

    workstream_id: str
    captured_at: datetime  # the slot
    retrieved_at: datetime | None = None
    queue_id: str | None = None
    status: str | None = None
    within_operating_hours: bool | None = None
    representatives_available: bool | None = None
    available_representatives: int | None = None
    position_in_queue: int | None = None
    average_wait_seconds: int | None = None
    error: str | None = None

    @classmethod
    def of(cls, workstream_id: str, slot: datetime, answer: Availability) -> Snapshot:
        return cls(
            workstream_id=workstream_id, captured_at=utc(slot), retrieved_at=answer.retrieved_at,
            queue_id=answer.queue_id, status=answer.status,
            within_operating_hours=answer.within_operating_hours,
            representatives_available=answer.representatives_available,
            available_representatives=answer.available_representatives,
            position_in_queue=answer.position_in_queue, average_wait_seconds=answer.average_wait_seconds)

    @classmethod
    def failed(cls, workstream_id: str, slot: datetime, code: str, at: datetime) -> Snapshot:
        return cls(workstream_id=workstream_id, captured_at=utc(slot), retrieved_at=utc(at), error=code)

    def _values(self) -> dict[str, Any]:
        return {
            "workstreamId": self.workstream_id, "queueId": self.queue_id, "capturedAt": self.captured_at,
            "retrievedAt": self.retrieved_at, "status": self.status,
            "withinOperatingHours": self.within_operating_hours,
            "representativesAvailable": self.representatives_available,
            "availableRepresentatives": self.available_representatives,
            "positionInQueue": self.position_in_queue, "averageWaitSeconds": self.average_wait_seconds,
            "error": self.error,
        }

    def to_entity(self) -> dict[str, Any]:
        """The Table entity: keys from workstream and slot; null fields left out."""
        entity = {"PartitionKey": self.workstream_id, "RowKey": row_key(self.captured_at)}
        entity.update((name, value) for name, value in self._values().items() if value is not None)
        return entity

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> Snapshot:
        def when(name: str) -> datetime | None:
            value = entity.get(name)
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            return None if value is None else utc(value)

        return cls(
            workstream_id=entity.get("workstreamId") or entity["PartitionKey"],
            captured_at=when("capturedAt") or _slot_of(entity["RowKey"]),
            retrieved_at=when("retrievedAt"), queue_id=entity.get("queueId"), status=entity.get("status"),
            within_operating_hours=entity.get("withinOperatingHours"),
            representatives_available=entity.get("representativesAvailable"),
            available_representatives=entity.get("availableRepresentatives"),
            position_in_queue=entity.get("positionInQueue"),
            average_wait_seconds=entity.get("averageWaitSeconds"), error=entity.get("error"))

    def to_json(self) -> dict[str, Any]:
        """The history API's row."""
        return {
            "workstreamId": self.workstream_id, "queueId": self.queue_id,
            "capturedAt": format_time(self.captured_at), "status": self.status,
            "withinOperatingHours": self.within_operating_hours,
            "representativesAvailable": self.representatives_available,
            "availableRepresentatives": self.available_representatives,
            "positionInQueue": self.position_in_queue, "averageWaitSeconds": self.average_wait_seconds,
            "error": self.error,
        }


@dataclass(frozen=True)
class HistoryQuery:
    """Rows captured in [start, end] (both inclusive), newest first, at most `limit`."""

    start: datetime
    end: datetime
    limit: int = DEFAULT_LIMIT
    workstream_id: str | None = None
    queue_id: str | None = None
