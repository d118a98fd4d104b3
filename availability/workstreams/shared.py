"""The org's workstream list as every instance shares it: one row of the shared state's table.

The row (`RowKey` `workstreams`, in the org's partition) holds the list with when it was had and until when it is
fresh and may be served stale, and the lease of the instance querying the org now (`LeaseUntil`, `Owner`), taken
with a conditional write (an insert, or an update on the row's ETag), so that one instance queries the org per
freshness window while the others wait for its list. Times are epoch seconds: instances share no monotonic clock.

Storage never costs a caller its list: each storage request is bounded (0.5 s to connect, 1 s to read, no retry);
when storage fails, the instance goes on alone (its own query, its own memory) for 5 s before trying storage again,
and says so in a warning at most once a minute.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .records import Kept, Workstream

log = logging.getLogger(__name__)

ROW_KEY = "workstreams"
CONNECT_SECONDS, READ_SECONDS = 0.5, 1.0
COOLDOWN_SECONDS = 5.0
WARN_EVERY_SECONDS = 60.0
MAX_LEASE_SECONDS = 25.0  # no request lasts longer, so neither does a lease
FIRST_POLL, MAX_POLL = 0.05, 0.25  # reads of the row while another instance queries the org
MAX_LOST_WRITES = 5
# Table Storage keeps a string property up to 64 KiB (32K UTF-16 characters) and an entity up to 1 MiB.
CHUNK_CHARACTERS, MAX_CHUNKS = 30_000, 15


@dataclass(frozen=True)
class Claim:
    """What the row said: a fresh list to use (`fresh`), or this instance's lease to query the org (`lease`, the
    row's ETag), or `late` (another instance's query outlasted the caller's wait), or none of them (query the org
    without a lease); `seen` is any list it held."""

    fresh: Kept | None = None
    lease: str | None = None
    late: bool = False
    seen: Kept | None = None


class StorageUnavailableError(Exception):
    """Table Storage failed or did not answer in time."""


class ConflictError(Exception):
    """A conditional write lost: another instance changed the row since it was read."""


class SharedList:
    """The workstream list's row in `table` (an `azure.data.tables.TableClient`), partition `partition`.

    Every method but `usable` may be called whatever storage does: a storage failure is noted (see the module's
    docstring) and reported as nothing shared.
    """

    def __init__(self, table: Any, partition: str, *, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
                 ) -> None:
        self._table = table
        self.partition = partition
        self.owner = uuid.uuid4().hex[:16]
        self._wall = wall
        self._monotonic = monotonic
        self._sleep = sleep
        self._down_until = -1.0
        self._warned_at = -WARN_EVERY_SECONDS
        self._lock = threading.Lock()
        self.failures = 0

    def usable(self) -> bool:
        return self._monotonic() >= self._down_until

    # -- what a refresh does --
    def claim(self, end: float) -> Claim | None:
        """A fresh list another instance had, or this instance's lease; None when storage cannot be used.

        While another instance holds a live lease, the row is read again until its list comes, its lease ends or
        `end` (monotonic) passes.
        """
        if not self.usable():
            return None
        try:
            return self._claim(end)
        except StorageUnavailableError as exc:
            self._failed(exc)
            return None

    def publish(self, kept: Kept, lease: str | None) -> None:
        """Write `kept` for every instance (ending this instance's lease when it holds one)."""
        if not self.usable():
            return
        entity = {"RowKey": ROW_KEY, **_encode(kept), "LeaseUntil": 0.0, "Owner": "",
                  "ExpiresAt": kept.stale_until}
        if entity.get("Parts") is None:  # too long to share: each instance keeps its own
            if lease is not None:
                self.release(lease)
            return
        try:
            if lease is not None:
                try:
                    self._write("update_entity", entity, etag=lease, replace=True)
                    return
                except ConflictError:
                    pass  # the lease ran out and another instance took it: share the list all the same
            self._write("upsert_entity", {key: value for key, value in entity.items()
                                          if key not in ("LeaseUntil", "Owner")}, replace=False)
        except ConflictError:
            pass
        except StorageUnavailableError as exc:
            self._failed(exc)

    def release(self, lease: str) -> None:
        """The org could not answer: others may try now rather than when the lease runs out."""
        if not self.usable():
            return
        try:
            self._write("update_entity", {"RowKey": ROW_KEY, "LeaseUntil": 0.0, "Owner": ""}, etag=lease,
                        replace=False)
        except ConflictError:
            pass
        except StorageUnavailableError as exc:
            self._failed(exc)

    # -- the row --
    def _claim(self, end: float) -> Claim:
        entity = self._read()
        pause = FIRST_POLL
        seen: Kept | None = None
        lost = 0  # conditional writes lost to other instances
        while True:
            now = self._wall()
            if entity is not None:
                kept = _decode(entity)
                if kept is not None:
                    seen = kept if seen is None or kept.had_at >= seen.had_at else seen
                    if kept.fresh_until > now:
                        return Claim(fresh=kept, seen=seen)
                leased = _number(entity.get("LeaseUntil")) > now and entity.get("Owner") != self.owner
                if leased:
                    if self._monotonic() + pause >= end:
                        return Claim(late=True, seen=seen)
                    self._sleep(pause)
                    pause = min(pause * 1.5, MAX_POLL)
                    entity = self._read()
                    continue
            until = now + min(max(0.0, end - self._monotonic()), MAX_LEASE_SECONDS) + 1.0
            lease = {"RowKey": ROW_KEY, "LeaseUntil": until, "Owner": self.owner,
                     "ExpiresAt": max(until, seen.stale_until if seen else 0.0)}
            try:
                if entity is None:
                    return Claim(lease=self._write("create_entity", lease), seen=seen)
                return Claim(lease=self._write("update_entity", lease, etag=entity.metadata["etag"], replace=False),
                             seen=seen)
            except ConflictError:
                lost += 1
                if lost >= MAX_LOST_WRITES:  # the row changes faster than it can be read: ask the org alone
                    return Claim(seen=seen)
                entity = self._read()  # another instance came first: look again

    def _read(self) -> Any:
        try:
            return self._call("get_entity", self.partition, ROW_KEY)
        except ConflictError:
            return None  # no row (or no table) yet

    def _write(self, operation: str, entity: dict[str, Any], *, etag: str | None = None,
               replace: bool = False) -> str:
        """One write of the row; its new ETag. A missing table is created and the write tried again."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        options: dict[str, Any] = {}
        if operation != "create_entity":
            options["mode"] = UpdateMode.REPLACE if replace else UpdateMode.MERGE
        if etag is not None:
            options.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        full = {"PartitionKey": self.partition, **entity}
        for attempt in range(2):
            try:
                result = self._call(operation, full, missing_table_too=True, **options)
                return str(result.get("etag", ""))
            except _TableMissingError:
                if attempt or operation == "update_entity":
                    raise ConflictError() from None  # an update of a row (or table) that is gone: as good as changed
                self._call("create_table")
        raise ConflictError()

    def _call(self, operation: str, *args: Any, missing_table_too: bool = False, **kwargs: Any) -> Any:
        from azure.core.exceptions import (
            AzureError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )

        try:
            return getattr(self._table, operation)(*args, connection_timeout=CONNECT_SECONDS,
                                                   read_timeout=READ_SECONDS, retry_total=0, **kwargs)
        except (ResourceExistsError, ResourceModifiedError):
            if operation == "create_table":
                return {}
            raise ConflictError() from None
        except ResourceNotFoundError:
            raise (_TableMissingError() if missing_table_too else ConflictError()) from None
        except AzureError as exc:
            raise StorageUnavailableError(_describe(exc)) from exc
        except Exception as exc:  # whatever else goes wrong with storage, callers go on without it
            raise StorageUnavailableError(_describe(exc)) from exc

    def _failed(self, error: StorageUnavailableError) -> None:
        now = self._monotonic()
        with self._lock:
            self.failures += 1
            self._down_until = now + COOLDOWN_SECONDS
            warn = now - self._warned_at >= WARN_EVERY_SECONDS
            if warn:
                self._warned_at = now
        if warn:
            log.warning("The shared workstream list is unavailable (%s); this instance asks the org itself and "
                        "tries storage again every %.0f s", error, COOLDOWN_SECONDS)


class _TableMissingError(Exception):
    pass


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return type(error).__name__ + (f": {text}" if text else "")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _encode(kept: Kept) -> dict[str, Any]:
    """The row's properties for `kept`; `Parts` is None when the list is too long for one row."""
    text = json.dumps([[w.id, w.name, w.channel_code] for w in kept.workstreams], separators=(",", ":"),
                      ensure_ascii=False)
    chunks = [text[i:i + CHUNK_CHARACTERS] for i in range(0, len(text), CHUNK_CHARACTERS)] or [""]
    if len(chunks) > MAX_CHUNKS:
        return {"Parts": None}
    return {"Parts": len(chunks), **{f"List{i}": chunk for i, chunk in enumerate(chunks)}, "HadAt": kept.had_at,
            "FreshUntil": kept.fresh_until, "StaleUntil": kept.stale_until}


def _decode(entity: Any) -> Kept | None:
    """The list a row holds; None for a row without one (or one this version cannot read)."""
    parts = entity.get("Parts")
    if not isinstance(parts, int) or isinstance(parts, bool) or not 0 < parts <= MAX_CHUNKS:
        return None
    try:
        items = json.loads("".join(str(entity[f"List{i}"]) for i in range(parts)))
        workstreams = tuple(Workstream(str(i), str(n), c if isinstance(c, int) and not isinstance(c, bool) else None)
                            for i, n, c in items)
    except (KeyError, ValueError, TypeError):
        return None
    return Kept(workstreams, _number(entity.get("HadAt")), _number(entity.get("FreshUntil")),
                _number(entity.get("StaleUntil")))
