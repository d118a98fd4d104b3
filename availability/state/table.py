"""`TableState`: what every instance of the app must agree on, shared through one Table Storage table, with a
`MemoryState` in front so that a cache hit never leaves memory.

All rows of one org live in one partition (`o` + a digest of the org URL and client id), so that one query reads
a check's row and the org's throttle row together:
- `a<hex>` per check, keyed by the service's blake2b digest of the check (never the caller's text): the last
  answer (`Answer`, JSON; an answer holds no secret), `FreshUntil` and `StaleUntil`, the lease of the instance
  fetching it now (`LeaseUntil`, `Owner`), and `ExpiresAt`, after which the row is worth nothing and is purged.
- `throttle`: the org's `Retry-After` (`RetryUntil`, `Recovering`, and the lease of the one probe after it,
  `ProbeUntil`/`Prober`) and the calls budget's count of calls per second of the last minute (`Calls`).
Times are epoch seconds: the instances share no monotonic clock.

A miss of a check this instance has not answered lately (most misses) puts one storage request on the caller's
path: an insert of the check's row holding this instance's lease, which succeeds only when no instance holds an
answer or a lease for it. Otherwise one query reads the check's row with the throttle row (in Azure an `or` of two
row keys scans the partition, which holds only the last `AVAILABILITY_STALE_SECONDS` of keys), and then a fresh
answer is used (no call), a live lease is polled for the answer within the request's own deadline, or one
conditional update on the row's ETag takes the lease. The answer is written once the caller has it, in the
background, with a fresh read of the throttle row. A call goes by the throttle row as read at most 0.25 s ago (else
it reads it first), so another instance's first `Retry-After` holds this one within that time; from then on it is
exact, as the probe after it is taken with a conditional update, and so is each call's room in the budget (also
refused during a Retry-After). Every conditional write that loses a race reads again and decides again.

Storage never costs a request its answer: each storage request gets at most 0.25 s to connect and 0.5 s to read,
a request's storage work at most 1 s in all (waiting for another instance's answer is bounded by the request's
own deadline, like any follower's); when storage fails the instance goes on with its own state, logs a warning at
most once a minute and tries storage again 5 s later. Expired rows are deleted in the background, at most every
minute per instance and a few hundred rows at a time, so the table holds roughly the keys of the last
`AVAILABILITY_STALE_SECONDS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable

from .. import telemetry
from ..answer import Availability
from ..dataverse.throttle import BUDGET_SPENT, THROTTLED, CallsBudget, RetryAfterGate
from ..errors import UpstreamThrottled, UpstreamTimeout
from .memory import Call, Lifetime, MemoryState

log = logging.getLogger(__name__)

STORAGE_SECONDS = 1.0  # a request's storage work in all
CONNECT_SECONDS, READ_SECONDS = 0.25, 0.5  # one storage request
COOLDOWN_SECONDS = 5.0  # after a storage failure, per-instance state until storage is tried again
WARN_EVERY_SECONDS = 60.0
MAX_LEASE_SECONDS = 25.0  # no request lasts longer (contract §3), so neither does a lease
FIRST_POLL, MAX_POLL = 0.03, 0.25  # a follower's reads of the row while the leader fetches
# The throttle row as read at most MAX_AGE ago is good enough for a call, else the call reads it first; after each
# call the row is read again in the background when older than REFRESH_AFTER, so a busy instance seldom waits.
THROTTLE_MAX_AGE, THROTTLE_REFRESH_AFTER = 0.25, 0.1
CALL_MARGIN = 0.2  # of a call's budget, kept for the call when the gate waits
PURGE_EVERY_SECONDS, PURGE_PAGES = 60.0, 3  # pages of at most 100 rows, one transaction each
MAX_BACKGROUND = 1000  # writes waiting for the background workers; past it, answers stay in memory only
THROTTLE_ROW = "throttle"
BUDGET_WINDOW = 61  # one-second buckets a call is counted in: any 60 s window overlaps at most 61 of them


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

    def usable(self) -> bool:
        return self._monotonic() >= self._down_until

    def failed(self, error: BaseException) -> None:
        now = self._monotonic()
        self.failures += 1
        telemetry.count_shared_state_failure()
        self._down_until = now + COOLDOWN_SECONDS
        self.down = True
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("Shared state unavailable (table %s: %s); this instance answers with its own cache, "
                        "Retry-After and calls budget, and tries storage again every %.0f s", self._table,
                        describe(error), COOLDOWN_SECONDS)

    def succeeded(self) -> None:
        if self.down:
            self.down = False
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
        self.table = table
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
        return cls(decode(entity.get("Answer")), _number(entity.get("FreshUntil")), _number(entity.get("StaleUntil")),
                   _number(entity.get("LeaseUntil")), str(entity.get("Owner") or ""), entity.metadata["etag"])


@dataclass(frozen=True)
class Lease:
    """This instance leads the call for a check: its lease on the row, until `until`."""

    etag: str
    until: float


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


# -- the throttle row ----------------------------------------------------------------------------------------

@dataclass
class Throttle:
    """The throttle row as last read or written."""

    retry_until: float = 0.0
    recovering: bool = False
    probe_until: float = 0.0
    prober: str = ""
    calls: dict[int, int] = dataclasses.field(default_factory=dict)  # epoch second -> calls sent in it
    etag: str | None = None  # None: no such row yet

    @classmethod
    def of(cls, entity: Any) -> Throttle:
        if entity is None:
            return cls()
        calls: dict[int, int] = {}
        for item in str(entity.get("Calls") or "").split(","):
            second, _, count = item.partition(":")
            if second.isdigit() and count.isdigit():
                calls[int(second)] = int(count)
        return cls(_number(entity.get("RetryUntil")), bool(entity.get("Recovering")), _number(entity.get("ProbeUntil")),
                   str(entity.get("Prober") or ""), calls, entity.metadata["etag"])

    def entity(self) -> dict[str, Any]:
        return {"RowKey": THROTTLE_ROW, "RetryUntil": float(self.retry_until), "Recovering": self.recovering,
                "ProbeUntil": float(self.probe_until), "Prober": self.prober,
                "Calls": ",".join(f"{second}:{count}" for second, count in sorted(self.calls.items()))}

    def wait_for_room(self, per_minute: int, now: float) -> float:
        """Seconds until a call fits `per_minute` in any 60 s, counting calls in one-second buckets.

        A call at second b is allowed while buckets b-60..b hold fewer than `per_minute`: any 60 s window that
        holds it lies within those 61 buckets, so no window ever holds more. Exact to the second, not the
        millisecond, which also absorbs the instances' clocks disagreeing by less than a second.
        """
        current = int(now)
        window = sorted((second, count) for second, count in self.calls.items() if second > current - BUDGET_WINDOW)
        total = sum(count for _, count in window)
        for second, count in window:
            if total < per_minute:
                break
            total -= count
            if total < per_minute:
                return second + BUDGET_WINDOW - now
        return 0.0 if total < per_minute else 60.0

    def count_call(self, now: float) -> None:
        current = int(now)
        self.calls = {second: count for second, count in self.calls.items() if second > current - BUDGET_WINDOW}
        self.calls[current] = self.calls.get(current, 0) + 1


class ThrottleRow:
    """The throttle row as this instance knows it, and changes to it written on its ETag."""

    def __init__(self, rows: Rows, monotonic: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._rows = rows
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one read at a time: concurrent callers take its result
        self._known = Throttle()
        self._read_at = -math.inf

    def seen(self, entity: Any) -> None:
        """The row as a lookup just read it (None: there is none yet)."""
        with self._lock:
            self._known, self._read_at = Throttle.of(entity), self._monotonic()

    def current(self, max_age: float, allowance: Allowance) -> Throttle:
        """The row as read at most `max_age` ago, else read now."""
        asked = self._monotonic()
        with self._lock:
            if asked - self._read_at <= max_age:
                return dataclasses.replace(self._known, calls=dict(self._known.calls))
        with self._reading:
            with self._lock:
                fresh = self._read_at >= asked  # read by another caller while this one waited
            if not fresh:
                self.seen(self._rows.read(THROTTLE_ROW, allowance))
        return self.current(math.inf, allowance)

    def refresh(self, allowance: Allowance, older_than: float = THROTTLE_REFRESH_AFTER) -> None:
        """Read the row again if it was read more than `older_than` ago (after a call, off the request's path)."""
        with self._lock:
            if self._monotonic() - self._read_at <= older_than:
                return
        self.seen(self._rows.read(THROTTLE_ROW, allowance))

    def change(self, mutate: Callable[[Throttle], bool], allowance: Allowance) -> Throttle | None:
        """Apply `mutate` to the latest row and write it if unchanged meanwhile; None when `mutate` declined."""
        max_age = THROTTLE_MAX_AGE
        for _ in range(20):
            row = self.current(max_age, allowance)
            if not mutate(row):
                return None
            try:
                if row.etag is None:
                    etag = self._rows.create(row.entity(), allowance)
                else:
                    etag = self._rows.update(row.entity(), row.etag, allowance, merge=False)
            except Conflict:
                max_age = -1.0  # read it again
                self._sleep(random.uniform(0, 0.01))
                continue
            row.etag = etag
            with self._lock:
                self._known, self._read_at = row, self._monotonic()
            return row
        raise Spent()  # contention beyond reason: this call goes on with this instance's own state


class SharedGate:
    """The org's `Retry-After` for every instance: noted in the throttle row, and one probe in all after it.

    Falls back to this instance's own `RetryAfterGate` (kept up to date all along) while storage fails.
    """

    def __init__(self, state: TableState, local: RetryAfterGate) -> None:
        self._state = state
        self._local = local
        self._lock = threading.Lock()
        self._probing = False  # a thread of this instance holds the probe (or is taking it)

    def note(self, wait: float) -> None:
        self._local.note(wait)
        until = self._state.wall() + wait
        owner = self._state.owner

        def mutate(row: Throttle) -> bool:
            row.retry_until, row.recovering = max(row.retry_until, until), True
            if row.prober == owner:  # the probe was answered (with this 429): its lease ends
                row.probe_until, row.prober = 0.0, ""
            return True

        self._state.with_storage(lambda allowance: self._state.throttle.change(mutate, allowance), None)

    def wait(self, deadline: float) -> bool:
        result = self._state.with_storage(lambda allowance: self._wait(deadline, allowance), _LOCAL)
        return self._local.wait(deadline) if result is _LOCAL else result

    def _wait(self, deadline: float, allowance: Allowance) -> bool:
        state = self._state
        max_age = THROTTLE_MAX_AGE
        while True:
            row = state.throttle.current(max_age, allowance)
            now, clock = state.wall(), state.monotonic()
            wait = row.retry_until - now
            # Waits must leave the call time for the gate's own reads and writes, and for the call itself.
            if wait > 0:
                if clock + wait + CALL_MARGIN >= deadline:
                    raise UpstreamThrottled(message=THROTTLED, retry_after=max(1, round(wait)))
                state.sleep(wait)
                max_age = 0.0
                continue
            if not row.recovering:
                return False
            if clock + CALL_MARGIN >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            # Past a Retry-After, one call goes first for all instances: the one that takes the probe's lease.
            with self._lock:
                mine = not self._probing and not (row.probe_until > now and row.prober != state.owner)
                if mine:
                    self._probing = True
            if mine and self._take_probe(deadline, allowance):
                if state.monotonic() + CALL_MARGIN / 2 < deadline:
                    return True
                self.end_probe(recovered=False)  # taken too late to be sent: let another instance probe
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            if clock + 0.1 + CALL_MARGIN >= deadline:
                raise UpstreamThrottled(message=THROTTLED, retry_after=1)
            state.sleep(0.1)
            max_age = 0.0

    def _take_probe(self, deadline: float, allowance: Allowance) -> bool:
        state = self._state
        now = state.wall()
        lease = now + min(max(0.0, deadline - state.monotonic()), MAX_LEASE_SECONDS) + 1.0

        def mutate(row: Throttle) -> bool:
            if row.retry_until > now or not row.recovering or (row.probe_until > now and row.prober != state.owner):
                return False
            row.probe_until, row.prober = lease, state.owner
            return True

        taken = False
        try:
            taken = state.throttle.change(mutate, allowance) is not None
        finally:
            if not taken:
                with self._lock:
                    self._probing = False
        return taken

    def end_probe(self, *, recovered: bool) -> None:
        with self._lock:
            self._probing = False
        self._local.end_probe(recovered=recovered)
        owner = self._state.owner

        def mutate(row: Throttle) -> bool:
            changed = False
            if row.prober == owner:
                row.probe_until, row.prober, changed = 0.0, "", True
            if recovered and row.recovering and row.retry_until <= self._state.wall():
                row.recovering, changed = False, True
            return changed

        self._state.with_storage(lambda allowance: self._state.throttle.change(mutate, allowance), None)


class SharedBudget:
    """`AVAILABILITY_MAX_CALLS_PER_MINUTE` for every instance together, counted in the throttle row.

    Each call is also counted in this instance's own `CallsBudget`, which takes over while storage fails. When
    storage works but cannot confirm room within the request's allowance (slow, or many instances taking at
    once), the call is not made: the budget is there to protect the org.
    """

    def __init__(self, state: TableState, local: CallsBudget) -> None:
        self._state = state
        self._local = local
        self.per_minute = local.per_minute

    def wait(self, wait_until: float) -> bool:
        if not self.per_minute:
            return False
        result = self._state.with_storage(_strict(lambda allowance: self._wait(wait_until, allowance)), _LOCAL)
        return self._local.wait(wait_until) if result is _LOCAL else result

    def _wait(self, wait_until: float, allowance: Allowance) -> bool:
        state = self._state
        waited, max_age = False, THROTTLE_MAX_AGE
        while True:
            wait = state.throttle.current(max_age, allowance).wait_for_room(self.per_minute, state.wall())
            if wait <= 0:
                return waited
            if state.monotonic() + wait > wait_until:
                # Counted by the second, room may come up to a second after the exact minute: say the minute.
                raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=max(1, min(60, math.ceil(wait))))
            state.sleep(wait)
            waited, max_age = True, 0.0

    def take(self) -> bool:
        if not self.per_minute:
            return True
        now = self._state.wall()

        def mutate(row: Throttle) -> bool:
            # A Retry-After noted since the gate looked (the gate may go by a row a moment old): no room either.
            if row.wait_for_room(self.per_minute, now) > 0 or row.retry_until > now:
                return False
            row.count_call(now)
            return True

        taken = self._state.with_storage(
            _strict(lambda allowance: self._state.throttle.change(mutate, allowance) is not None), _LOCAL)
        if taken is _LOCAL:
            return self._local.take()
        if taken:
            self._local.take()  # this instance's own count, for when storage fails
        return taken


