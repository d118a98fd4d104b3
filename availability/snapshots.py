"""Availability history: one Table Storage row per workstream per schedule slot; the run, the reads, retention.

Table design (azure-data-tables, imported on first use so importing the app stays cheap):

- **PartitionKey = workstream id** (lowercase GUID), **RowKey = the slot inverted**: `999999999999 − epoch
  seconds of the slot`, zero-padded to 12 digits. Rows of a partition sort by RowKey ascending, which is
  newest first, so "one workstream, a time range, newest first" is one range query on one partition
  (`PartitionKey eq w and RowKey ge rk(to) and RowKey le rk(from)`), read in pages of 1,000, already in
  order: 7 days at 5 minutes (2,016 rows) cost 3 page requests and no sorting. A `from` before 1970 reads
  from 1970 (the key holds Unix seconds).
- **Reads inside a request** (`history(deadline=)`): every page request gets its own timeouts from the time
  left (at most 3 s to connect and 6 s to read), a retry only after a connection or read error and only when
  two whole attempts still fit, and none after a 5xx (`upstream_unavailable` at once), so a history read
  ends by its deadline whatever storage does (`upstream_timeout`).
- **Identity = the schedule slot**, the latest NCRONTAB occurrence at or before the run's start
  (`schedule_slot`). A timer that fires a few milliseconds early (12:04:59.998 for 12:05) belongs to the
  occurrence it fired for: the runner takes the next occurrence when the start is at most 5 s before it
  (`timer_slot`). Rows are upserted in replace mode, so a re-run in the same slot (manual trigger, retry, a
  second instance) overwrites its rows instead of adding new ones.
- **Time zone of the schedule**: UTC, as the Functions host evaluates NCRONTAB by default. When the app
  setting `WEBSITE_TIME_ZONE` names an IANA zone (`Europe/Paris`: the form Linux apps, so every Python app,
  take), slots are computed in that zone, as the host then fires the timer there (Premium and Dedicated
  plans; Azure ignores the setting on the Linux Consumption and Flex Consumption plans, where it must stay
  unset). A name zoneinfo does not know (a Windows name) is logged and UTC is used. Slot times are stored
  and shown in UTC either way.
- **All workstreams**: the same RowKey range holds across partitions, so it is one query too; the service
  returns partitions one after another, so the reader stops following a partition once it holds `limit`
  rows of it and jumps to the next (`PartitionKey gt w`), and narrows the range to the newest `limit` rows
  seen so far; the merge is then newest first, ties by workstream id.
- **Retention** (`SNAPSHOT_RETENTION_DAYS`): the timer's first slot of each UTC day deletes rows older than
  the slot minus the retention, with one table-wide query on RowKey (keys only) and transactions of at most
  100 deletes of one partition. Once a day keeps the scan cost negligible and still catches workstreams no
  longer snapshotted; rows are never older than the retention plus one day.
- Nulls are left out of the entity (Table Storage has no null) and read back as null.

The run (`run_snapshot`, the code path a backfill reuses with its own slots): every target is checked live
(no cache, no stale answer) by 8 workers at most, so 100 workstreams take ~13 upstream round trips and the
org never sees more than 8 calls at once; a 429 makes the shared `DataverseClient` hold every worker until
`Retry-After` passes, with `AVAILABILITY_MAX_CALLS_PER_MINUTE` set the checks queue for room in that budget
(shared with the HTTP functions), and a check that outlives the run's budget (the time to the next slot)
becomes an `upstream_timeout` (or `upstream_throttled`) row. Each worker writes its row as soon as its check
ends (one partition per row, so there is nothing to batch) by a writer pool beside the checkers, so writes
overlap the checks.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from uuid import UUID
from zoneinfo import ZoneInfo

from .errors import AvailabilityError, ConfigurationError, InvalidRequest, UpstreamTimeout, UpstreamUnavailable
from .model import _GUID, _MAX_ZONE_NAME, _ZONE_NAME, Availability, BeforeConversationCheck, _utc, format_time

log = logging.getLogger(__name__)

__all__ = [
    "Snapshot",
    "SnapshotSummary",
    "SnapshotStore",
    "SnapshotRunner",
    "HistoryQuery",
    "WorkstreamTargets",
    "run_snapshot",
    "schedule_slot",
    "timer_slot",
    "schedule_zone",
    "next_slot",
    "is_first_slot_of_day",
    "row_key",
    "parse_history_query",
    "check_parameter_names",
    "guid_parameter",
    "zone_parameter",
]

DEFAULT_CONCURRENCY = 8  # upstream calls at once: far below Dataverse's 52 concurrent, ≥ 5× faster than serial
DISCOVERY_TTL = 600.0  # seconds: upstream refreshes queue configuration every 10 minutes
DEFAULT_LIMIT, MAX_LIMIT = 500, 5000
DEFAULT_WINDOW = timedelta(hours=24)
PAGE_SIZE = 1000  # the Table service's maximum per response
TRANSACTION_SIZE = 100  # the Table service's maximum operations per transaction
_MAX_KEY = 999_999_999_999  # 12 digits: epoch seconds up to the year 33658
EARLY_FIRE = timedelta(seconds=5)  # a timer start this close before an occurrence belongs to that occurrence
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the oldest time a RowKey holds
# The timer's writes: three attempts of at most 3 s to connect and 6 s to read. Reads inside a request get
# per-call timeouts from their deadline instead (`_read_options`).
_CONNECT_TIMEOUT, _READ_TIMEOUT = 3.0, 6.0
_CLIENT_OPTIONS = {"connection_timeout": _CONNECT_TIMEOUT, "read_timeout": _READ_TIMEOUT, "retry_total": 2,
                   "retry_backoff_factor": 0.4}


def _client_options(where: str) -> dict[str, Any]:
    """Client options with a transport whose session reads the environment once (see `pooled_session`)."""
    from azure.core.pipeline.transport import RequestsTransport

    from .dataverse import pooled_session

    match = re.search(r"(?:TableEndpoint=|^)(https?://[^;/]+)", where)
    session = pooled_session(match.group(1) if match else "https://table.core.windows.net", 16)
    # azure-core sends its own `verify` with every request, which would override the session's CA bundle.
    return {**_CLIENT_OPTIONS,
            "transport": RequestsTransport(session=session, session_owner=False, connection_verify=session.verify)}


_FIELDS = ("workstreamId", "queueId", "capturedAt", "retrievedAt", "status", "withinOperatingHours",
           "representativesAvailable", "availableRepresentatives", "positionInQueue", "averageWaitSeconds",
           "error")
_QUERY_PARAMETERS = ("workstreamId", "queueId", "from", "to", "limit")
AUTH_PARAMETERS = ("code",)  # the function key, read by the host
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ----------------------------------------------------------------------------------------------- slots


def _cron(schedule: str, start: datetime) -> Any:
    from croniter import croniter

    try:
        return croniter(schedule, start, second_at_beginning=True)
    except (ValueError, KeyError) as exc:  # croniter's errors derive from ValueError
        raise ConfigurationError(message=f"The app setting SNAPSHOT_SCHEDULE is not a valid NCRONTAB expression "
                                         f"({exc}).", setting="SNAPSHOT_SCHEDULE") from None


def schedule_zone(name: str | None) -> tzinfo:
    """The zone NCRONTAB schedules are evaluated in: UTC, or the IANA zone `WEBSITE_TIME_ZONE` names.

    A name zoneinfo does not know (a Windows name such as "W. Europe Standard Time", which Linux apps do not
    take) is logged and UTC is used: the default `0 */5 * * * *` gives the same slots in any zone anyway.
    """
    name = (name or "").strip()
    if not name or name.upper() in ("UTC", "ETC/UTC"):
        return timezone.utc
    if len(name) <= _MAX_ZONE_NAME and _ZONE_NAME.fullmatch(name):
        try:
            return ZoneInfo(name)
        except Exception:  # unknown names, directories and anything else zoneinfo refuses
            pass
    log.warning("WEBSITE_TIME_ZONE '%s' is not an IANA time zone name: snapshot slots are computed in UTC",
                name[:100])
    return timezone.utc


def schedule_slot(schedule: str, moment: datetime, zone: tzinfo = timezone.utc) -> datetime:
    """The latest occurrence of the NCRONTAB `schedule` (evaluated in `zone`) at or before `moment`.

    Whole seconds, returned in UTC. Strict: 12:04:59.998 is in the 12:00 slot of `0 */5 * * * *`; a timer run
    takes `timer_slot`, which gives a start that early the occurrence it fired for.
    """
    # croniter's get_prev is strictly before its start: start one second past the (truncated) moment so
    # that a moment exactly on an occurrence is its own slot.
    start = _utc(moment).replace(microsecond=0) + timedelta(seconds=1)
    return _utc(_cron(schedule, start.astimezone(zone)).get_prev(datetime))


def timer_slot(schedule: str, started: datetime, zone: tzinfo = timezone.utc) -> datetime:
    """The slot of a timer run that started at `started`: its `schedule_slot`, or the next occurrence when the
    start is at most `EARLY_FIRE` (5 s) before it and nearer to it (a timer firing a few milliseconds early)."""
    slot = schedule_slot(schedule, started, zone)
    following = next_slot(schedule, slot, zone)
    ahead = following - _utc(started)
    if ahead <= EARLY_FIRE and ahead < _utc(started) - slot:
        return following
    return slot


def next_slot(schedule: str, slot: datetime, zone: tzinfo = timezone.utc) -> datetime:
    """The first occurrence of `schedule` (evaluated in `zone`) strictly after `slot`, in UTC."""
    return _utc(_cron(schedule, _utc(slot).replace(microsecond=0).astimezone(zone)).get_next(datetime))


def is_first_slot_of_day(schedule: str, slot: datetime, zone: tzinfo = timezone.utc) -> bool:
    """True when the occurrence before `slot` falls on an earlier UTC day."""
    slot = _utc(slot).replace(microsecond=0)
    previous = _utc(_cron(schedule, slot.astimezone(zone)).get_prev(datetime))
    return previous.date() < slot.date()


def row_key(slot: datetime) -> str:
    """The RowKey of `slot`: inverted epoch seconds, so ascending RowKeys run newest first."""
    return f"{_MAX_KEY - int(_utc(slot).timestamp()):012d}"


def _slot_of(key: str) -> datetime:
    return datetime.fromtimestamp(_MAX_KEY - int(key), timezone.utc)


# ------------------------------------------------------------------------------------------------ rows


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
            workstream_id=workstream_id, captured_at=_utc(slot), retrieved_at=answer.retrieved_at,
            queue_id=answer.queue_id, status=answer.status,
            within_operating_hours=answer.within_operating_hours,
            representatives_available=answer.representatives_available,
            available_representatives=answer.available_representatives,
            position_in_queue=answer.position_in_queue, average_wait_seconds=answer.average_wait_seconds)

    @classmethod
    def failed(cls, workstream_id: str, slot: datetime, code: str, at: datetime) -> Snapshot:
        return cls(workstream_id=workstream_id, captured_at=_utc(slot), retrieved_at=_utc(at), error=code)

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
            return None if value is None else _utc(value)

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
        """The history API's row (contract §3)."""
        return {
            "workstreamId": self.workstream_id, "queueId": self.queue_id,
            "capturedAt": format_time(self.captured_at), "status": self.status,
            "withinOperatingHours": self.within_operating_hours,
            "representativesAvailable": self.representatives_available,
            "availableRepresentatives": self.available_representatives,
            "positionInQueue": self.position_in_queue, "averageWaitSeconds": self.average_wait_seconds,
            "error": self.error,
        }


