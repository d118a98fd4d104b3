"""`SnapshotStore`: snapshot rows in one table — writes, history reads, retention.

- **Reads inside a request** (`history(deadline=)`): "one workstream, a time range, newest first" is one range
  query on one partition (`PartitionKey eq w and RowKey ge rk(to) and RowKey le rk(from)`), read in pages of
  1,000, already in order: 7 days at 5 minutes (2,016 rows) cost 3 page requests and no sorting. Every page
  request gets its own timeouts from the time left (at most 3 s to connect and 6 s to read), a retry only after
  a connection or read error and only when two whole attempts still fit, and none after a 5xx
  (`upstream_unavailable` at once), so a history read ends by its deadline whatever storage does.
- **All workstreams**: the same RowKey range holds across partitions, so it is one query too; the service
  returns partitions one after another, so the reader stops following a partition once it holds `limit` rows
  of it and jumps to the next (`PartitionKey gt w`), and narrows the range to the newest `limit` rows seen so
  far; the merge is then newest first, ties by workstream id.
- **Writes** are upserts in replace mode, so a re-run in the same slot overwrites its rows.
- **Retention** (`SNAPSHOT_RETENTION_DAYS`): one table-wide query on RowKey (keys only) and transactions of at
  most 100 deletes of one partition; the runner asks for it once a day.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from .. import tables
from ..errors import StorageUnavailable
from ..localtime import utc
from ..settings import Settings
from .rows import EPOCH, FIELDS, HistoryQuery, Snapshot, row_key

if TYPE_CHECKING:
    from azure.core.paging import PageIterator
    from azure.data.tables import TableClient, TableEntity

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # the Table service's maximum per response
TRANSACTION_SIZE = 100  # the Table service's maximum operations per transaction
TOO_SLOW = "Table storage did not return the history in time; ask for a shorter period or a lower limit."


class SnapshotStore:
    """Snapshot rows in one table. Thread-safe; the table is created on first write.

    :param table: an `azure.data.tables.TableClient` for the snapshot table.
    """

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._created = tables.EnsuredTable(table)

    @classmethod
    def from_connection_string(cls, connection_string: str, table_name: str, **client_options: Any) -> SnapshotStore:
        """A store on `table_name` of the account a connection string names (UseDevelopmentStorage=true works)."""
        return cls(tables.service_from_connection_string(connection_string, **client_options)
                   .get_table_client(table_name))

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> SnapshotStore:
        """The store on `SNAPSHOT_TABLE` of the storage the settings describe."""
        return cls(tables.service_from_settings(settings, **client_options).get_table_client(settings.snapshot_table))

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def close(self) -> None:
        self._table.close()

    # -- writes --
    def ensure_table(self) -> None:
        """Create the table if it does not exist (once per store)."""
        self._created.ensure()

    def write(self, snapshot: Snapshot) -> None:
        """Upsert (replace) one row: a second write for the same workstream and slot overwrites the first."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        self.ensure_table()
        with tables.errors_translated():
            try:
                self._table.upsert_entity(snapshot.to_entity(), mode=UpdateMode.REPLACE)
            except ResourceNotFoundError:  # the table was deleted behind our back: make it again, once
                self._created.forget()
                self.ensure_table()
                try:
                    self._table.upsert_entity(snapshot.to_entity(), mode=UpdateMode.REPLACE)
                except ResourceNotFoundError:
                    raise StorageUnavailable(message="Table storage lost the snapshot table.") from None

    def write_many(self, snapshots: Iterable[Snapshot]) -> int:
        """Upsert (replace) many rows, one transaction per workstream and 100 rows (a backfill's path); returns the
        count."""
        from azure.data.tables import UpdateMode

        by_partition: dict[str, dict[str, dict[str, Any]]] = {}
        for snapshot in snapshots:
            entity = snapshot.to_entity()
            # A transaction may not touch one entity twice: the last row for a slot wins, as with `write`.
            by_partition.setdefault(entity["PartitionKey"], {})[entity["RowKey"]] = entity
        self.ensure_table()
        written = 0
        with tables.errors_translated():
            for entities in by_partition.values():
                rows = list(entities.values())
                for i in range(0, len(rows), TRANSACTION_SIZE):
                    chunk = rows[i:i + TRANSACTION_SIZE]
                    self._table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in chunk])
                    written += len(chunk)
        return written

    # -- reads --
    def history(self, query: HistoryQuery, *, deadline: float | None = None,
                fields: Sequence[str] = FIELDS) -> list[Snapshot]:
        """Rows matching `query`, newest first (ties by workstream id), at most `query.limit`.

        :keyword deadline: `time.monotonic()` time by which the read ends: every page request gets timeouts
            from the time left, and none is sent once it has passed (`StorageTimeout`).
        :keyword fields: the row's fields to read (the others come back null): fewer bytes for a long read.
        """
        if query.end < EPOCH:
            return []
        start = max(utc(query.start), EPOCH)  # a RowKey holds no time before 1970
        low, high = row_key(query.end), row_key(start.replace(microsecond=0) + timedelta(
            seconds=1 if start.microsecond else 0))
        if low > high:
            return []
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with tables.errors_translated():
                select = [*fields, "PartitionKey", "RowKey"]
                if query.workstream_id is not None:
                    rows = self._one_partition(query, low, high, deadline, select)
                else:
                    rows = self._all_partitions(query, low, high, deadline, select)
        except ResourceNotFoundError:  # no table yet: no history yet
            return []
        return [Snapshot.from_entity(entity) for entity in rows]

    def recent_workstreams(self, start: datetime, end: datetime, *, deadline: float | None = None) -> list[str]:
        """The workstreams with a row captured in [start, end]: one request per workstream (keys only)."""
        low, high = row_key(end), row_key(max(utc(start), EPOCH))
        found: list[str] = []
        after: str | None = None
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with tables.errors_translated():
                while True:
                    text, parameters = self._filter(HistoryQuery(start=start, end=end), low, high, after)
                    first = next((page[0] for page in self._pages(text, parameters, ["PartitionKey"], 1, deadline)
                                  if page), None)
                    if first is None:
                        return found
                    after = first["PartitionKey"]
                    found.append(after)
        except ResourceNotFoundError:
            return found

    def _filter(self, query: HistoryQuery, low: str, high: str, after: str | None = None) -> tuple[str, dict[str, str]]:
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

    def _pages(self, text: str, parameters: dict[str, str], select: list[str], per_page: int,
               deadline: float | None) -> Iterator[list[TableEntity]]:
        """The pages of one query, each requested with timeouts from the time left before `deadline`."""
        token = None
        while True:
            options = tables.options_until(deadline, message=TOO_SLOW)
            # `by_page` is declared as a plain iterator, but returns azure-core's `PageIterator`, which carries the
            # continuation token (the SDK's documented way to resume a query).
            pager = cast("PageIterator[TableEntity]", self._table.query_entities(
                text, parameters=parameters, select=select, results_per_page=per_page,
                **options).by_page(continuation_token=token))
            try:
                page = list(next(pager))
            except StopIteration:
                return
            yield page
            token = pager.continuation_token
            if not token:
                return

    def _one_partition(self, query: HistoryQuery, low: str, high: str, deadline: float | None,
                       select: list[str]) -> list[TableEntity]:
        text, parameters = self._filter(query, low, high)
        rows: list[TableEntity] = []
        pages = self._pages(text, parameters, select, min(PAGE_SIZE, query.limit), deadline)
        for page in pages:
            rows.extend(page)
            if len(rows) >= query.limit:
                break
        return rows[:query.limit]

    def _all_partitions(self, query: HistoryQuery, low: str, high: str, deadline: float | None,
                        select: list[str]) -> list[TableEntity]:
        kept: list[tuple[_Newest, int, TableEntity]] = []  # the newest `limit` rows seen, a heap rooted at the oldest
        taken: Counter[str] = Counter()
        sequence = 0
        after: str | None = None
        while True:
            text, parameters = self._filter(query, low, high, after)
            pages = self._pages(text, parameters, select, PAGE_SIZE, deadline)
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

        oldest_kept = row_key(utc(older_than).replace(microsecond=0) + timedelta(
            seconds=1 if older_than.microsecond else 0))
        deleted = 0
        batch: list[tuple[str, dict[str, str]]] = []
        partition: str | None = None
        try:
            with tables.errors_translated():
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

    def _delete(self, batch: list[tuple[str, dict[str, str]]]) -> int:
        from azure.data.tables import TableTransactionError

        try:
            self._table.submit_transaction(batch)
        except TableTransactionError:
            # A row deleted meanwhile (another instance purging) fails the whole transaction: delete one by one.
            for _, entity in batch:
                self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        return len(batch)


@dataclass(frozen=True)
class _Newest:
    """Orders rows newest first (smaller RowKey), then by workstream id; `a > b` means a comes before b."""

    row_key: str
    partition: str

    def __lt__(self, other: _Newest) -> bool:
        return (self.row_key, self.partition) > (other.row_key, other.partition)

    def __gt__(self, other: _Newest) -> bool:
        return (self.row_key, self.partition) < (other.row_key, other.partition)
