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
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol, TypeVar

from .. import tables, telemetry
from ..answer import Availability
from ..errors import StorageUnavailable

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableEntity

T = TypeVar("T")

log = logging.getLogger(__name__)

STORAGE_SECONDS = 1.0  # a request's storage work in all
CONNECT_SECONDS, READ_SECONDS = 0.25, 0.5  # one storage request
COOLDOWN_SECONDS = 5.0  # after a storage failure, per-instance state until storage is tried again
WARN_EVERY_SECONDS = 60.0
MAX_LEASE_SECONDS = 25.0  # no request lasts longer, so neither does a lease
THROTTLE_ROW = "throttle"


def partition_for(org_url: str | None, client_id: str | None) -> str:
    """The partition of one org as one application user sees it (the org's limits are per user)."""
    identity = f"{(org_url or '').rstrip('/').lower()}|{(client_id or '').lower()}"
    return "o" + hashlib.blake2b(identity.encode(), digest_size=10).hexdigest()


def row_key(key: bytes) -> str:
    """The row of the check whose digest is `key`."""
    return "a" + key.hex()


# -- answers as JSON --------------------------------------------------------------------------------------

_FIELDS = [field for field in dataclasses.fields(Availability) if field.name != "source"]
_TIMES = {field.name for field in _FIELDS if "datetime" in str(field.type)}