# --------------------------------------------------------------------------------------- history query


@dataclass(frozen=True)
class HistoryQuery:
    """Rows captured in [start, end] (both inclusive), newest first, at most `limit`."""

    start: datetime
    end: datetime
    limit: int = DEFAULT_LIMIT
    workstream_id: str | None = None
    queue_id: str | None = None


def parse_history_query(params: Mapping[str, str], now: datetime) -> HistoryQuery:
    """Validate `GET /api/snapshots` parameters; every fault is an `InvalidRequest` naming its parameter.

    A `from` before 1970 means from 1970: no row is older (the RowKey holds Unix seconds).
    """
    check_parameter_names(params, _QUERY_PARAMETERS)
    workstream_id = guid_parameter(params, "workstreamId")
    queue_id = guid_parameter(params, "queueId")
    start = _time_parameter(params, "from", end_of_day=False)
    end = _time_parameter(params, "to", end_of_day=True)
    if end is None:
        end = _utc(now)
    if start is None:
        start = end - DEFAULT_WINDOW
    if start > end:
        raise InvalidRequest("'from' must not be after 'to'.", target="from")
    start = max(start, EPOCH)
    limit = DEFAULT_LIMIT
    raw = params.get("limit")
    if raw is not None:
        text = raw.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6 and 1 <= int(text) <= MAX_LIMIT):
            raise InvalidRequest(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", target="limit")
        limit = int(text)
    return HistoryQuery(start=start, end=end, limit=limit, workstream_id=workstream_id, queue_id=queue_id)


def check_parameter_names(params: Mapping[str, str], expected: Sequence[str]) -> None:
    """Refuse query parameters other than `expected` (and the function key), naming every unknown one."""
    unknown = sorted(name for name in params if name not in (*expected, *AUTH_PARAMETERS))
    if unknown:
        shown = ", ".join(f"'{name[:100]}'" for name in unknown[:10])
        raise InvalidRequest(f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {shown}; expected "
                             f"{', '.join(expected)}.", target=unknown[0][:100])


def guid_parameter(params: Mapping[str, str], name: str, *, blank_is_absent: bool = False) -> str | None:
    """The GUID query parameter `name`, lowercase; None when absent (or blank, with `blank_is_absent`)."""
    value = params.get(name)
    if value is None or (blank_is_absent and not value.strip()):
        return None
    value = value.strip()
    if not _GUID.fullmatch(value):
        raise InvalidRequest(f"'{name}' must be a GUID such as 00000000-0000-0000-0000-000000000000.",
                             target=name)
    return str(UUID(value))


def zone_parameter(params: Mapping[str, str], name: str) -> str | None:
    """The IANA time zone query parameter `name`; None when absent or blank."""
    value = (params.get(name) or "").strip()
    if not value:
        return None
    problem = InvalidRequest(f"'{name}' must be an IANA time zone name such as Europe/Paris.", target=name)
    # The shape first: odd input never reaches the file system.
    if len(value) > _MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(value):
        raise problem
    try:
        ZoneInfo(value)
    except Exception:  # unknown names, directories ("America") and anything else zoneinfo refuses
        raise problem from None
    return value


def _time_parameter(params: Mapping[str, str], name: str, *, end_of_day: bool) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    text = value.strip()
    problem = (f"'{name}' must be an ISO-8601 time with 'Z' or an offset (2026-11-24T10:00:00Z) "
               f"or a date (2026-11-24).")
    if len(text) > 40:
        raise InvalidRequest(problem, target=name)
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(problem, target=name) from None
        moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        # A day given as `to` means the whole of it.
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    # An unencoded '+' of an offset arrives as a space.
    text = re.sub(r" (\d{2}(?::?\d{2})?)$", r"+\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(problem, target=name) from None
    if moment.tzinfo is None:
        raise InvalidRequest(problem, target=name)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise InvalidRequest(problem, target=name) from None


# ------------------------------------------------------------------------------------------------ store


class _StorageErrors:
    """Turns azure-core errors into the gateway's: unreachable → upstream_unavailable, refused → configuration."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, AvailabilityError):
            return False
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceRequestTimeoutError,
            ServiceResponseError,
            ServiceResponseTimeoutError,
        )

        if not isinstance(exc, AzureError) or isinstance(exc, ResourceNotFoundError):
            return False  # a missing table is for the caller to handle
        status = getattr(getattr(exc, "response", None), "status_code", None)
        # The cause, for operators: the error's kind and first line, with any URL query (a SAS) cut off.
        cause = re.sub(r"\?\S*", "", str(exc).splitlines()[0] if str(exc) else "")[:300]
        log.warning("Table storage call failed: %s%s%s", type(exc).__name__, ": " if cause else "", cause)
        if isinstance(exc, ClientAuthenticationError) or status == 403:
            raise ConfigurationError(
                message="Table storage refused the app's credentials; check AzureWebJobsStorage (or the managed "
                        "identity's Storage Table Data Contributor role).", setting="AzureWebJobsStorage") from None
        if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
            raise UpstreamTimeout(message="Table storage did not answer in time.") from None
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)) or status is None:
            raise UpstreamUnavailable(message="Table storage could not be reached.") from None
        if isinstance(exc, HttpResponseError):
            raise UpstreamUnavailable(message=f"Table storage answered with HTTP {status}.") from None
        return False


class SnapshotStore:
    """Snapshot rows in one table. Thread-safe; the table is created on first write.

    :param table: an `azure.data.tables.TableClient` for the snapshot table.
    """

    def __init__(self, table: Any) -> None:
        self._table = table
        self._table_ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_connection_string(cls, connection_string: str, table_name: str, **client_options: Any) -> SnapshotStore:
        """A store on `table_name` of the account named by a connection string (UseDevelopmentStorage=true works)."""
        from azure.data.tables import TableClient

        try:
            client = TableClient.from_connection_string(connection_string, table_name,
                                                        **{**_client_options(connection_string), **client_options})
        except (ValueError, TypeError):
            raise ConfigurationError(message="The app setting AzureWebJobsStorage is not a valid storage "
                                             "connection string.", setting="AzureWebJobsStorage") from None
        return cls(client)

    @classmethod
    def from_account(cls, account_name: str, table_name: str, credential: Any = None, *,
                     endpoint: str | None = None, managed_identity_client_id: str | None = None,
                     **client_options: Any) -> SnapshotStore:
        """A store reached with an identity (`AzureWebJobsStorage__accountName` or `__tableServiceUri`).

        The credential is DefaultAzureCredential by default, with the user-assigned identity
        `managed_identity_client_id` (`AzureWebJobsStorage__clientId`) when given.
        """
        from azure.data.tables import TableClient

        if credential is None:
            from azure.identity import DefaultAzureCredential

            # Unset, DefaultAzureCredential falls back to AZURE_CLIENT_ID, then the system-assigned identity.
            identity = {"managed_identity_client_id": managed_identity_client_id} if managed_identity_client_id else {}
            credential = DefaultAzureCredential(exclude_interactive_browser_credential=True, **identity)
        endpoint = endpoint or f"https://{account_name}.table.core.windows.net"
        return cls(TableClient(endpoint, table_name, credential=credential,
                               **{**_client_options(endpoint), **client_options}))

    @classmethod
    def from_settings(cls, settings: Any, **client_options: Any) -> SnapshotStore:
        """The store the settings describe; `ConfigurationError` naming AzureWebJobsStorage when there is none."""
        settings.require("storage_connection")
        if settings.storage_connection:
            return cls.from_connection_string(settings.storage_connection, settings.snapshot_table, **client_options)
        account = settings.storage_account_name
        if not settings.storage_table_uri and not re.fullmatch(r"[a-z0-9]{3,24}", account or ""):
            raise ConfigurationError(message="The app setting AzureWebJobsStorage__accountName must be a storage "
                                             "account name (3-24 lowercase letters or digits).",
                                     setting="AzureWebJobsStorage__accountName")
        return cls.from_account(account or "", settings.snapshot_table, endpoint=settings.storage_table_uri,
                                managed_identity_client_id=settings.storage_client_id, **client_options)

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def close(self) -> None:
        self._table.close()

    # -- writes --
    def ensure_table(self) -> None:
        """Create the table if it does not exist (once per store)."""
        if self._table_ready:
            return
        from azure.core.exceptions import ResourceExistsError

        with self._lock:
            if self._table_ready:
                return
            with _StorageErrors():
                try:
                    self._table.create_table()
                    log.info("Created the snapshot table %s", self.table_name)
                except ResourceExistsError:
                    pass
            self._table_ready = True

    def write(self, snapshot: Snapshot) -> None:
        """Upsert (replace) one row: a second write for the same workstream and slot overwrites the first."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        self.ensure_table()
        with _StorageErrors():
            try:
                self._table.upsert_entity(snapshot.to_entity(), mode=UpdateMode.REPLACE)
            except ResourceNotFoundError:  # the table was deleted behind our back: make it again, once
                self._table_ready = False
                self.ensure_table()
                try:
                    self._table.upsert_entity(snapshot.to_entity(), mode=UpdateMode.REPLACE)
                except ResourceNotFoundError:
                    raise UpstreamUnavailable(message="Table storage lost the snapshot table.") from None

    def write_many(self, snapshots: Iterable[Snapshot]) -> int:
        """Upsert (replace) many rows, one transaction per workstream and 100 rows (a backfill's path); returns the count."""
        from azure.data.tables import UpdateMode

        by_partition: dict[str, dict[str, dict]] = {}
        for snapshot in snapshots:
            entity = snapshot.to_entity()
            # A transaction may not touch one entity twice: the last row for a slot wins, as with `write`.
            by_partition.setdefault(entity["PartitionKey"], {})[entity["RowKey"]] = entity
        self.ensure_table()
        written = 0
        with _StorageErrors():
            for entities in by_partition.values():
                rows = list(entities.values())
                for i in range(0, len(rows), TRANSACTION_SIZE):
                    chunk = rows[i:i + TRANSACTION_SIZE]
                    self._table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in chunk])
                    written += len(chunk)
        return written

    # -- reads --
    def history(self, query: HistoryQuery, *, deadline: float | None = None) -> list[Snapshot]:
        """Rows matching `query`, newest first (ties by workstream id), at most `query.limit`.

        :keyword deadline: `time.monotonic()` time by which the read ends: every page request gets timeouts
            from the time left, and none is sent once it has passed (`UpstreamTimeout`).
        """
        if query.end < EPOCH:
            return []
        start = max(_utc(query.start), EPOCH)  # a RowKey holds no time before 1970
        low, high = row_key(query.end), row_key(start.replace(microsecond=0) + timedelta(
            seconds=1 if start.microsecond else 0))
        if low > high:
            return []
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with _StorageErrors():
                if query.workstream_id is not None:
                    rows = self._one_partition(query, low, high, deadline)
                else:
                    rows = self._all_partitions(query, low, high, deadline)
        except ResourceNotFoundError:  # no table yet: no history yet
            return []
        return [Snapshot.from_entity(entity) for entity in rows]

    def _filter(self, query: HistoryQuery, low: str, high: str, after: str | None = None) -> tuple[str, dict]:
        parts, parameters = ["RowKey ge @low", "RowKey le @high"], {"low": low, "high": high}
        if query.workstream_id is not None:
            parts.insert(0, "PartitionKey eq @partition")
            parameters["partition"] = query.workstream_id
        if after is not None:
            parts.insert(0, "PartitionKey gt @after")
            parameters["after"] = after
        if query.queue_id is not None:
            parts.append("queueId eq @queue")
            parameters["queue"] = query.queue_id
        return " and ".join(parts), parameters

    def _pages(self, text: str, parameters: dict, select: list[str], per_page: int,
               deadline: float | None) -> Iterator[list[dict]]:
        """The pages of one query, each requested with timeouts from the time left before `deadline`."""
        token = None
        while True:
            pager = self._table.query_entities(text, parameters=parameters, select=select, results_per_page=per_page,
                                               **_read_options(deadline)).by_page(continuation_token=token)
            try:
                page = list(next(pager))
            except StopIteration:
                return
            yield page
            token = pager.continuation_token
            if not token:
                return

    def _one_partition(self, query: HistoryQuery, low: str, high: str, deadline: float | None) -> list[dict]:
        text, parameters = self._filter(query, low, high)
        rows: list[dict] = []
        pages = self._pages(text, parameters, list(_FIELDS) + ["RowKey"], min(PAGE_SIZE, query.limit), deadline)
        for page in pages:
            rows.extend(page)
            if len(rows) >= query.limit:
                break
        return rows[:query.limit]

    def _all_partitions(self, query: HistoryQuery, low: str, high: str, deadline: float | None) -> list[dict]:
        kept: list[tuple[_Newest, int, dict]] = []  # the newest `limit` rows seen, a heap rooted at the oldest
        taken: Counter[str] = Counter()
        sequence = 0
        after: str | None = None
        while True:
            text, parameters = self._filter(query, low, high, after)
            pages = self._pages(text, parameters, list(_FIELDS) + ["PartitionKey", "RowKey"], PAGE_SIZE, deadline)
            jump = None
            for page in pages:
                last = None
                for entity in page:
                    partition = entity["PartitionKey"]
                    last = partition
                    if taken[partition] >= query.limit:
                        continue
                    taken[partition] += 1
                    sequence += 1
                    item = (_Newest(entity["RowKey"], partition), sequence, entity)
                    if len(kept) < query.limit:
                        heapq.heappush(kept, item)
                    elif item[0] > kept[0][0]:
                        heapq.heapreplace(kept, item)
                if last is not None and taken[last] >= query.limit:
                    jump = last  # the rest of this partition cannot make it: skip to the next one
                    break
            if jump is None:
                break
            after = jump
            if len(kept) >= query.limit:
                high = min(high, kept[0][0].row_key)  # nothing older than the oldest kept row can make it
        ordered = sorted(kept, key=lambda item: (item[0].row_key, item[0].partition))
        return [entity for _, _, entity in ordered]

    # -- retention --
    def purge(self, older_than: datetime) -> int:
        """Delete every row captured before `older_than`, in transactions of ≤ 100 per partition; returns the count."""
        from azure.core.exceptions import ResourceNotFoundError

        oldest_kept = row_key(_utc(older_than).replace(microsecond=0) + timedelta(
            seconds=1 if older_than.microsecond else 0))
        deleted = 0
        batch: list[tuple[str, dict]] = []
        partition: str | None = None
        try:
            with _StorageErrors():
                rows = self._table.query_entities("RowKey gt @key", parameters={"key": oldest_kept},
                                                  select=["PartitionKey", "RowKey"], results_per_page=PAGE_SIZE)
                for entity in rows:
                    if batch and (entity["PartitionKey"] != partition or len(batch) == TRANSACTION_SIZE):
                        deleted += self._delete(batch)
                        batch = []
                    partition = entity["PartitionKey"]
                    batch.append(("delete", {"PartitionKey": partition, "RowKey": entity["RowKey"]}))
                if batch:
                    deleted += self._delete(batch)
        except ResourceNotFoundError:
            return deleted
        return deleted

    def _delete(self, batch: list[tuple[str, dict]]) -> int:
        from azure.data.tables import TableTransactionError

        try:
            self._table.submit_transaction(batch)
        except TableTransactionError:
            # A row deleted meanwhile (another instance purging) fails the whole transaction: delete one by one.
            for _, entity in batch:
                self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        return len(batch)


