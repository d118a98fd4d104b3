"""The workstreams a snapshot run checks: the configured ids, or (auto) the org's active workstreams as the app's
workstream directory lists them (kept for `WORKSTREAMS_CACHE_SECONDS`, stale while the org fails)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..workstreams import WorkstreamDirectory


class WorkstreamTargets:
    """The workstreams to snapshot: the configured ids, or (auto) the org's active workstreams.

    :param ids: workstream ids from `SNAPSHOT_WORKSTREAMS`; None = auto.
    :param directory: the app's `WorkstreamDirectory`, used only for auto.
    """

    def __init__(self, ids: Sequence[str] | None, directory: WorkstreamDirectory | None = None) -> None:
        self._ids = None if ids is None else list(dict.fromkeys(i.lower() for i in ids))
        self._directory = directory

    @property
    def auto(self) -> bool:
        return self._ids is None

    def resolve(self, *, queue_until: float | None = None) -> list[str]:
        """The target ids; in auto mode, an `AvailabilityError` when the org cannot list them and no recent list
        can stand in.

        :keyword queue_until: monotonic time until which discovery may wait out the org's Retry-After.
        """
        if self._ids is not None:
            return list(self._ids)
        if self._directory is None:
            raise ValueError("auto targets need the workstream directory")
        return [workstream.id for workstream in self._directory.workstreams(queue_until=queue_until)]
