"""The workstreams a snapshot run checks: the configured ids, or (auto) the org's active workstreams, cached
for ten minutes (upstream refreshes queue configuration that often)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Sequence

from ..checks import is_guid
from ..errors import AvailabilityError

log = logging.getLogger(__name__)

DISCOVERY_TTL = 600.0  # seconds


class WorkstreamTargets:
    """The workstreams to snapshot: the configured ids, or (auto) the org's active workstreams, cached.

    :param ids: workstream ids from `SNAPSHOT_WORKSTREAMS`; None = auto.
    :param client: anything with `list_workstreams()` (a `DataverseClient`), used only for auto.
    :keyword ttl: seconds a discovered list is reused.
    """

    def __init__(self, ids: Sequence[str] | None, client: Any = None, *, ttl: float = DISCOVERY_TTL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ids = None if ids is None else list(dict.fromkeys(i.lower() for i in ids))
        self._client = client
        self.ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._discovered: list[str] | None = None
        self._discovered_at = 0.0

    @property
    def auto(self) -> bool:
        return self._ids is None

    def resolve(self, *, queue_until: float | None = None) -> list[str]:
        """The target ids; in auto mode a failed discovery falls back to the last list, if any.

        :keyword queue_until: monotonic time until which discovery may wait out the org's Retry-After.
        """
        if self._ids is not None:
            return list(self._ids)
        with self._lock:
            if self._discovered is not None and self._monotonic() - self._discovered_at < self.ttl:
                return list(self._discovered)
            try:
                records = self._client.list_workstreams(queue_until=queue_until)
            except AvailabilityError as exc:
                if self._discovered is None:
                    raise
                log.warning("Workstream discovery failed (%s); using the %d workstreams found before",
                            exc.code, len(self._discovered))
                return list(self._discovered)
            ids = []
            for record in records:
                value = str(record.get("msdyn_liveworkstreamid") or "")
                if is_guid(value):
                    ids.append(value.lower())
            self._discovered = list(dict.fromkeys(ids))
            self._discovered_at = self._monotonic()
            return list(self._discovered)