_LOCAL = object()  # "storage could not decide: use this instance's own state"


def _strict(operation: Callable[[Allowance], Any]) -> Callable[[Allowance], Any]:
    """`operation`, with room it could not confirm in time taken as no room."""

    def strict(allowance: Allowance) -> Any:
        try:
            return operation(allowance)
        except Spent:
            raise UpstreamThrottled(message=BUDGET_SPENT, retry_after=1) from None

    return strict


# -- the state ---------------------------------------------------------------------------------------------

class TableState(MemoryState):
    """A `MemoryState` whose misses, Retry-After and calls budget go through Table Storage for all instances.

    :param table: an `azure.data.tables.TableClient` (the table is created on first use).
    :param partition: the org's partition (`partition_for`).
    :keyword max_calls_per_minute: the calls budget of all instances together (0: none).
    """

    shared = True

    def __init__(self, table: Any, partition: str, *, max_calls_per_minute: int = 0,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, **options: Any) -> None:
        super().__init__(max_calls_per_minute=max_calls_per_minute, monotonic=monotonic, sleep=sleep, **options)
        self.monotonic, self.wall, self.sleep = monotonic, wall, sleep
        self.owner = uuid.uuid4().hex[:16]  # this instance, in leases
        self.table_name = getattr(table, "table_name", "?")
        self.rows = Rows(_Queries(table, partition), partition)
        self.health = Health(self.table_name, monotonic)
        self.throttle = ThrottleRow(self.rows, monotonic, sleep)
        self.gate = SharedGate(self, self.gate)
        self.budget = SharedBudget(self, self.budget)
        self._request = threading.local()  # the storage allowance of the request this thread serves
        self._background_lock = threading.Lock()
        self._pending = 0
        self._workers: ThreadPoolExecutor | None = None
        self._purged_at = monotonic()
        self.dropped = 0  # answers not shared because the background was full (for telemetry)

    # -- a miss --
    def fetch(self, key: bytes, deadline: float | None, call: Call, lifetime: Lifetime) -> tuple[Availability, bool]:
        """Another instance's fresh answer, or the answer this instance fetches under the check's lease."""
        if not self.health.usable():
            return super().fetch(key, deadline, call, lifetime)
        allowance = Allowance(self.monotonic)
        self._request.allowance = allowance
        try:
            try:
                claim = self._claim(row_key(key), key, deadline, allowance)
                self.health.succeeded()
            except Spent:
                claim = None
            except StorageUnavailable as exc:
                self.health.failed(exc)
                claim = None
            if isinstance(claim, Availability):
                return claim, True
            try:
                answer = call()
            except BaseException:
                if claim is not None:
                    self._background(self._release, row_key(key), claim)
                raise
        finally:
            self._request.allowance = None
        fresh_for, stale_for = lifetime(answer)
        self.remember(key, answer, fresh_for, stale_for)
        if claim is not None or self.health.usable():
            self._background(self._publish, row_key(key), answer, fresh_for, stale_for, claim)
        return answer, False

    def _claim(self, key: str, digest: bytes, deadline: float | None, allowance: Allowance) -> Availability | Lease:
        end = deadline if deadline is not None else self.monotonic() + MAX_LEASE_SECONDS
        if digest not in self._entries:
            # A check this instance has not answered lately most often has no row at all: one insert takes the
            # lease, and proves no instance holds an answer or a lease for it (rows outlive both).
            until = self.wall() + min(max(0.0, end - self.monotonic()), MAX_LEASE_SECONDS) + 1.0
            try:
                return Lease(self.rows.create({"RowKey": key, "LeaseUntil": until, "Owner": self.owner,
                                               "ExpiresAt": until}, allowance), until)
            except Conflict:
                pass  # another instance fetched it, or is fetching it: read its row
        entity, throttle = self.rows.lookup(key, allowance)
        self.throttle.seen(throttle)
        row = KeyRow.of(entity)
        pause = FIRST_POLL
        while True:
            now = self.wall()
            if row is not None:
                if row.answer is not None and row.fresh_until > now:
                    self._keep(digest, row)
                    return replace(row.answer, source="cache")
                if row.answer is not None and row.stale_until > now:
                    self._keep(digest, row)  # served if this instance's own call fails
                if row.lease_until > now and row.owner != self.owner:
                    # Another instance is fetching this answer: wait for it as a follower would, within our deadline.
                    if self.monotonic() + pause >= end:
                        raise UpstreamTimeout(message="Dynamics 365 did not answer within the time budget.")
                    self.sleep(pause)
                    pause = min(pause * 1.5, MAX_POLL)
                    try:
                        row = KeyRow.of(self.rows.read(key, allowance))
                    except Spent:  # followed as long as this request may use storage: as past its deadline
                        raise UpstreamTimeout(message="Dynamics 365 did not answer within the time budget.") from None
                    continue
            until = now + min(max(0.0, end - self.monotonic()), MAX_LEASE_SECONDS) + 1.0
            lease = {"RowKey": key, "LeaseUntil": until, "Owner": self.owner,
                     "ExpiresAt": max(until, row.stale_until if row else 0.0)}
            try:
                if row is None:
                    return Lease(self.rows.create(lease, allowance), until)
                return Lease(self.rows.update(lease, row.etag, allowance, merge=True), until)
            except Conflict:
                row = KeyRow.of(self.rows.read(key, allowance))  # another instance came first: look again

    def _keep(self, digest: bytes, row: KeyRow) -> None:
        """Another instance's answer into this instance's memory, with the same windows (unless ours is newer)."""
        assert row.answer is not None
        local = self._entries.get(digest)
        if local is not None and local.answer.retrieved_at >= row.answer.retrieved_at:
            return
        now = self.wall()
        self.remember(digest, row.answer, row.fresh_until - now, row.stale_until - now)

    def _publish(self, key: str, answer: Availability, fresh_for: float, stale_for: float, lease: Lease | None,
                 allowance: Allowance) -> None:
        try:
            self._share(key, answer, fresh_for, stale_for, lease, allowance)
        finally:
            self.throttle.refresh(allowance)

    def _share(self, key: str, answer: Availability, fresh_for: float, stale_for: float, lease: Lease | None,
               allowance: Allowance) -> None:
        now = self.wall()
        if fresh_for <= 0 and stale_for <= 0:
            if lease is not None:
                self._release(key, lease, allowance)
            return
        entity = {"RowKey": key, "Answer": encode(answer), "FreshUntil": now + max(0.0, fresh_for),
                  "StaleUntil": now + max(0.0, stale_for)}
        if lease is not None:
            try:
                self.rows.update({**entity, "LeaseUntil": 0.0, "Owner": "", "ExpiresAt": entity["StaleUntil"]},
                                 lease.etag, allowance, merge=False)
                return
            except Conflict:
                pass  # the lease ran out and another instance took it: leave its lease, share the answer
        self.rows.merge({**entity, "ExpiresAt": max(entity["StaleUntil"], now + MAX_LEASE_SECONDS + 1.0)}, allowance)

    def _release(self, key: str, lease: Lease, allowance: Allowance) -> None:
        """The leader's call failed: followers may try theirs now rather than when the lease runs out."""
        try:
            self.rows.update({"RowKey": key, "LeaseUntil": 0.0, "Owner": ""}, lease.etag, allowance, merge=True)
        except Conflict:
            pass

    # -- Retry-After and budget --
    def with_storage(self, operation: Callable[[Allowance], Any], otherwise: Any) -> Any:
        """`operation` with this request's storage allowance, or `otherwise` when storage cannot be used now."""
        if not self.health.usable():
            return otherwise
        allowance = getattr(self._request, "allowance", None) or Allowance(self.monotonic)
        try:
            result = operation(allowance)
        except Spent:
            return otherwise
        except StorageUnavailable as exc:
            self.health.failed(exc)
            return otherwise
        self.health.succeeded()
        return result

    # -- the background: answers written after the caller has them, and the purge --
    def _background(self, operation: Callable[..., None], *args: Any) -> None:
        with self._background_lock:
            if self._pending >= MAX_BACKGROUND:
                self.dropped += 1
                return
            self._pending += 1
            if self._workers is None:
                self._workers = ThreadPoolExecutor(2, thread_name_prefix="shared-state")
            workers = self._workers
        workers.submit(self._run, operation, args)

    def _run(self, operation: Callable[..., None], args: tuple) -> None:
        try:
            if self.health.usable():
                operation(*args, Allowance(self.monotonic))
                self._purge_now_and_then()
                self.health.succeeded()
        except StorageUnavailable as exc:
            self.health.failed(exc)
        except (Spent, Conflict):
            pass
        except Exception:  # a bug here must not take the worker down; the answer is in memory anyway
            log.exception("Writing the shared state failed")
        finally:
            with self._background_lock:
                self._pending -= 1

    def _purge_now_and_then(self) -> None:
        with self._background_lock:
            if self.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
                return
            self._purged_at = self.monotonic()
        self.purge()

    def purge(self) -> int:
        """Delete expired rows of the org's partition, a few pages at most; returns how many."""
        deleted = 0
        for _ in range(PURGE_PAGES):
            allowance = Allowance(self.monotonic)
            rows = self.rows.expired(self.wall(), allowance)
            if not rows:
                break
            try:
                self.rows.delete_all(rows, allowance)
                deleted += len(rows)
            except Conflict:
                break  # a row was refreshed meanwhile: the next purge will see the rest
            if len(rows) < 100:
                break
        return deleted

    def close(self) -> None:
        """Let the writes already queued finish (each is bounded), then stop the workers."""
        with self._background_lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown(wait=True)