def _read_options(deadline: float | None) -> dict[str, Any]:
    """azure-core per-call options that end one storage request by `deadline` (monotonic); none without one.

    One attempt gets at most 3 s to connect and 6 s to read, cut to the time left; a second attempt (after a
    connection or read error) only when two whole attempts fit; no retry after a 5xx, whose Retry-After the
    SDK would sleep whatever the deadline.
    """
    if deadline is None:
        return {}
    left = deadline - time.monotonic()
    if left < 0.1:
        raise UpstreamTimeout(message="Table storage did not return the history in time; ask for a shorter "
                                      "period or a lower limit.")
    connect = min(_CONNECT_TIMEOUT, left / 3)
    return {"connection_timeout": connect, "read_timeout": min(_READ_TIMEOUT, left - connect), "timeout": left,
            "retry_total": 1 if left >= 2 * (_CONNECT_TIMEOUT + _READ_TIMEOUT) + 1 else 0, "retry_status": 0}


@dataclass(frozen=True)
class _Newest:
    """Orders rows newest first (smaller RowKey), then by workstream id; `a > b` means a comes before b."""

    row_key: str
    partition: str

    def __lt__(self, other: _Newest) -> bool:
        return (self.row_key, self.partition) > (other.row_key, other.partition)

    def __gt__(self, other: _Newest) -> bool:
        return (self.row_key, self.partition) < (other.row_key, other.partition)


