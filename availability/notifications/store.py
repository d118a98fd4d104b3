"""`SubscriptionStore`: change subscriptions and what is known of each watched check, in one table
(`SUBSCRIPTIONS_TABLE`).

- **Partition `s`, RowKey = the subscription id**: the check (workstream, context items and engagement context,
  as JSON bytes, and its key), `NotifyOn`, `Language`, `TimeZone`, the callback URL and its signing secret (never
  shown after the 201; see the README on their protection at rest), the delivery record (`Enabled`,
  `ConsecutiveFailures`, `LastDelivery*`), **the last status told** (`SeenStatus`, `SeenCanEscalate`, `SeenAt`:
  the baseline, then each delivered change) and **the change being delivered** (`Pending*`: its delivery id, the
  exact body, its failed attempts, when the next is due, and the lease of the run sending it). A change is written
  here before it is sent and cleared once the callback took it, so a restart neither loses nor repeats it.
- **Partition `s`, RowKey = `~count~` and a workstream id**: how many subscriptions the workstream has (after every
  id in the partition's order, so never read as a subscription). A subscription is made and counted in one
  transaction on the count's ETag, and deleted and uncounted likewise, so the limit per workstream holds exactly
  however many are made at once, and a refused one leaves nothing behind.
- **Partition `w`, RowKey = the watched check's key** (a digest, never the caller's text): its last answer, when
  its status began, when the watch last asked the org, and the snapshot slot whose row it last used.

Every change of a subscription row replaces the whole row on its ETag, so two runs never both take a change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import tables
from ..answer import Availability, format_time
from ..checks import BeforeConversationCheck, parse_before_conversation
from ..errors import StorageTimeout, StorageUnavailable
from ..localtime import utc
from ..state.rows import decode, encode

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["BATCH", "Conflict", "Gone", "LimitReached", "Pending", "Subscription", "SubscriptionStore", "Watch",
           "check_key"]

log = logging.getLogger(__name__)

SUBSCRIPTIONS, WATCHES = "s", "w"
COUNT = "~count~"  # a workstream's count: its RowKey is this and the workstream id ("~" sorts after every id)
CONTENDED_ATTEMPTS = 200  # of a count's transaction, when others change it meanwhile (without a deadline)
BATCH = 100  # rows one transaction may change (Table Storage's limit)
# Transactions (POST, which the SDK does not send again once sent) whose answer may be lost, on a pooled connection
# the service closed meanwhile say, before giving up: the rows tell whether one was written.
LOST_ANSWERS = 3


class Conflict(Exception):
    """The row changed since it was read (another run, or a delete and a new row): read it again."""


class Gone(Exception):
    """The row is not there any more (the subscription was deleted)."""


class LimitReached(Exception):
    """The workstream already has as many subscriptions as it may have."""


def check_key(check: BeforeConversationCheck) -> str:
    """The key of a watched check: every subscription with the same upstream question shares it."""
    return hashlib.blake2b(repr(check.cache_key()).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Pending:
    """A change being delivered: the same id and body on every attempt."""

    id: str
    body: str
    status: str
    can_escalate: bool
    answered_at: datetime  # retrievedAt of the answer it tells
    failures: int = 0  # failed attempts of this change
    next_at: float = 0.0  # epoch seconds: not before then
    lease_until: float = 0.0  # epoch seconds: a run is sending it until then

    def value(self, notify_on: str) -> Any:
        return self.can_escalate if notify_on == "canEscalate" else self.status


@dataclass(frozen=True)
class Subscription:
    """One change subscription, as stored."""

    id: str
    workstream_id: str
    check_body: dict[str, Any]  # contextItems and engagementContext as the request gave them (validated)
    check_key: str
    notify_on: str
    language: str
    time_zone: str | None
    created_at: datetime
    callback_url: str = field(repr=False)
    secret: str = field(repr=False)
    callback_host: str
    seen_status: str
    seen_can_escalate: bool
    seen_at: datetime  # retrievedAt of the answer last told (or of the baseline)
    enabled: bool = True
    consecutive_failures: int = 0
    last_delivery_at: datetime | None = None
    last_delivery_status: str | None = None
    last_response_status: int | None = None
    pending: Pending | None = None
    etag: str | None = field(default=None, compare=False)

    def check(self) -> BeforeConversationCheck:
        """The watched check (parsed as any request's: one definition of what a check is)."""
        return parse_before_conversation({"workstreamId": self.workstream_id, **self.check_body})

    def watched(self, answer: Availability) -> Any:
        """The field this subscription is told about, in `answer`."""
        return answer.can_escalate if self.notify_on == "canEscalate" else answer.status

    @property
    def seen(self) -> Any:
        """The watched field as last told."""
        return self.seen_can_escalate if self.notify_on == "canEscalate" else self.seen_status

    def to_json(self) -> dict[str, Any]:
        """The API's list/get item: never the callback URL nor the secret."""
        return {"id": self.id, "workstreamId": self.workstream_id, "notifyOn": self.notify_on,
                "createdAt": format_time(self.created_at), "callbackHost": self.callback_host,
                "lastDeliveryAt": format_time(self.last_delivery_at),
                "lastDeliveryStatus": self.last_delivery_status, "lastResponseStatus": self.last_response_status,
                "consecutiveFailures": self.consecutive_failures, "enabled": self.enabled}

    # -- the row --
    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": SUBSCRIPTIONS, "RowKey": self.id, "WorkstreamId": self.workstream_id,
            "Check": json.dumps(self.check_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
            "CheckKey": self.check_key, "NotifyOn": self.notify_on, "Language": self.language,
            "TimeZone": self.time_zone, "CreatedAt": self.created_at, "CallbackUrl": self.callback_url,
            "Secret": self.secret, "CallbackHost": self.callback_host, "SeenStatus": self.seen_status,
            "SeenCanEscalate": self.seen_can_escalate, "SeenAt": self.seen_at, "Enabled": self.enabled,
            "ConsecutiveFailures": self.consecutive_failures, "LastDeliveryAt": self.last_delivery_at,
            "LastDeliveryStatus": self.last_delivery_status, "LastResponseStatus": self.last_response_status,
        }
        if self.pending is not None:
            p = self.pending
            entity.update({"PendingId": p.id, "PendingBody": p.body.encode("utf-8"), "PendingStatus": p.status,
                           "PendingCanEscalate": p.can_escalate, "PendingAnsweredAt": p.answered_at,
                           "PendingFailures": p.failures, "PendingNextAt": float(p.next_at),
                           "PendingLeaseUntil": float(p.lease_until)})
        return {name: value for name, value in entity.items() if value is not None}  # Table Storage has no null

    @classmethod
    def from_entity(cls, entity: Any) -> Subscription:
        pending = None
        if entity.get("PendingId"):
            pending = Pending(id=entity["PendingId"], body=_text(entity["PendingBody"]),
                              status=entity["PendingStatus"], can_escalate=bool(entity["PendingCanEscalate"]),
                              answered_at=_when(entity["PendingAnsweredAt"]),
                              failures=int(entity.get("PendingFailures") or 0),
                              next_at=float(entity.get("PendingNextAt") or 0.0),
                              lease_until=float(entity.get("PendingLeaseUntil") or 0.0))
        return cls(
            id=entity["RowKey"], workstream_id=entity["WorkstreamId"], check_body=json.loads(_text(entity["Check"])),
            check_key=entity["CheckKey"], notify_on=entity["NotifyOn"], language=entity["Language"],
            time_zone=entity.get("TimeZone"), created_at=_when(entity["CreatedAt"]),
            callback_url=entity["CallbackUrl"], secret=entity["Secret"], callback_host=entity["CallbackHost"],
            seen_status=entity["SeenStatus"], seen_can_escalate=bool(entity["SeenCanEscalate"]),
            seen_at=_when(entity["SeenAt"]), enabled=bool(entity.get("Enabled", True)),
            consecutive_failures=int(entity.get("ConsecutiveFailures") or 0),
            last_delivery_at=_when(entity.get("LastDeliveryAt")),
            last_delivery_status=entity.get("LastDeliveryStatus"),
            last_response_status=_int(entity.get("LastResponseStatus")),
            pending=pending, etag=_etag(entity))


@dataclass(frozen=True)
class Watch:
    """What is known of one watched check: its last answer, since when its status holds, when the watch last
    asked the org (epoch seconds) and the snapshot slot whose row it last used (epoch seconds)."""

    key: str
    answer: Availability | None = None
    changed_at: datetime | None = None
    asked_at: float = 0.0
    snapshot_slot: float = 0.0

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {"PartitionKey": WATCHES, "RowKey": self.key, "AskedAt": float(self.asked_at),
                                  "SnapshotSlot": float(self.snapshot_slot)}
        if self.answer is not None:
            entity["Answer"] = encode(self.answer)
        if self.changed_at is not None:
            entity["ChangedAt"] = self.changed_at
        return entity

    @classmethod
    def from_entity(cls, entity: Any) -> Watch:
        return cls(key=entity["RowKey"], answer=decode(entity.get("Answer")), changed_at=_when(entity.get("ChangedAt")),
                   asked_at=float(entity.get("AskedAt") or 0.0),
                   snapshot_slot=float(entity.get("SnapshotSlot") or 0.0))


class SubscriptionStore:
    """Subscriptions and watches in one table, created on first use. Thread-safe.

    :param table: an `azure.data.tables.TableClient` for `SUBSCRIPTIONS_TABLE`.

    Storage failures become the gateway's errors (`StorageUnavailable`, `ConfigurationError`); a call given a
    `deadline` (monotonic) ends by it (`StorageTimeout`).
    """

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._created = tables.EnsuredTable(table)

    @property
    def table_name(self) -> str:
        return self._table.table_name

    def close(self) -> None:
        self._table.close()

    def ensure_table(self, deadline: float | None = None) -> None:
        """Create the table if it does not exist (once per store)."""
        self._created.ensure(deadline)

    # -- subscriptions --
    def insert(self, subscription: Subscription, *, limit: int, deadline: float | None = None) -> Subscription:
        """Add a new subscription and count it in its workstream, in one transaction on the count's ETag.

        :raises LimitReached: the workstream has `limit` subscriptions already (nothing is written).
        """
        self.ensure_table(deadline)
        lost = 0
        for _ in self._contended(deadline):
            count, etag = self._count(subscription.workstream_id, deadline)
            if count >= limit:
                raise LimitReached()
            try:
                written = self._transaction([self._counted(subscription.workstream_id, count + 1, etag),
                                             ("create", subscription.to_entity())], deadline)
            except StorageUnavailable:  # the answer was lost, maybe not the transaction: the row says which
                found = self.get(subscription.id, deadline=deadline)
                if found is not None:
                    return found
                lost += 1
                if lost >= LOST_ANSWERS:
                    raise
                continue
            if written is not None:
                return replace(subscription, etag=written[1].get("etag"))
        raise AssertionError("unreachable")  # _contended raises when it gives up

    def count(self, workstream_id: str, *, deadline: float | None = None) -> int:
        """How many subscriptions the workstream has."""
        return self._count(workstream_id, deadline)[0]

    def _count(self, workstream_id: str, deadline: float | None) -> tuple[int, str | None]:
        """(count, ETag of its row); a table written before counts were kept is counted now (ETag None: the row is
        to be made)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with tables.errors_translated():
                row = self._table.get_entity(SUBSCRIPTIONS, COUNT + workstream_id.lower(),
                                             **tables.options_until(deadline))
        except ResourceNotFoundError:
            rows = self._query(SUBSCRIPTIONS, ("WorkstreamId eq @w", {"w": workstream_id}), deadline,
                               select=["RowKey"])
            return len(rows), None
        return int(row.get("Count") or 0), _etag(row)

    def _counted(self, workstream_id: str, count: int, etag: str | None) -> tuple[Any, ...]:
        """The transaction's operation writing `count` for the workstream, on `etag` (None: the row is new)."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        row = {"PartitionKey": SUBSCRIPTIONS, "RowKey": COUNT + workstream_id.lower(), "Count": count}
        if etag is None:
            return ("create", row)
        return ("update", row, {"mode": UpdateMode.REPLACE, "etag": etag,
                                "match_condition": MatchConditions.IfNotModified})

    def _transaction(self, operations: list[tuple[Any, ...]], deadline: float | None) -> list[Any] | None:
        """Submit `operations` (one partition) all or none; None when a row changed, appeared or went meanwhile."""
        from azure.data.tables import TableTransactionError

        written: list[Any] | None = None
        with tables.errors_translated():  # which would make a refused transaction an outage: caught inside
            try:
                written = list(self._table.submit_transaction(operations, **tables.options_until(deadline)))
            except TableTransactionError as exc:
                if exc.status_code not in (404, 409, 412):
                    raise
        return written

    @staticmethod
    def _contended(deadline: float | None) -> Iterable[int]:
        """Attempts of a transaction that others may beat, a jittered pause between two, until the deadline."""
        for attempt in range(CONTENDED_ATTEMPTS):
            if attempt:
                pause = random.uniform(0.005, min(0.2, 0.01 * 2 ** min(attempt, 5)))  # noqa: S311 - jitter
                if deadline is not None and time.monotonic() + pause >= deadline - 0.1:
                    raise StorageTimeout(message="Table storage was too busy to count the subscription in time.")
                time.sleep(pause)
            yield attempt
        raise StorageUnavailable(message="Table storage kept refusing the subscription count's changes.")

    def get(self, subscription_id: str, *, deadline: float | None = None) -> Subscription | None:
        """The subscription, or None when there is none with this id."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with tables.errors_translated():
                entity = self._table.get_entity(SUBSCRIPTIONS, subscription_id.lower(),
                                                **tables.options_until(deadline))
        except ResourceNotFoundError:  # no such row, or no table yet
            return None
        return Subscription.from_entity(entity)

    def subscriptions(self, *, deadline: float | None = None) -> list[Subscription]:
        """Every subscription, oldest first."""
        rows = self._query(SUBSCRIPTIONS, ("RowKey lt @count", {"count": COUNT}), deadline)
        return sorted((Subscription.from_entity(entity) for entity in rows), key=lambda s: (s.created_at, s.id))

    def delete(self, subscription_id: str, *, deadline: float | None = None) -> None:
        """Delete the subscription and uncount it, in one transaction (nothing happens when there is none)."""
        lost = 0
        for _ in self._contended(deadline):
            found = self.get(subscription_id, deadline=deadline)
            if found is None:
                return
            count, etag = self._count(found.workstream_id, deadline)
            operations: list[tuple[Any, ...]] = [("delete", {"PartitionKey": SUBSCRIPTIONS, "RowKey": found.id})]
            if etag is not None:  # else counted afresh from the rows when next asked
                operations.append(self._counted(found.workstream_id, max(count - 1, 0), etag))
            try:
                if self._transaction(operations, deadline) is not None:
                    return
            except StorageUnavailable:  # the answer was lost, maybe not the transaction: read the row again
                lost += 1
                if lost >= LOST_ANSWERS:
                    raise

    def save(self, subscription: Subscription) -> Subscription:
        """Replace the row as `subscription` says, if it is still the row it was read as (its ETag).

        :raises Conflict: the row changed meanwhile. :raises Gone: it was deleted.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        # Caught inside errors_translated, which would make any other answer of storage an outage.
        with tables.errors_translated():
            try:
                metadata = self._table.update_entity(subscription.to_entity(), mode=UpdateMode.REPLACE,
                                                     etag=subscription.etag,
                                                     match_condition=MatchConditions.IfNotModified)
            except ResourceNotFoundError:
                raise Gone() from None
            except ResourceModifiedError:
                raise Conflict() from None
        return replace(subscription, etag=_etag(metadata))

    def save_all(self, subscriptions: list[Subscription]) -> list[Subscription] | None:
        """Replace the rows of up to `BATCH` distinct subscriptions in one transaction, each on its ETag: all, or
        none (None) when one of them changed or went meanwhile (then save them one by one)."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        if not subscriptions:
            return []
        written = self._transaction([("update", subscription.to_entity(), {
            "mode": UpdateMode.REPLACE, "etag": subscription.etag, "match_condition": MatchConditions.IfNotModified})
            for subscription in subscriptions], None)
        if written is None:
            return None
        return [replace(subscription, etag=metadata.get("etag"))
                for subscription, metadata in zip(subscriptions, written, strict=True)]

    # -- watches --
    def watches(self) -> dict[str, Watch]:
        """Every watch by key."""
        return {entity["RowKey"]: Watch.from_entity(entity) for entity in self._query(WATCHES, None, None)}

    def watch(self, key: str, *, deadline: float | None = None) -> Watch | None:
        """The watch of `key`, or None."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            with tables.errors_translated():
                return Watch.from_entity(self._table.get_entity(WATCHES, key, **tables.options_until(deadline)))
        except ResourceNotFoundError:
            return None

    def save_watch(self, watch: Watch, *, deadline: float | None = None) -> None:
        """Write the watch (the last writer wins: two runs write what each learnt, both true)."""
        from azure.data.tables import UpdateMode

        self.ensure_table(deadline)
        with tables.errors_translated():
            self._table.upsert_entity(watch.to_entity(), mode=UpdateMode.REPLACE, **tables.options_until(deadline))

    def delete_watches(self, keys: Iterable[str]) -> None:
        """Forget watches no subscription uses any more."""
        from azure.core.exceptions import ResourceNotFoundError

        with tables.errors_translated():
            for key in keys:
                with suppress(ResourceNotFoundError):
                    self._table.delete_entity(WATCHES, key)

    def _query(self, partition: str, extra: tuple[str, dict[str, Any]] | None, deadline: float | None,
               select: list[str] | None = None) -> list[Any]:
        from azure.core.exceptions import ResourceNotFoundError

        text, parameters = "PartitionKey eq @p", {"p": partition}
        if extra:
            text, parameters = f"{text} and {extra[0]}", {**parameters, **extra[1]}
        try:
            with tables.errors_translated():
                return list(self._table.query_entities(text, parameters=parameters, select=select,
                                                       **tables.options_until(deadline)))
        except ResourceNotFoundError:  # no table yet: nothing subscribed yet
            return []


def _etag(entity_or_metadata: Any) -> str | None:
    metadata = getattr(entity_or_metadata, "metadata", None)
    if isinstance(metadata, dict):
        return metadata.get("etag")
    if isinstance(entity_or_metadata, dict):
        return entity_or_metadata.get("etag")
    return None


def _when(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value) if value.tzinfo else value.replace(tzinfo=UTC)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