def encode(answer: Availability) -> str:
    """The answer as a row holds it: JSON, times in ISO 8601, without `source`."""
    values: dict[str, Any] = {}
    for field in _FIELDS:
        value = getattr(answer, field.name)
        values[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(values, separators=(",", ":"))


def decode(text: object) -> Availability | None:
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

    def run(self, operation: Callable[[tables.CallOptions], T]) -> T:
        """`operation` given per-call options that end its storage request within what is left."""
        if self.left <= 0.02:
            raise Spent()
        options = tables.options_within(self.left, connect=CONNECT_SECONDS, read=READ_SECONDS)
        started = self._monotonic()
        try:
            return operation(options)
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
        """False for `COOLDOWN_SECONDS` after a failure."""
        return self._monotonic() >= self._down_until

    def failed(self, error: BaseException) -> None:
        """Storage failed with `error`: not used for a while, and said so (at most once a minute)."""
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
        """Storage answered: said once when it had failed before."""
        if not self.down:
            return
        with self._lock:
            was_down, self.down = self.down, False
        if was_down:
            log.info("Shared state reachable again (table %s): instances share answers and limits again",
                     self._table)


def describe(error: BaseException) -> str:
    """The kind and first line of what made storage fail, for operators."""
    cause = error.__cause__ or error
    text = str(cause).splitlines()[0][:200] if str(cause) else ""
    return type(cause).__name__ + (f": {text}" if text else "")


@dataclass(frozen=True)
class Row:
    """A row as read: its properties and its ETag."""

    values: Mapping[str, Any]
    etag: str

    @classmethod
    def of(cls, entity: TableEntity) -> Row:
        return cls(entity, str(entity.metadata["etag"]))


class RowStore(Protocol):
    """The operations on one partition's rows that the throttle row needs; `Rows` runs them in a table."""

    def read(self, key: str, allowance: Allowance) -> Row | None: ...

    def create(self, entity: dict[str, Any], allowance: Allowance) -> str: ...

    def update(self, entity: dict[str, Any], etag: str, allowance: Allowance, *, merge: bool) -> str: ...


class Rows(RowStore):
    """The table's operations for one partition, with azure-core's errors turned into the three above.

    A missing table (a new account, Azurite restarted in memory) is created on the spot and the operation tried
    again.

    :param table: an `azure.data.tables.TableClient`.
    :param partition: the org's partition (`partition_for`).
    """

    def __init__(self, table: TableClient, partition: str) -> None:
        self._table = table
        self.partition = partition

    def _do(self, allowance: Allowance, operation: Callable[[tables.CallOptions], T], *, write: bool = False) -> T:
        """`operation` within `allowance`, its errors translated; `write`: it writes a row (see `_table_missing`)."""
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import TableTransactionError

        for attempt in range(2):
            try:
                return allowance.run(operation)
            except Spent:
                raise  # the request's time for storage, not storage, ran out
            except (ResourceExistsError, ResourceModifiedError, TableTransactionError):
                raise Conflict() from None
            except ResourceNotFoundError as exc:
                if attempt or not _table_missing(exc, write=write):
                    raise Conflict() from None  # the row is gone (purged): as good as changed
                self._create_table(allowance)
            except Exception as exc:  # whatever else goes wrong with storage, requests go on without it
                raise StorageUnavailable() from exc
        raise Conflict()

    def _create_table(self, allowance: Allowance) -> None:
        from azure.core.exceptions import AzureError

        try:
            allowance.run(lambda options: tables.create_table(self._table, **options))
        except AzureError as exc:
            raise StorageUnavailable() from exc

    def lookup(self, key: str, allowance: Allowance) -> tuple[Row | None, Row | None]:
        """The check's row and the throttle row (each None when absent), in one query."""
        found = self._do(allowance, lambda options: self._both(key, options))
        return found.get(key), found.get(THROTTLE_ROW)

    def _both(self, key: str, options: tables.CallOptions) -> dict[str, Row]:
        rows = self._table.query_entities("PartitionKey eq @p and ( RowKey eq @k or RowKey eq @t )",
                                          parameters={"p": self.partition, "k": key, "t": THROTTLE_ROW}, **options)
        return {row["RowKey"]: Row.of(row) for row in rows}

    def read(self, key: str, allowance: Allowance) -> Row | None:
        """The row `key`, or None when there is none."""
        try:
            return Row.of(self._do(allowance, lambda options: self._table.get_entity(self.partition, key, **options)))
        except Conflict:
            return None

    def create(self, entity: dict[str, Any], allowance: Allowance) -> str:
        """Insert `entity` (`Conflict` when the row exists); its ETag."""
        row = {"PartitionKey": self.partition, **entity}
        written = self._do(allowance, lambda options: self._table.create_entity(
            row, response_preference="return-no-content", **options), write=True)
        return str(written["etag"])

    def update(self, entity: dict[str, Any], etag: str, allowance: Allowance, *, merge: bool) -> str:
        """Write `entity` if the row is still at `etag` (`Conflict` otherwise); its new ETag."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        row = {"PartitionKey": self.partition, **entity}
        mode = UpdateMode.MERGE if merge else UpdateMode.REPLACE
        written = self._do(allowance, lambda options: self._table.update_entity(
            row, mode=mode, etag=etag, match_condition=MatchConditions.IfNotModified, **options), write=True)
        return str(written["etag"])

    def merge(self, entity: dict[str, Any], allowance: Allowance) -> None:
        """Merge `entity` into its row, whatever the row holds (created when there is none)."""
        from azure.data.tables import UpdateMode

        row = {"PartitionKey": self.partition, **entity}
        self._do(allowance, lambda options: self._table.upsert_entity(row, mode=UpdateMode.MERGE, **options),
                 write=True)

    def expired(self, now: float, allowance: Allowance) -> list[Row]:
        """Up to 100 rows whose `ExpiresAt` has passed (keys and ETags only)."""
        return self._do(allowance, lambda options: self._expired(now, options))

    def _expired(self, now: float, options: tables.CallOptions) -> list[Row]:
        pages = self._table.query_entities("PartitionKey eq @p and ExpiresAt lt @now",
                                           parameters={"p": self.partition, "now": now},
                                           select=["PartitionKey", "RowKey"], results_per_page=100,
                                           **options).by_page()
        return [Row.of(entity) for entity in next(pages, [])]

    def delete_all(self, rows: list[Row], allowance: Allowance) -> None:
        """Delete `rows` in one transaction, each only if unchanged since it was read."""
        from azure.core import MatchConditions

        operations: list[Any] = [
            ("delete", {"PartitionKey": self.partition, "RowKey": row.values["RowKey"]},
             {"etag": row.etag, "match_condition": MatchConditions.IfNotModified}) for row in rows]
        self._do(allowance, lambda options: self._table.submit_transaction(operations, **options))


def _table_missing(error: Exception, *, write: bool) -> bool:
    # A missing entity is a 404 too: TableNotFound says it is the table; a write's 404 may come without a code.
    code = getattr(error, "error_code", None)
    return code == "TableNotFound" or (code is None and write)


# -- a check's row -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyRow:
    """A check's row as read: the last answer, its windows (epoch seconds) and the lease of the one fetching it."""

    answer: Availability | None
    fresh_until: float
    stale_until: float
    lease_until: float
    owner: str
    etag: str

    @classmethod
    def of(cls, row: Row | None) -> KeyRow | None:
        if row is None:
            return None
        values = row.values
        return cls(decode(values.get("Answer")), as_number(values.get("FreshUntil")),
                   as_number(values.get("StaleUntil")), as_number(values.get("LeaseUntil")),
                   str(values.get("Owner") or ""), row.etag)


@dataclass(frozen=True)
class Lease:
    """This instance leads the call for a check: its lease on the row, until `until`."""

    etag: str
    until: float


def as_number(value: object) -> float:
    """A number a row holds; 0 for a missing or mistyped one."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