# ---------------------------------------------------------------------------------------------- targets


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

    def resolve(self) -> list[str]:
        """The target ids; in auto mode a failed discovery falls back to the last list, if any."""
        if self._ids is not None:
            return list(self._ids)
        with self._lock:
            if self._discovered is not None and self._monotonic() - self._discovered_at < self.ttl:
                return list(self._discovered)
            try:
                records = self._client.list_workstreams()
            except AvailabilityError as exc:
                if self._discovered is None:
                    raise
                log.warning("Workstream discovery failed (%s); using the %d workstreams found before",
                            exc.code, len(self._discovered))
                return list(self._discovered)
            ids = []
            for record in records:
                value = str(record.get("msdyn_liveworkstreamid") or "")
                if _GUID.fullmatch(value):
                    ids.append(value.lower())
            self._discovered = list(dict.fromkeys(ids))
            self._discovered_at = self._monotonic()
            return list(self._discovered)


# ---------------------------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class SnapshotSummary:
    """What one run did; `line()` is the log line."""

    slot: datetime
    targets: int
    ok: int
    failed: int
    duration_seconds: float
    errors: Mapping[str, int] = field(default_factory=dict)  # error code → workstreams
    unwritten: int = 0  # rows the store could not take
    past_due: bool = False
    purged: int | None = None  # rows deleted by retention in this run, None when it did not run

    def line(self) -> str:
        errors = "".join(f" {code}={count}" for code, count in sorted(self.errors.items()))
        text = (f"Snapshot slot={format_time(self.slot)} targets={self.targets} ok={self.ok} "
                f"failed={self.failed}{errors} duration={self.duration_seconds:.2f}s")
        if self.unwritten:
            text += f" unwritten={self.unwritten}"
        if self.purged is not None:
            text += f" purged={self.purged}"
        if self.past_due:
            text += " past_due=true"
        return text


