"""The shared state's rows, where they live, and storage bounded so that it never costs a request its answer.

`Layout` says where each row is: the org's own partition (`partition_for`: the throttle row, the workstream list),
the org's roster of instances, and the answers, spread over `SHARDS` partitions by the check's digest and renewed
every generation (an hour, or longer with a long stale window), so that a generation's rows are deleted whole once
they are past use, without a scan. `Rows` runs the table's operations, each within a request's `Allowance`, with
azure-core's errors turned into three: `StorageUnavailable` (go on without storage), `Conflict` (a conditional
write lost) and `Spent` (this request's time for storage is used up). `Health` says whether to use storage now.
Rows are read within this instance's own bounds (`Bounds`): a row written by anyone else cannot make it serve an
answer longer than its own settings allow, nor hold calls past a lease's or a Retry-After's length.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

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
SHARDS = 64  # answer partitions per generation: each takes a 64th of the answers' storage operations
SKEW_SECONDS = 5.0  # how far ahead of this instance's clock another instance's may be
GENERATION_HOUR = 3600.0


def partition_for(org_url: str | None, client_id: str | None) -> str:
    """The org's own partition, as one application user sees the org (the org's limits are per user)."""
    identity = f"{(org_url or '').rstrip('/').lower()}|{(client_id or '').lower()}"
    return "o" + hashlib.blake2b(identity.encode(), digest_size=10).hexdigest()


def row_key(key: bytes) -> str:
    """The row of the check whose digest is `key`."""
    return "a" + key.hex()


@dataclass(frozen=True)
class Layout:
    """Where one org's rows live.

    An answer row lives in generation `g` of its check (`(wall + offset) // generation_seconds`, the offset drawn
    from the check's digest so that checks change generation at different moments), in one of `SHARDS` partitions
    (also from the digest). A row of generation `g` is written before `(g + 1) * generation_seconds` and is worth
    nothing `lifetime` later, so the whole generation can be deleted once `wall` passes that (`purgeable`); the
    generation is at least twice `lifetime` long, so a check's previous generation is worth reading only in the
    first `lifetime` of the next (`overlaps`). The generation's length is in the partition's name: instances with
    other windows keep rows of their own.

    :param org: the org's own partition (`partition_for`).
    :param lifetime: the longest an answer row is worth anything (stale window, lease and clock skew).
    """

    org: str
    lifetime: float

    @property
    def generation_seconds(self) -> float:
        return GENERATION_HOUR * max(1, math.ceil(2 * self.lifetime / GENERATION_HOUR))

    @property
    def throttle(self) -> str:
        """The throttle row's partition: the org's own."""
        return self.org

    @property
    def roster(self) -> str:
        """The partition of the instances' roster rows."""
        return f"{self.org}-i"

    def generation(self, key: bytes, wall: float) -> int:
        """The check's generation at `wall` (epoch seconds)."""
        return int((wall + self._offset(key)) // self.generation_seconds)

    def answers(self, key: bytes, generation: int) -> str:
        """The partition of the check's row in `generation`."""
        return self.partition(generation, key[0] % SHARDS)

    def partition(self, generation: int, shard: int) -> str:
        return f"{self.org}-g{int(self.generation_seconds)}-{generation}-{shard:02d}"

    def overlaps(self, key: bytes, wall: float) -> bool:
        """True while the check's row of the previous generation may still hold something worth reading."""
        return (wall + self._offset(key)) % self.generation_seconds < self.lifetime

    def purgeable(self, wall: float) -> int:
        """The newest generation all of whose rows are past use at `wall`."""
        return int((wall - self.lifetime) // self.generation_seconds) - 2

    def _offset(self, key: bytes) -> float:
        return int.from_bytes(key[1:3], "big") / 65536 * self.generation_seconds


@dataclass(frozen=True)
class Bounds:
    """What this instance allows a row read from storage, whoever wrote it: answers fresh at most `cache_seconds`
    and served stale at most `stale_seconds` after they were had (never past their transition), leases of a
    request's length, times no further ahead than the instances' clocks may disagree."""

    cache_seconds: float = 15.0
    stale_seconds: float = 300.0


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
        """`operation` given per-call options that end its storage request within what is left; a request that
        timed out in less than a storage request's own time is this request's time running out (`Spent`), not
        storage failing."""
        if self.left <= 0.02:
            raise Spent()
        options = tables.options_within(self.left, connect=CONNECT_SECONDS, read=READ_SECONDS)
        cut = self.left < CONNECT_SECONDS + READ_SECONDS
        started = self._monotonic()
        try:
            return operation(options)
        except Exception as exc:
            if cut and _timed_out(exc):
                raise Spent() from exc
            raise
        finally:
            self.left -= self._monotonic() - started


def _timed_out(error: BaseException) -> bool:
    from azure.core.exceptions import ServiceRequestTimeoutError, ServiceResponseTimeoutError

    return isinstance(error, (ServiceRequestTimeoutError, ServiceResponseTimeoutError))


class Health:
    """Whether to use storage now: not for `COOLDOWN_SECONDS` after a failure; warns at most once a minute."""

    def __init__(self, table_name: str, monotonic: Callable[[], float]) -> None:
        self._table = table_name
        self._monotonic = monotonic
        self._down_until = 0.0
        self._warned_at = -math.inf
        self.failures = 0  # times storage was found failing so far (for telemetry)
        self.down = False
        self._lock = threading.Lock()  # requests and background threads fail at once: one warning

    def usable(self) -> bool:
        """False for `COOLDOWN_SECONDS` after a failure."""
        return self._monotonic() >= self._down_until

    def failed(self, error: BaseException) -> None:
        """Storage failed with `error`: not used for a while, and said so (at most once a minute); counted once per
        try of storage (requests and background work that were on their way at once fail together)."""
        now = self._monotonic()
        with self._lock:
            first = now >= self._down_until
            if first:
                self.failures += 1
            self._down_until = now + COOLDOWN_SECONDS
            self.down = True
            warn = now - self._warned_at >= WARN_EVERY_SECONDS
            if warn:
                self._warned_at = now
        if first:
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
    """The operations on one partition's rows that the throttle row needs; `Rows.of` runs them in a table."""

    def read(self, key: str, allowance: Allowance) -> Row | None: ...

    def create(self, entity: dict[str, Any], allowance: Allowance) -> str: ...

    def update(self, entity: dict[str, Any], etag: str, allowance: Allowance, *, merge: bool) -> str: ...


class Rows:
    """The table's operations, with azure-core's errors turned into the three above.

    A missing table (a new account, Azurite restarted in memory) is created on the spot and the operation tried
    again.

    :param table: an `azure.data.tables.TableClient`.
    """

    def __init__(self, table: TableClient) -> None:
        self._table = table

    def of(self, partition: str) -> PartitionRows:
        """The operations on the rows of `partition`."""
        return PartitionRows(self, partition)

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

    def read(self, partition: str, key: str, allowance: Allowance) -> Row | None:
        """The row `key` of `partition` (one point read), or None when there is none."""
        try:
            return Row.of(self._do(allowance, lambda options: self._table.get_entity(partition, key, **options)))
        except Conflict:
            return None

    def create(self, partition: str, entity: dict[str, Any], allowance: Allowance) -> str:
        """Insert `entity` (`Conflict` when the row exists); its ETag."""
        row = {"PartitionKey": partition, **entity}
        written = self._do(allowance, lambda options: self._table.create_entity(
            row, response_preference="return-no-content", **options), write=True)
        return str(written["etag"])

    def update(self, partition: str, entity: dict[str, Any], etag: str, allowance: Allowance, *, merge: bool) -> str:
        """Write `entity` if the row is still at `etag` (`Conflict` otherwise); its new ETag."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        row = {"PartitionKey": partition, **entity}
        mode = UpdateMode.MERGE if merge else UpdateMode.REPLACE
        written = self._do(allowance, lambda options: self._table.update_entity(
            row, mode=mode, etag=etag, match_condition=MatchConditions.IfNotModified, **options), write=True)
        return str(written["etag"])

    def merge(self, partition: str, entity: dict[str, Any], allowance: Allowance) -> None:
        """Merge `entity` into its row, whatever the row holds (created when there is none)."""
        from azure.data.tables import UpdateMode

        row = {"PartitionKey": partition, **entity}
        self._do(allowance, lambda options: self._table.upsert_entity(row, mode=UpdateMode.MERGE, **options),
                 write=True)

    def page(self, partition: str, allowance: Allowance, *, select: tuple[str, ...] = (),
             between: tuple[str, str] | None = None, size: int = 100) -> list[Row]:
        """Up to `size` rows of `partition` (with `between`: whose keys are from the first to before the second),
        with the properties `select`s (all when none): a range of keys, never a scan of other properties."""
        query = "PartitionKey eq @p" + (" and RowKey ge @low and RowKey lt @high" if between else "")
        parameters = {"p": partition, **({"low": between[0], "high": between[1]} if between else {})}
        chosen = ["PartitionKey", "RowKey", *select] if select else None

        def first_page(options: tables.CallOptions) -> list[Row]:
            pages = self._table.query_entities(query, parameters=parameters, select=chosen, results_per_page=size,
                                               **options).by_page()
            return [Row.of(entity) for entity in next(pages, [])]

        return self._do(allowance, first_page)

    def every(self, partition: str, allowance: Allowance, *, select: tuple[str, ...] = ()) -> list[Row]:
        """Every row of `partition`, page after page, with the properties `select`s (all when none)."""
        chosen = ["PartitionKey", "RowKey", *select] if select else None

        def every_page(options: tables.CallOptions) -> list[Row]:
            return [Row.of(entity) for entity in self._table.query_entities(
                "PartitionKey eq @p", parameters={"p": partition}, select=chosen, results_per_page=1000, **options)]

        return self._do(allowance, every_page)

    def delete_all(self, partition: str, keys: list[str], allowance: Allowance) -> None:
        """Delete the rows `keys` of `partition` in one transaction, whatever they hold."""
        operations: list[Any] = [("delete", {"PartitionKey": partition, "RowKey": key}) for key in keys]
        self._do(allowance, lambda options: self._table.submit_transaction(operations, **options))


class PartitionRows(RowStore):
    """The operations on the rows of one partition (a `RowStore`)."""

    def __init__(self, rows: Rows, partition: str) -> None:
        self.rows = rows
        self.partition = partition

    def read(self, key: str, allowance: Allowance) -> Row | None:
        return self.rows.read(self.partition, key, allowance)

    def create(self, entity: dict[str, Any], allowance: Allowance) -> str:
        return self.rows.create(self.partition, entity, allowance)

    def update(self, entity: dict[str, Any], etag: str, allowance: Allowance, *, merge: bool) -> str:
        return self.rows.update(self.partition, entity, etag, allowance, merge=merge)


def _table_missing(error: Exception, *, write: bool) -> bool:
    # A missing entity is a 404 too: TableNotFound says it is the table; a write's 404 may come without a code.
    code = getattr(error, "error_code", None)
    return code == "TableNotFound" or (code is None and write)


# -- a check's row -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyRow:
    """A check's row as read: the last answer, its windows (epoch seconds, within this instance's `Bounds`) and the
    lease of the one fetching it."""

    answer: Availability | None
    fresh_until: float
    stale_until: float
    lease_until: float
    owner: str
    etag: str
    partition: str

    @classmethod
    def of(cls, row: Row | None, partition: str, bounds: Bounds, wall: float) -> KeyRow | None:
        if row is None:
            return None
        values = row.values
        answer = decode(values.get("Answer"))
        fresh_until = stale_until = 0.0
        if answer is not None:
            had = answer.retrieved_at.timestamp()
            if had > wall + SKEW_SECONDS:
                answer = None  # had in the future: not an answer this instance can trust
            else:
                fresh_until = min(as_number(values.get("FreshUntil")), had + bounds.cache_seconds)
                stale_until = min(as_number(values.get("StaleUntil")), had + bounds.stale_seconds)
                until_transition = answer.seconds_until_transition()
                if until_transition is not None:
                    fresh_until = min(fresh_until, had + until_transition)
                    stale_until = min(stale_until, had + until_transition)
        leased_at = as_number(values.get("LeasedAt"))
        lease_until = 0.0
        if leased_at <= wall + SKEW_SECONDS:
            lease_until = min(as_number(values.get("LeaseUntil")), leased_at + MAX_LEASE_SECONDS + 1.0)
        return cls(answer, fresh_until, stale_until, lease_until, str(values.get("Owner") or ""), row.etag, partition)


@dataclass(frozen=True)
class Lease:
    """This instance leads the call for a check: its lease on the row (in `partition`), until `until`."""

    etag: str
    until: float
    partition: str


def as_number(value: object) -> float:
    """A number a row holds; 0 for a missing, mistyped or not finite one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0
