"""The shared state's rows, and storage bounded so that it never costs a request its answer.

All rows of one org live in one partition (`partition_for`): `a<hex>` per check (`row_key`, from the service's
digest of the check, never the caller's text) and the throttle row (`THROTTLE_ROW`). `Rows` runs the table's
operations for that partition, each within a request's `Allowance`, with azure-core's errors turned into three:
`StorageUnavailable` (go on without storage), `Conflict` (a conditional write lost) and `Spent` (this request's
time for storage is used up). `Health` says whether to use storage now.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from .. import telemetry
from ..answer import Availability

log = logging.getLogger(__name__)

STORAGE_SECONDS = 1.0  # a request's storage work in all
CONNECT_SECONDS, READ_SECONDS = 0.25, 0.5  # one storage request
COOLDOWN_SECONDS = 5.0  # after a storage failure, per-instance state until storage is tried again
WARN_EVERY_SECONDS = 60.0
MAX_LEASE_SECONDS = 25.0  # no request lasts longer (contract §3), so neither does a lease
THROTTLE_ROW = "throttle"


def partition_for(org_url: str | None, client_id: str | None) -> str:
    """The partition of one org as one application user sees it (the org's limits are per user)."""
    identity = f"{(org_url or '').rstrip('/').lower()}|{(client_id or '').lower()}"
    return "o" + hashlib.blake2b(identity.encode(), digest_size=10).hexdigest()


def row_key(key: bytes) -> str:
    return "a" + key.hex()


# -- answers as JSON --------------------------------------------------------------------------------------

_FIELDS = [field for field in dataclasses.fields(Availability) if field.name != "source"]
_TIMES = {field.name for field in _FIELDS if "datetime" in str(field.type)}


def encode(answer: Availability) -> str:
    values = {}
    for field in _FIELDS:
        value = getattr(answer, field.name)
        values[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(values, separators=(",", ":"))


def decode(text: Any) -> Availability | None:
    """The answer a row holds; None for a row without one, or written by a version with other fields."""
    if not isinstance(text, str) or not text:
        return None
    try:
        values = json.loads(text)
        for name in _TIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return Availability(**values)
    except (ValueError, TypeError):
        return None


# -- storage, bounded ---------------------------------------------------------------------------------------

class StorageUnavailable(Exception):
    """Table Storage failed or did not answer in time: go on with this instance's own state."""


class Conflict(Exception):
    """A conditional write lost: another instance changed the row since it was read."""


class Spent(Exception):
    """This request's time for storage is used up (storage is not at fault)."""


class Allowance:
    """A request's time for storage: `seconds` in all, each storage request bounded by what is left."""

    def __init__(self, monotonic: Callable[[], float], seconds: float = STORAGE_SECONDS) -> None:
        self._monotonic = monotonic
        self.left = seconds

    @contextmanager
    def holding(self, lock: threading.Lock) -> Iterator[None]:
        """`lock` held, waited for only as long as this allowance lasts (`Spent` if it lasts longer)."""
        started = self._monotonic()
        acquired = lock.acquire(timeout=max(0.0, self.left))
        self.left -= self._monotonic() - started
        if not acquired:
            raise Spent()
        try:
            yield
        finally:
            lock.release()

    def run(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.left <= 0.02:
            raise Spent()
        connect = min(CONNECT_SECONDS, self.left / 2)
        options = {"connection_timeout": connect, "read_timeout": min(READ_SECONDS, self.left - connect),
                   "retry_total": 0}
        started = self._monotonic()
        try:
            return operation(*args, **kwargs, **options)
        finally:
            self.left -= self._monotonic() - started


class Health:
    """Whether to use storage now: not for `COOLDOWN_SECONDS` after a failure; warns at most once a minute."""

    def __init__(self, table_name: str, monotonic: Callable[[], float]) -> None:
        self._table = table_name
        self._monotonic = monotonic
        self._down_until = 0.0
        self._warned_at = -math.inf
        self.failures = 0  # storage failures so far (for telemetry)
        self.down = False
        self._lock = threading.Lock()  # requests and background threads fail at once: one warning

    def usable(self) -> bool:
        return self._monotonic() >= self._down_until

    def failed(self, error: BaseException) -> None:
        now = self._monotonic()
        with self._lock:
            self.failures += 1
            self._down_until = now + COOLDOWN_SECONDS
            self.down = True
            warn = now - self._warned_at >= WARN_EVERY_SECONDS
            if warn:
                self._warned_at = now
        telemetry.count_shared_state_failure()
        if warn:
            log.warning("Shared state unavailable (table %s: %s); this instance answers with its own cache, "
                        "Retry-After and calls budget, and tries storage again every %.0f s", self._table,
                        describe(error), COOLDOWN_SECONDS)

    def succeeded(self) -> None:
        if not self.down:
            return
        with self._lock:
            was_down, self.down = self.down, False
        if was_down:
            log.info("Shared state reachable again (table %s): instances share answers and limits again",
                     self._table)


def describe(error: BaseException) -> str:
    cause = error.__cause__ or error
    text = str(cause).splitlines()[0][:200] if str(cause) else ""
    return type(cause).__name__ + (f": {text}" if text else "")


class Rows:
    """The table's operations for one partition, with azure-core's errors turned into the three above.

    A missing table (a new account, Azurite restarted in memory) is created on the spot and the operation tried
    again.
    """

    def __init__(self, table: Any, partition: str) -> None:
        self.table = _Queries(table, partition)
        self.partition = partition

    def _do(self, allowance: Allowance, name: str, *args: Any, **kwargs: Any) -> Any:
        from azure.core.exceptions import (
            AzureError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )

        from azure.data.tables import TableTransactionError

        for attempt in range(2):
            try:
                return allowance.run(getattr(self.table, name), *args, **kwargs)
            except (ResourceExistsError, ResourceModifiedError, TableTransactionError):
                raise Conflict() from None
            except ResourceNotFoundError as exc:
                if attempt or not _table_missing(name, exc):
                    raise Conflict() from None  # the row is gone (purged): as good as changed
                self._create_table(allowance)
            except AzureError as exc:
                raise StorageUnavailable() from exc
            except Exception as exc:  # whatever else goes wrong with storage, requests go on without it
                raise StorageUnavailable() from exc
        raise Conflict()

    def _create_table(self, allowance: Allowance) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            allowance.run(self.table.create_table)
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise StorageUnavailable() from exc

    def lookup(self, key: str, allowance: Allowance) -> tuple[Any, Any]:
        """The check's row and the throttle row (each None when absent), in one query."""
        found = self._do(allowance, "_query_all", key)
        return found.get(key), found.get(THROTTLE_ROW)

    def read(self, key: str, allowance: Allowance) -> Any:
        """The row `key`, or None when there is none."""
        try:
            return self._do(allowance, "get_entity", self.partition, key)
        except Conflict:
            return None

    def create(self, entity: dict[str, Any], allowance: Allowance) -> str:
        return self._do(allowance, "create_entity", {"PartitionKey": self.partition, **entity},
                        response_preference="return-no-content")["etag"]

    def update(self, entity: dict[str, Any], etag: str, allowance: Allowance, *, merge: bool) -> str:
        """Write `entity` if the row is still at `etag`; `Conflict` otherwise."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        return self._do(allowance, "update_entity", {"PartitionKey": self.partition, **entity},
                        mode=UpdateMode.MERGE if merge else UpdateMode.REPLACE, etag=etag,
                        match_condition=MatchConditions.IfNotModified)["etag"]

    def merge(self, entity: dict[str, Any], allowance: Allowance) -> None:
        from azure.data.tables import UpdateMode

        self._do(allowance, "upsert_entity", {"PartitionKey": self.partition, **entity}, mode=UpdateMode.MERGE)

    def expired(self, now: float, allowance: Allowance) -> list[Any]:
        """Up to 100 rows whose `ExpiresAt` has passed (keys and ETags only)."""
        return self._do(allowance, "_query_expired", now)

    def delete_all(self, rows: list[Any], allowance: Allowance) -> None:
        """Delete `rows` in one transaction, each only if unchanged since it was read."""
        from azure.core import MatchConditions

        operations = [("delete", {"PartitionKey": self.partition, "RowKey": row["RowKey"]},
                       {"etag": row.metadata["etag"], "match_condition": MatchConditions.IfNotModified})
                      for row in rows]
        self._do(allowance, "submit_transaction", operations)


def _table_missing(operation: str, error: Any) -> bool:
    # A missing entity is a 404 too: TableNotFound says it is the table; a write's 404 may come without a code.
    code = getattr(error, "error_code", None)
    return code == "TableNotFound" or (code is None and operation in ("create_entity", "upsert_entity",
                                                                      "update_entity"))


class _Queries:
    """The two queries, as methods of the table client's shape so that `Rows._do` bounds and translates them."""

    def __init__(self, table: Any, partition: str) -> None:
        self._table = table
        self._partition = partition

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def _query_all(self, key: str, **options: Any) -> dict[str, Any]:
        rows = self._table.query_entities("PartitionKey eq @p and ( RowKey eq @k or RowKey eq @t )",
                                          parameters={"p": self._partition, "k": key, "t": THROTTLE_ROW}, **options)
        return {row["RowKey"]: row for row in rows}

    def _query_expired(self, now: float, **options: Any) -> list[Any]:
        pages = self._table.query_entities("PartitionKey eq @p and ExpiresAt lt @now",
                                           parameters={"p": self._partition, "now": now},
                                           select=["PartitionKey", "RowKey"], results_per_page=100,
                                           **options).by_page()
        return list(next(pages, []))


# -- a check's row -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyRow:
    answer: Availability | None
    fresh_until: float
    stale_until: float
    lease_until: float
    owner: str
    etag: str

    @classmethod
    def of(cls, entity: Any) -> KeyRow | None:
        if entity is None:
            return None
        return cls(decode(entity.get("Answer")), as_number(entity.get("FreshUntil")), as_number(entity.get("StaleUntil")),
                   as_number(entity.get("LeaseUntil")), str(entity.get("Owner") or ""), entity.metadata["etag"])


@dataclass(frozen=True)
class Lease:
    """This instance leads the call for a check: its lease on the row, until `until`."""

    etag: str
    until: float


def as_number(value: Any) -> float:
    """A number a row holds; 0 for a missing or mistyped one."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