def run_snapshot(
    slot: datetime,
    *,
    targets: Iterable[str],
    service: Any,
    store: SnapshotStore,
    concurrency: int = DEFAULT_CONCURRENCY,
    deadline: float | None = None,
    write_behind: bool = True,
    now: Callable[[], datetime] = _utcnow,
    monotonic: Callable[[], float] = time.monotonic,
) -> SnapshotSummary:
    """Check every target live and write one row each under `slot`'s identity; a failure becomes an error row.

    :param slot: the schedule slot the rows belong to (see `schedule_slot`); rows already there are replaced.
    :param targets: workstream ids.
    :param service: an `AvailabilityService` (`check(check, deadline=, live=True)`).
    :param store: where the rows go; the table is created first, so a storage outage fails the run before any
        upstream call.
    :keyword concurrency: upstream calls at once (the org's budget: the client also waits out Retry-After).
    :keyword deadline: `monotonic()` time by which every check must be answered.
    :keyword write_behind: write rows from a pool beside the checkers (the store's `write` is a network call);
        False when the store only queues the row (a backfill's batching writer), so it is handed over at once.
    :raises AvailabilityError: when the store cannot be reached at all.
    """
    started = monotonic()
    slot = _utc(slot).replace(microsecond=0)
    ids = list(dict.fromkeys(t.lower() for t in targets))
    store.ensure_table()

    def check(workstream_id: str) -> Snapshot:
        try:
            answer = service.check(BeforeConversationCheck(workstream_id=workstream_id), deadline=deadline, live=True)
            return Snapshot.of(workstream_id, slot, answer)
        except AvailabilityError as exc:
            code = exc.code
        except Exception:  # a bug must not cost the other workstreams their rows
            log.exception("Snapshot of workstream %s failed unexpectedly", workstream_id)
            code = "internal_error"
        log.warning("Snapshot of workstream %s at %s: %s", workstream_id, format_time(slot), code)
        return Snapshot.failed(workstream_id, slot, code, now())

    def write(row: Snapshot) -> bool:
        try:
            store.write(row)
            return True
        except Exception as exc:
            reason = exc.message if isinstance(exc, AvailabilityError) else type(exc).__name__
            log.error("Snapshot row of workstream %s at %s not written: %s", row.workstream_id,
                      format_time(slot), reason)
            return False

    errors: Counter[str] = Counter()
    unwritten = 0
    if ids:
        workers = max(1, min(concurrency, len(ids)))
        with ExitStack() as pools:
            checkers = pools.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="snapshot-check"))
            # Rows are written by a pool of their own, so a check worker goes on to its next workstream at once.
            submit = pools.enter_context(ThreadPoolExecutor(workers, thread_name_prefix="snapshot-write")).submit \
                if write_behind else _at_once
            checks = [checkers.submit(check, workstream_id) for workstream_id in ids]
            writes = []
            for done in as_completed(checks):
                row = done.result()
                if row.error:
                    errors[row.error] += 1
                writes.append(submit(write, row))
            unwritten = sum(1 for written in writes if not written.result())
    failed = sum(errors.values())
    return SnapshotSummary(slot=slot, targets=len(ids), ok=len(ids) - failed, failed=failed,
                           duration_seconds=round(monotonic() - started, 3), errors=dict(errors),
                           unwritten=unwritten)


def _at_once(call: Callable[..., Any], *args: Any) -> Future:
    """`call(*args)` in this thread, as a finished future."""
    future: Future = Future()
    future.set_result(call(*args))
    return future


class SnapshotRunner:
    """What the timer does: the slot from the clock, the targets, the run, retention once a day, one log line.

    :keyword time_zone: the zone the schedule is evaluated in (see `schedule_zone`); by default the app
        setting `WEBSITE_TIME_ZONE`, as the Functions host reads it.
    """

    MIN_BUDGET = 20.0  # seconds the checks get even when the schedule is tighter
    MARGIN = 15.0  # seconds kept before the next slot for writing and logging

    def __init__(self, *, schedule: str, targets: WorkstreamTargets, service: Any, store: SnapshotStore,
                 retention_days: int, concurrency: int = DEFAULT_CONCURRENCY, time_zone: str | None = None,
                 now: Callable[[], datetime] = _utcnow, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.schedule = schedule
        self.targets = targets
        self.service = service
        self.store = store
        self.retention_days = retention_days
        self.concurrency = concurrency
        self.zone = schedule_zone(os.environ.get("WEBSITE_TIME_ZONE") if time_zone is None else time_zone)
        self._now = now
        self._monotonic = monotonic

    def run(self, *, past_due: bool = False) -> SnapshotSummary:
        """One run for the current slot; raises when storage or discovery fail (the invocation then fails)."""
        started = self._now()
        slot = timer_slot(self.schedule, started, self.zone)
        if past_due:
            log.warning("Snapshot run for slot %s is past due (started %s)", format_time(slot), format_time(started))
        budget = max(self.MIN_BUDGET,
                     (next_slot(self.schedule, slot, self.zone) - started).total_seconds() - self.MARGIN)
        targets = self.targets.resolve()
        summary = run_snapshot(slot, targets=targets, service=self.service, store=self.store,
                               concurrency=self.concurrency, deadline=self._monotonic() + budget, now=self._now,
                               monotonic=self._monotonic)
        purged = None
        if is_first_slot_of_day(self.schedule, slot, self.zone):
            try:
                purged = self.store.purge(slot - timedelta(days=self.retention_days))
            except AvailabilityError as exc:
                log.error("Snapshot retention failed: %s", exc.message)
        summary = replace(summary, past_due=past_due, purged=purged)
        log.info(summary.line())
        if summary.unwritten:
            raise UpstreamUnavailable(message=f"{summary.unwritten} of {summary.targets} snapshot rows could not be "
                                              f"written to table storage.")
        return summary
