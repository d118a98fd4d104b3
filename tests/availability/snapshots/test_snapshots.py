"""Snapshots: slot identity, the Table Storage design (against Azurite), and the run (against the sandbox org)."""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from availability.answer import Availability
from availability.checks import BeforeConversationCheck
from availability.errors import (
    ConfigurationError,
    InvalidRequest,
    StorageTimeout,
    StorageUnavailable,
    UpstreamThrottled,
)
from availability.http.params import parse_history_query
from availability.settings import load_settings
from availability.snapshots import (
    HistoryQuery,
    Snapshot,
    SnapshotRunner,
    SnapshotStore,
    WorkstreamTargets,
    is_first_slot_of_day,
    next_slot,
    row_key,
    run_snapshot,
    schedule_slot,
    schedule_zone,
    timer_slot,
)
from availability.workstreams import WorkstreamDirectory
from tests.availability.conftest import connect, sandbox_org, unique_table
from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE, Q_BUSY, Q_OPEN, UNKNOWN, at

EVERY_5_MINUTES = "0 */5 * * * *"
BEFORE_ACTION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"


# ---------------------------------------------------------------------------------------- slots (unit)


@pytest.mark.parametrize("moment, slot", [
    ("2026-11-24T10:05:00Z", "2026-11-24T10:05:00Z"),         # exactly on an occurrence: that occurrence
    ("2026-11-24T10:05:00.999999Z", "2026-11-24T10:05:00Z"),  # within its second
    ("2026-11-24T10:07:03Z", "2026-11-24T10:05:00Z"),         # between two occurrences: the earlier
    ("2026-11-24T10:04:59.999Z", "2026-11-24T10:00:00Z"),     # just before one: the previous
    ("2026-11-24T00:00:00Z", "2026-11-24T00:00:00Z"),
    ("2026-11-24T00:02:00Z", "2026-11-24T00:00:00Z"),
    ("2026-01-01T00:00:01Z", "2026-01-01T00:00:00Z"),
    ("2025-12-31T23:59:59Z", "2025-12-31T23:55:00Z"),         # across a year
])
def test_slot_is_the_latest_occurrence_at_or_before_the_start(moment, slot):
    assert schedule_slot(EVERY_5_MINUTES, at(moment)) == at(slot)


def test_slot_of_a_start_given_with_an_offset_is_in_utc():
    # 03:07 in Paris on the day summer time begins is 01:07 UTC: local clocks play no part.
    moment = datetime.fromisoformat("2026-03-29T03:07:00+02:00")
    assert schedule_slot(EVERY_5_MINUTES, moment) == at("2026-03-29T01:05:00Z")


def test_hourly_slots_stay_an_hour_apart_across_a_daylight_saving_change():
    hourly = "0 0 * * * *"
    moments = [at("2026-03-29T00:30:00Z") + timedelta(hours=h) for h in range(4)]
    slots = [schedule_slot(hourly, m) for m in moments]
    assert [s.hour for s in slots] == [0, 1, 2, 3]
    assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in slots)


def test_slots_of_a_schedule_with_seconds_and_weekdays():
    weekdays = "30 15 9 * * 1-5"  # 09:15:30 on Monday to Friday
    assert schedule_slot(weekdays, at("2026-11-30T09:15:29Z")) == at("2026-11-27T09:15:30Z")  # Mon → Fri
    assert schedule_slot(weekdays, at("2026-11-30T09:15:30Z")) == at("2026-11-30T09:15:30Z")
    assert next_slot(weekdays, at("2026-11-27T09:15:30Z")) == at("2026-11-30T09:15:30Z")


@pytest.mark.parametrize("started, slot", [
    ("2026-11-24T12:04:59.998Z", "2026-11-24T12:05:00Z"),  # fired a few milliseconds early: its own occurrence
    ("2026-11-24T12:04:55Z", "2026-11-24T12:05:00Z"),      # 5 s early at most
    ("2026-11-24T12:04:54.9Z", "2026-11-24T12:00:00Z"),    # earlier than that: the slot it is in
    ("2026-11-24T12:05:00.250Z", "2026-11-24T12:05:00Z"),
    ("2026-11-24T12:07:03Z", "2026-11-24T12:05:00Z"),
    ("2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00Z"),  # across a year
])
def test_a_timer_run_belongs_to_the_occurrence_it_fired_for(started, slot):
    assert timer_slot(EVERY_5_MINUTES, at(started)) == at(slot)


def test_an_early_start_is_not_pulled_forward_on_a_schedule_faster_than_the_tolerance():
    every_2_seconds = "*/2 * * * * *"
    assert timer_slot(every_2_seconds, at("2026-11-24T12:00:01.999Z")) == at("2026-11-24T12:00:02Z")  # nearer
    assert timer_slot(every_2_seconds, at("2026-11-24T12:00:00.500Z")) == at("2026-11-24T12:00:00Z")


def test_schedules_are_evaluated_in_website_time_zone_when_it_names_an_iana_zone():
    paris = schedule_zone("Europe/Paris")
    daily_9 = "0 0 9 * * *"
    # 09:00:30 in Paris (winter, UTC+1) is 08:00:30 UTC: the 09:00 Paris occurrence, stored in UTC.
    assert schedule_slot(daily_9, at("2026-11-24T08:00:30Z"), paris) == at("2026-11-24T08:00:00Z")
    assert schedule_slot(daily_9, at("2026-11-24T08:00:30Z")) == at("2026-11-23T09:00:00Z")  # UTC by default
    # In summer (UTC+2) the same schedule fires at 07:00 UTC.
    assert schedule_slot(daily_9, at("2026-07-01T07:00:05Z"), paris) == at("2026-07-01T07:00:00Z")
    assert timer_slot(daily_9, at("2026-07-01T06:59:59.990Z"), paris) == at("2026-07-01T07:00:00Z")
    assert next_slot(daily_9, at("2026-03-28T08:00:00Z"), paris) == at("2026-03-29T07:00:00Z")  # across DST
    assert schedule_zone(None) is UTC and schedule_zone("") is UTC and schedule_zone("UTC") is UTC


def test_a_windows_time_zone_name_falls_back_to_utc_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="availability.snapshots"):
        assert schedule_zone("W. Europe Standard Time") is UTC
    assert "WEBSITE_TIME_ZONE" in caplog.text


def test_first_slot_of_the_day():
    assert is_first_slot_of_day(EVERY_5_MINUTES, at("2026-11-24T00:00:00Z"))
    assert not is_first_slot_of_day(EVERY_5_MINUTES, at("2026-11-24T00:05:00Z"))
    assert is_first_slot_of_day("0 30 6,18 * * *", at("2026-11-24T06:30:00Z"))
    assert not is_first_slot_of_day("0 30 6,18 * * *", at("2026-11-24T18:30:00Z"))


def test_a_malformed_schedule_names_the_setting():
    with pytest.raises(ConfigurationError) as caught:
        schedule_slot("0 */5 * * * banana", at("2026-11-24T10:00:00Z"))
    assert caught.value.setting == "SNAPSHOT_SCHEDULE"


def test_row_keys_sort_newest_first_and_have_a_fixed_width():
    older, newer = at("2026-11-24T10:00:00Z"), at("2026-11-24T10:05:00Z")
    assert row_key(newer) < row_key(older)
    assert len(row_key(older)) == len(row_key(at("1970-01-01T00:00:00Z"))) == len(row_key(at("2999-01-01T00:00:00Z")))
    assert row_key(at("2026-11-24T11:05:00+01:00")) == row_key(newer)


def test_entity_leaves_out_nulls_and_reads_back():
    slot = at("2026-11-24T10:05:00Z")
    failed = Snapshot.failed(UNKNOWN, slot, "not_found", at("2026-11-24T10:05:01Z"))
    entity = failed.to_entity()
    assert entity["PartitionKey"] == UNKNOWN and entity["RowKey"] == row_key(slot)
    assert entity["error"] == "not_found"
    assert not {"queueId", "status", "withinOperatingHours", "availableRepresentatives"} & set(entity)
    assert None not in entity.values()
    assert Snapshot.from_entity(entity) == failed
    assert failed.to_json() == {
        "workstreamId": UNKNOWN, "queueId": None, "capturedAt": "2026-11-24T10:05:00Z", "status": None,
        "withinOperatingHours": None, "representativesAvailable": None, "availableRepresentatives": None,
        "positionInQueue": None, "averageWaitSeconds": None, "error": "not_found"}


# ------------------------------------------------------------------------------- query parameters (unit)

NOW = at("2026-11-24T12:00:00Z")


def test_history_defaults_to_the_last_24_hours_and_500_rows():
    query = parse_history_query({}, lambda: NOW)
    assert (query.start, query.end, query.limit) == (NOW - timedelta(hours=24), NOW, 500)
    assert query.workstream_id is None and query.queue_id is None
    assert parse_history_query({"code": "function-key"}, lambda: NOW).limit == 500  # the key is not a filter


def test_history_parameters_are_read():
    query = parse_history_query({"workstreamId": CHAT.upper(), "queueId": Q_OPEN, "from": "2026-11-20",
                                 "to": "2026-11-23", "limit": "5000"}, lambda: NOW)
    assert query.workstream_id == CHAT and query.queue_id == Q_OPEN and query.limit == 5000
    assert query.start == at("2026-11-20T00:00:00Z")
    assert query.end == at("2026-11-23T23:59:59.999999Z")  # a date as `to` means the whole day
    query = parse_history_query({"from": "2026-11-24T09:00:00+01:00", "to": "2026-11-24T10:00:00 01:00"}, lambda: NOW)
    assert (query.start, query.end) == (at("2026-11-24T08:00:00Z"), at("2026-11-24T09:00:00Z"))  # '+' lost to a space
    assert parse_history_query({"to": "2026-11-20T00:00:00Z"}, lambda: NOW).start == at("2026-11-19T00:00:00Z")


def test_history_from_before_1970_reads_from_1970():
    epoch = at("1970-01-01T00:00:00Z")
    assert parse_history_query({"from": "1969-12-31T23:59:59Z"}, lambda: NOW).start == epoch
    assert parse_history_query({"from": "0001-01-01"}, lambda: NOW).start == epoch
    assert parse_history_query({"from": "1970-01-01T00:00:01Z"}, lambda: NOW).start == at("1970-01-01T00:00:01Z")
    empty = parse_history_query({"from": "1969-01-02", "to": "1969-01-01"}, lambda: NOW)
    assert empty.start > empty.end  # an empty range, not an error


def test_history_from_after_to_is_an_empty_range_not_an_error():
    query = parse_history_query({"from": "2026-11-24T10:00:00Z", "to": "2026-11-24T09:00:00Z"}, lambda: NOW)
    assert (query.start, query.end) == (at("2026-11-24T10:00:00Z"), at("2026-11-24T09:00:00Z"))


@pytest.mark.parametrize("params, target", [
    ({"workstreamId": "chat"}, "workstreamId"),
    ({"queueId": "11111111-0000-4000-8000"}, "queueId"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-11-24T10:00:00"}, "from"),  # no offset: ambiguous
    ({"to": "2026-13-01"}, "to"),
    ({"to": "2026-11-24T25:00:00Z"}, "to"),
    ({"limit": "0"}, "limit"),
    ({"limit": "5001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"workstream": CHAT}, "workstream"),
    ({"top": "3", "limit": "3"}, "top"),
])
def test_history_parameters_are_validated(params, target):
    with pytest.raises(InvalidRequest) as caught:
        parse_history_query(params, lambda: NOW)
    assert caught.value.target == target
    assert target in caught.value.message or target == "to"


# -------------------------------------------------------------------------------- storage (Azurite)


def answer(queue: str = Q_OPEN, representatives: int = 3, retrieved: datetime | None = None) -> Availability:
    return Availability(queue_id=queue, within_operating_hours=True, representatives_available=representatives > 0,
                        available_representatives=representatives, position_in_queue=1, average_wait_seconds=60,
                        next_transition_time=None, next_opening_time=None, next_closing_time=None,
                        retrieved_at=retrieved or NOW)


def seed(store: SnapshotStore, workstream: str, newest: datetime, count: int, step=timedelta(minutes=5),
         queue: str = Q_OPEN) -> list[datetime]:
    """`count` rows for `workstream`, `step` apart ending at `newest`, in transactions of 100 (one partition)."""
    store.ensure_table()
    slots = [newest - i * step for i in range(count)]
    rows = [Snapshot.of(workstream, slot, answer(queue, retrieved=slot)) for slot in slots]
    for i in range(0, len(rows), 100):
        store._table.submit_transaction([("upsert", row.to_entity()) for row in rows[i:i + 100]])
    return slots


def test_write_then_read_one_row(store):
    slot = at("2026-11-24T10:05:00Z")
    store.write(Snapshot.of(CHAT, slot, answer(retrieved=slot + timedelta(seconds=1))))
    rows = store.history(HistoryQuery(start=slot - timedelta(hours=1), end=slot, workstream_id=CHAT))
    assert [r.to_json() for r in rows] == [{
        "workstreamId": CHAT, "queueId": Q_OPEN, "capturedAt": "2026-11-24T10:05:00Z", "status": "available",
        "withinOperatingHours": True, "representativesAvailable": True, "availableRepresentatives": 3,
        "positionInQueue": 1, "averageWaitSeconds": 60, "error": None}]
    assert rows[0].retrieved_at == slot + timedelta(seconds=1)
    entity = store._table.get_entity(CHAT, row_key(slot))
    assert entity["capturedAt"] == slot and "error" not in entity


def test_writing_the_same_slot_again_replaces_the_row(store):
    slot = at("2026-11-24T10:05:00Z")
    store.write(Snapshot.of(CHAT, slot, answer(representatives=3)))
    store.write(Snapshot.failed(CHAT, slot, "upstream_timeout", NOW))
    entities = list(store._table.list_entities())
    assert len(entities) == 1
    assert entities[0]["error"] == "upstream_timeout"
    assert "queueId" not in entities[0]  # replaced, not merged


def test_many_rows_go_in_transactions_of_one_workstream(store, counter):
    newest = at("2026-11-24T10:00:00Z")
    rows = [Snapshot.of(CHAT, newest - i * timedelta(minutes=5), answer()) for i in range(250)]
    rows += [Snapshot.of(BUSY_LINE, newest, answer(Q_BUSY, 0)), Snapshot.failed(BUSY_LINE, newest, "x", NOW)]
    assert store.write_many(rows) == 251  # BUSY_LINE's two rows share a slot: the last one wins
    batches = [url for method, url in counter.requests if method == "POST" and url.endswith("$batch")]
    assert len(batches) == 3 + 1
    assert rows_of_partition(store, BUSY_LINE) == [{"error": "x"}]
    assert len(store.history(HistoryQuery(start=newest - timedelta(days=1), end=newest, workstream_id=CHAT,
                                          limit=5000))) == 250


def rows_of_partition(store: SnapshotStore, workstream: str) -> list[dict]:
    return [{k: v for k, v in e.items() if k == "error"} for e in store._table.query_entities(
        "PartitionKey eq @p", parameters={"p": workstream})]


def test_the_table_is_created_once_per_store(store, counter):
    slot = at("2026-11-24T10:05:00Z")
    store.write(Snapshot.of(CHAT, slot, answer()))
    store.write(Snapshot.of(BUSY_LINE, slot, answer(Q_BUSY, 0)))
    methods = [(method, urlsplit(url).path.rsplit("/", 1)[-1]) for method, url in counter.requests]
    assert methods[0] == ("POST", "Tables")
    assert sum(1 for m in methods if m == ("POST", "Tables")) == 1
    assert len(methods) == 3


def test_history_of_a_table_not_yet_created_is_empty(store, counter):
    assert store.history(HistoryQuery(start=NOW - timedelta(days=1), end=NOW)) == []
    assert store.history(HistoryQuery(start=NOW - timedelta(days=1), end=NOW, workstream_id=CHAT)) == []


def test_a_week_of_one_workstream_is_one_range_query(store, counter):
    newest = at("2026-11-24T11:55:00Z")
    slots = seed(store, CHAT, newest, 2016)  # 7 days at 5 minutes
    seed(store, BUSY_LINE, newest, 50)  # a neighbour partition that must not be read
    counter.reset()
    rows = store.history(HistoryQuery(start=newest - timedelta(days=7), end=newest, workstream_id=CHAT, limit=5000))
    assert [r.captured_at for r in rows] == slots  # newest first, all of them
    # One query: the service pages at 1,000 entities, so 2,016 rows are exactly 3 GETs of one filter.
    assert counter.count == math.ceil(2016 / 1000) == 3
    filters = {parse_qs(urlsplit(url).query)["$filter"][0] for _, url in counter.requests}
    assert len(filters) == 1
    assert f"PartitionKey eq '{CHAT}'" in filters.pop()
    assert all(method == "GET" for method, _ in counter.requests)

    counter.reset()
    rows = store.history(HistoryQuery(start=newest - timedelta(days=7), end=newest, workstream_id=CHAT, limit=500))
    assert len(rows) == 500 and rows[0].captured_at == newest
    assert counter.count == 1


def test_history_filters_by_time_and_queue(store):
    newest = at("2026-11-24T11:55:00Z")
    seed(store, CHAT, newest, 24, queue=Q_OPEN)                        # 10:00 .. 11:55
    seed(store, CHAT, newest - timedelta(hours=2), 12, queue=Q_BUSY)  # 09:00 .. 09:55, another queue
    in_range = store.history(HistoryQuery(start=at("2026-11-24T10:00:00Z"), end=at("2026-11-24T10:30:00Z"),
                                          workstream_id=CHAT))
    assert [format(r.captured_at, "%H:%M") for r in in_range] == [
        "10:30", "10:25", "10:20", "10:15", "10:10", "10:05", "10:00"]  # both ends inclusive
    busy = store.history(HistoryQuery(start=newest - timedelta(days=1), end=newest, workstream_id=CHAT,
                                      queue_id=Q_BUSY))
    assert len(busy) == 12 and {r.queue_id for r in busy} == {Q_BUSY}
    assert (busy[0].captured_at, busy[-1].captured_at) == (at("2026-11-24T09:55:00Z"), at("2026-11-24T09:00:00Z"))
    between = store.history(HistoryQuery(start=at("2026-11-24T10:00:00.5Z"), end=at("2026-11-24T10:09:59Z"),
                                         workstream_id=CHAT))
    assert [r.captured_at for r in between] == [at("2026-11-24T10:05:00Z")]


def test_history_of_all_workstreams_merges_newest_first(store):
    newest = at("2026-11-24T11:55:00Z")
    seed(store, CHAT, newest, 10)
    seed(store, BUSY_LINE, newest - timedelta(minutes=1), 10)
    seed(store, OFFICE, newest, 10)
    rows = store.history(HistoryQuery(start=newest - timedelta(hours=1), end=newest, limit=7))
    assert [(r.captured_at.strftime("%H:%M"), r.workstream_id) for r in rows] == [
        ("11:55", CHAT), ("11:55", OFFICE),  # ties ordered by workstream id
        ("11:54", BUSY_LINE),
        ("11:50", CHAT), ("11:50", OFFICE),
        ("11:49", BUSY_LINE),
        ("11:45", CHAT)]
    everything = store.history(HistoryQuery(start=newest - timedelta(days=1), end=newest, limit=5000))
    assert len(everything) == 30
    keys = [(row_key(r.captured_at), r.workstream_id) for r in everything]
    assert keys == sorted(keys)


def test_history_of_all_workstreams_skips_the_rest_of_a_full_partition(store, counter):
    newest = at("2026-11-24T11:55:00Z")
    seed(store, CHAT, newest, 2500)
    seed(store, BUSY_LINE, newest - timedelta(minutes=2), 3)
    counter.reset()
    rows = store.history(HistoryQuery(start=newest - timedelta(days=30), end=newest, limit=4))
    assert [(r.captured_at.strftime("%H:%M"), r.workstream_id) for r in rows] == [
        ("11:55", CHAT), ("11:53", BUSY_LINE), ("11:50", CHAT), ("11:48", BUSY_LINE)]
    # Reading CHAT's 2,500 rows would be 3 pages; it stops after the first and jumps past the partition.
    assert counter.count == 2


def test_retention_deletes_only_older_rows(store, counter):
    cutoff = at("2026-08-26T00:00:00Z")
    old_chat = seed(store, CHAT, cutoff - timedelta(minutes=5), 250)  # more than two transactions' worth
    kept_chat = seed(store, CHAT, cutoff + timedelta(minutes=10), 3)   # 00:10, 00:05, 00:00: kept
    old_busy = seed(store, BUSY_LINE, cutoff - timedelta(days=3), 5)
    seed(store, BUSY_LINE, cutoff + timedelta(days=1), 5)
    counter.reset()
    assert store.purge(cutoff) == 255
    # Transactions of at most 100 rows of one partition: 100 + 100 + 50 (CHAT) + 5 (BUSY_LINE).
    batches = [url for method, url in counter.requests if method == "POST" and url.endswith("$batch")]
    assert len(batches) == 4
    left = {(e["PartitionKey"], e["RowKey"]) for e in store._table.list_entities()}
    assert left == {(CHAT, row_key(s)) for s in kept_chat} | {
        (BUSY_LINE, row_key(cutoff + timedelta(days=1) - i * timedelta(minutes=5))) for i in range(5)}
    assert not {(CHAT, row_key(s)) for s in old_chat} & left and not {(BUSY_LINE, row_key(s)) for s in old_busy} & left
    assert store.purge(cutoff) == 0


def test_history_from_before_1970_finds_the_rows(store):
    slots = seed(store, CHAT, NOW, 3)
    seed(store, BUSY_LINE, NOW, 2)
    old = at("1969-07-20T20:17:00Z")
    rows = store.history(HistoryQuery(start=old, end=NOW, workstream_id=CHAT))
    assert [r.captured_at for r in rows] == slots
    assert len(store.history(HistoryQuery(start=old, end=NOW))) == 5
    assert store.history(HistoryQuery(start=old, end=at("1969-12-31T23:59:59Z"))) == []


def test_history_gives_up_at_its_deadline(store):
    seed(store, CHAT, NOW, 3)
    with pytest.raises(StorageTimeout):
        store.history(HistoryQuery(start=NOW - timedelta(days=1), end=NOW, workstream_id=CHAT),
                      deadline=time.monotonic() - 1)


class SilentStorage:
    """A TCP server that takes connections and answers nothing (`reply=None`), or answers every request with
    `reply`; counts the requests it reads."""

    def __init__(self, reply: bytes | None = None) -> None:
        self.reply = reply
        self.requests = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self._open.append(connection)
            threading.Thread(target=self._talk, args=(connection,), daemon=True).start()

    def _talk(self, connection: socket.socket) -> None:
        data = b""
        try:
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    _, data = data.split(b"\r\n\r\n", 1)
                    self.requests += 1
                    if self.reply is not None:
                        connection.sendall(self.reply)
        except OSError:
            return

    def store(self) -> SnapshotStore:
        from devtools.stack import azurite_connection_string

        return SnapshotStore.from_connection_string(azurite_connection_string(self.port), unique_table())

    def close(self) -> None:
        self._server.close()
        for connection in self._open:
            connection.close()


def test_history_ends_by_its_deadline_when_storage_never_answers():
    silent = SilentStorage()
    store = silent.store()
    try:
        started = time.monotonic()
        with pytest.raises(StorageTimeout):
            store.history(HistoryQuery(start=NOW - timedelta(days=1), end=NOW, workstream_id=CHAT),
                          deadline=started + 2.0)
        # Without per-call timeouts one page is three attempts of a 6 s read: about 19 s.
        assert time.monotonic() - started < 3.0
        assert silent.requests == 1  # two attempts do not fit in 2 s: no retry
    finally:
        store.close()
        silent.close()


def test_history_inside_a_request_does_not_sleep_a_storage_retry_after():
    busy = SilentStorage(b"HTTP/1.1 503 Server Busy\r\nRetry-After: 60\r\nContent-Length: 0\r\n\r\n")
    store = busy.store()
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            store.history(HistoryQuery(start=NOW - timedelta(days=1), end=NOW), deadline=started + 20)
        assert time.monotonic() - started < 3.0 and busy.requests == 1
    finally:
        store.close()
        busy.close()


def test_store_from_settings():
    from availability.settings import Settings, load_settings

    with pytest.raises(ConfigurationError) as caught:
        SnapshotStore.from_settings(Settings())
    assert caught.value.setting == "AzureWebJobsStorage" and "AzureWebJobsStorage" in caught.value.message
    with pytest.raises(ConfigurationError) as caught:
        SnapshotStore.from_settings(Settings(storage_connection="AccountName=only"))
    assert caught.value.setting == "AzureWebJobsStorage"
    local = SnapshotStore.from_settings(load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                                       "SNAPSHOT_TABLE": "History"}))
    assert (local.table_name, local._table.url) == ("History", "http://127.0.0.1:10002/devstoreaccount1")
    # Identity-based: the account's table endpoint, reached with a token credential.
    remote = SnapshotStore.from_settings(load_settings({"AzureWebJobsStorage__accountName": "contosohistory"}))
    assert remote._table.url == "https://contosohistory.table.core.windows.net"
    assert remote.table_name == "AvailabilitySnapshots"
    with pytest.raises(ConfigurationError) as caught:
        SnapshotStore.from_settings(load_settings({"AzureWebJobsStorage__accountName": "Not An Account"}))
    assert caught.value.setting == "AzureWebJobsStorage__accountName"
    # A table endpoint named outright (sovereign clouds, private endpoints) needs no account name.
    sovereign = SnapshotStore.from_settings(load_settings({
        "AzureWebJobsStorage__tableServiceUri": "https://contosohistory.table.core.chinacloudapi.cn/",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": "0f7d0d59-6a5b-4c38-9e8c-3f5b1d1c2a10"}))
    assert sovereign._table.url == "https://contosohistory.table.core.chinacloudapi.cn"


# ---------------------------------------------------------------------------------- the run (sandbox)


@pytest.fixture(scope="module")
def org(stack):
    """The app's service and client pointed at the sandbox org."""
    with sandbox_org(stack) as made:
        yield made


@pytest.fixture
def service(org, clean_sandbox):
    return org[0]


def rows_of(store: SnapshotStore) -> dict[str, dict]:
    return {e["PartitionKey"]: e for e in store._table.list_entities()}


def test_run_writes_one_row_per_target_and_an_error_row_for_an_unknown_workstream(service, store, sandbox):
    slot = at("2026-11-24T10:05:00Z")
    summary = run_snapshot(slot, targets=[CHAT, BUSY_LINE, UNKNOWN], service=service, store=store)
    assert (summary.targets, summary.ok, summary.failed, dict(summary.errors)) == (3, 2, 1, {"not_found": 1})
    assert summary.slot == slot and summary.unwritten == 0
    rows = rows_of(store)
    assert set(rows) == {CHAT, BUSY_LINE, UNKNOWN}
    assert {e["RowKey"] for e in rows.values()} == {row_key(slot)}
    chat = rows[CHAT]
    assert (chat["queueId"], chat["status"], chat["availableRepresentatives"], chat["positionInQueue"],
            chat["averageWaitSeconds"]) == (Q_OPEN, "available", 3, 3, 90)
    assert chat["capturedAt"] == slot and "error" not in chat
    assert (rows[BUSY_LINE]["status"], rows[BUSY_LINE]["representativesAvailable"]) == ("busy", False)
    assert rows[UNKNOWN]["error"] == "not_found" and "status" not in rows[UNKNOWN]
    assert sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 3


def test_run_is_always_live_and_a_rerun_in_the_same_slot_overwrites(service, store, sandbox):


    service.clear()
    service.check(BeforeConversationCheck(workstream_id=CHAT))  # a cached answer the run must not use
    slot = schedule_slot(EVERY_5_MINUTES, datetime.now(UTC))
    run_snapshot(slot, targets=[CHAT, BUSY_LINE], service=service, store=store)
    first = rows_of(store)
    run_snapshot(slot, targets=[CHAT, BUSY_LINE], service=service, store=store)
    second = rows_of(store)
    assert len(list(store._table.list_entities())) == 2  # one row per workstream, not two
    assert second[CHAT]["retrievedAt"] > first[CHAT]["retrievedAt"]  # rewritten with a fresh answer
    assert sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 1 + 2 + 2


def test_a_failing_workstream_leaves_its_error_row_and_the_others_rows(service, store, sandbox):
    sandbox.fault("actions", status=403, count=1)  # the next single call is refused, whichever it is
    summary = run_snapshot(at("2026-11-24T10:10:00Z"), targets=[CHAT, BUSY_LINE, OFFICE], service=service,
                           store=store)
    assert (summary.ok, summary.failed, dict(summary.errors)) == (2, 1, {"upstream_auth_failed": 1})
    rows = rows_of(store)
    assert len(rows) == 3
    failed = [e for e in rows.values() if "error" in e]
    assert len(failed) == 1 and failed[0]["error"] == "upstream_auth_failed" and "queueId" not in failed[0]
    assert all(e.get("status") in ("available", "busy", "closed") for e in rows.values() if "error" not in e)


def test_an_org_down_for_one_workstream_only_fails_that_row(service, store, sandbox):
    sandbox.fault("actions", status=404, workstreamId=OFFICE)  # every call for OFFICE, none for the others
    summary = run_snapshot(at("2026-11-24T10:15:00Z"), targets=[CHAT, OFFICE, BUSY_LINE], service=service,
                           store=store)
    assert dict(summary.errors) == {"not_found": 1}
    assert rows_of(store)[OFFICE]["error"] == "not_found"
    assert "error" not in rows_of(store)[CHAT] and "error" not in rows_of(store)[BUSY_LINE]


def test_a_429_holds_the_whole_run_back_instead_of_a_storm(org, stack, clean_sandbox, store):
    service, client = connect(stack.sandbox_settings())  # a client of its own: the throttle is client-wide
    try:
        client.who_am_i()  # token in hand before the fault
        clean_sandbox.reset()
        clean_sandbox.fault("actions", status=429, retryAfter=60, count=1)
        targets = [CHAT, BUSY_LINE, OFFICE] + [str(uuid.UUID(int=i)) for i in range(1, 18)]
        summary = run_snapshot(at("2026-11-24T10:30:00Z"), targets=targets, service=service, store=store,
                               concurrency=2)
    finally:
        client.close()
    calls = clean_sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"]
    assert calls <= 2  # the 429'd call and at most the one already under way; then nobody calls until Retry-After
    assert summary.errors["upstream_throttled"] >= 18 and summary.unwritten == 0
    assert len(list(store._table.list_entities())) == 20


def test_the_first_run_waits_out_a_retry_after_the_org_gave_before_it(stack, clean_sandbox, store):
    # An HTTP request met a 429 whose Retry-After outlasts a request's budget (2 s here), just before the timer.
    service, client = connect({**stack.sandbox_settings(), "AVAILABILITY_TIMEOUT_SECONDS": "2"})
    try:
        client.who_am_i()  # token in hand before the fault
        clean_sandbox.reset()
        clean_sandbox.fault("actions", status=429, retryAfter=4, count=1)
        with pytest.raises(UpstreamThrottled):
            service.check(BeforeConversationCheck(workstream_id=CHAT))
        runner = SnapshotRunner(schedule=EVERY_5_MINUTES, targets=auto_targets(client), service=service,
                                store=store, retention_days=90)
        started = time.monotonic()
        summary = runner.run()
    finally:
        client.close()
    # Discovery and the checks waited inside the slot, as the org asked, then everything was recorded.
    assert (summary.targets, summary.ok, summary.failed) == (3, 3, 0)
    assert time.monotonic() - started >= 3
    assert set(rows_of(store)) == {CHAT, BUSY_LINE, OFFICE}


def test_a_run_that_cannot_discover_its_targets_records_the_error_for_the_known_ones(stack, clean_sandbox, store):
    now = datetime.now(UTC)
    slot = schedule_slot(EVERY_5_MINUTES, now)
    store.write(Snapshot.failed(CHAT, slot - timedelta(minutes=5), "upstream_timeout", now))  # yesterday's targets
    store.write(Snapshot.failed(OFFICE, slot - timedelta(hours=3), "upstream_timeout", now))
    store.write(Snapshot.failed(BUSY_LINE, slot - timedelta(days=2), "upstream_timeout", now))  # gone since
    service, client = connect(stack.sandbox_settings())
    try:
        clean_sandbox.fault("queries", status=429, retryAfter=3600)  # discovery is throttled for an hour
        runner = SnapshotRunner(schedule=EVERY_5_MINUTES, targets=auto_targets(client), service=service,
                                store=store, retention_days=90)
        summary = runner.run()
    finally:
        client.close()
    assert (summary.targets, dict(summary.errors)) == (2, {"upstream_throttled": 2})
    rows = [row for row in store.history(HistoryQuery(start=summary.slot, end=summary.slot))]
    assert {(row.workstream_id, row.error) for row in rows} == {(CHAT, "upstream_throttled"),
                                                                 (OFFICE, "upstream_throttled")}
    assert clean_sandbox.stats()["actions"].get(BEFORE_ACTION, 0) == 0  # nothing asked of a throttling org


def auto_targets(client, *, ttl: float = 600, clock=None) -> WorkstreamTargets:
    """`SNAPSHOT_WORKSTREAMS=auto`: the org's workstreams through a directory of the targets' own."""
    wall = (lambda: clock[0]) if clock else time.time
    return WorkstreamTargets(None, WorkstreamDirectory(client.list_workstreams, ttl=ttl, stale_seconds=300,
                                                       wall=wall))


def test_auto_targets_are_the_active_workstreams_cached(org, clean_sandbox, store):
    service, client = org
    clock = [1000.0]
    targets = auto_targets(client, clock=clock)
    assert targets.auto
    assert sorted(targets.resolve()) == [CHAT, BUSY_LINE, OFFICE]
    clock[0] += 599
    targets.resolve()
    assert clean_sandbox.stats()["queries"] == 1  # cached for ttl
    clock[0] += 2
    summary = run_snapshot(at("2026-11-24T10:20:00Z"), targets=targets.resolve(), service=service, store=store)
    assert clean_sandbox.stats()["queries"] == 2
    assert summary.targets == 3 and summary.ok == 3
    assert set(rows_of(store)) == {CHAT, BUSY_LINE, OFFICE}


def test_auto_targets_keep_the_last_list_while_discovery_fails(stack, clean_sandbox):
    with sandbox_org(stack) as (_, client):  # a client of its own: the failures open its circuit, not the module's
        keeps_the_last_list(client, clean_sandbox)


def keeps_the_last_list(client, clean_sandbox) -> None:
    clock = [0.0]
    targets = auto_targets(client, ttl=60, clock=clock)
    found = targets.resolve()
    clean_sandbox.fault("queries", status=503)
    clock[0] += 61
    assert targets.resolve() == found


def test_fixed_targets_need_no_discovery(org, clean_sandbox):
    targets = WorkstreamTargets([CHAT.upper(), UNKNOWN, CHAT], WorkstreamDirectory(org[1].list_workstreams, ttl=600,
                                                                                   stale_seconds=300))
    assert targets.resolve() == [CHAT, UNKNOWN]
    assert clean_sandbox.stats()["queries"] == 0


class PeakService:
    """Counts how many checks are under way at once (the bound cannot be seen from the sandbox's side)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = self.peak = self.calls = 0

    def check(self, check, *, deadline=None, live=False):
        assert live is True
        with self.lock:
            self.current += 1
            self.calls += 1
            self.peak = max(self.peak, self.current)
        time.sleep(0.02)
        with self.lock:
            self.current -= 1
        return answer(retrieved=datetime.now(UTC))


def test_checks_run_in_parallel_within_the_concurrency_bound(store):
    targets = [str(uuid.UUID(int=i)) for i in range(1, 41)]
    peak = PeakService()
    summary = run_snapshot(at("2026-11-24T10:25:00Z"), targets=targets, service=peak, store=store, concurrency=8)
    assert summary.ok == 40 and peak.calls == 40
    assert 1 < peak.peak <= 8
    assert len(list(store._table.list_entities())) == 40


# ------------------------------------------------------------------------------------ the runner


def test_runner_purges_at_the_first_slot_of_the_day_and_logs_one_line(service, store, caplog):
    now = [at("2026-11-24T00:00:07Z")]
    old = seed(store, CHAT, at("2026-08-25T23:55:00Z"), 3)  # older than 90 days before the slot
    seed(store, CHAT, at("2026-08-26T00:05:00Z"), 1)
    runner = SnapshotRunner(schedule=EVERY_5_MINUTES, targets=WorkstreamTargets([CHAT, UNKNOWN]), service=service,
                            store=store, retention_days=90, now=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="availability.snapshots"):
        summary = runner.run()
    assert summary.slot == at("2026-11-24T00:00:00Z") and summary.purged == 3
    keys = {e["RowKey"] for e in store._table.list_entities() if e["PartitionKey"] == CHAT}
    assert not keys & {row_key(s) for s in old} and len(keys) == 2
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Snapshot slot=")]
    assert len(lines) == 1
    assert lines[0].startswith("Snapshot slot=2026-11-24T00:00:00Z targets=2 ok=1 failed=1 not_found=1 duration=")
    assert lines[0].endswith("s purged=3")

    now[0] = at("2026-11-24T00:06:00Z")
    with caplog.at_level(logging.INFO, logger="availability.snapshots"):
        later = runner.run(past_due=True)
    assert later.slot == at("2026-11-24T00:05:00Z") and later.purged is None and later.past_due
    assert any("past due" in r.getMessage() for r in caplog.records)
    assert "past_due=true" in later.line()


class MemoryStore:
    """A store that keeps rows in memory (for runner tests that need neither Azurite nor the org)."""

    def __init__(self) -> None:
        self.rows: list[Snapshot] = []
        self._lock = threading.Lock()

    def ensure_table(self) -> None:
        pass

    def write(self, snapshot: Snapshot) -> None:
        with self._lock:
            self.rows.append(snapshot)

    def purge(self, older_than: datetime) -> int:
        return 0

    def recent_workstreams(self, start: datetime, end: datetime, *, deadline: float | None = None) -> list[str]:
        with self._lock:
            return sorted({row.workstream_id for row in self.rows if start <= row.captured_at <= end})


@pytest.mark.parametrize("started, slot", [
    ("2026-11-24T12:04:59.998Z", "2026-11-24T12:05:00Z"),
    ("2026-11-24T12:05:00.004Z", "2026-11-24T12:05:00Z"),
    ("2026-11-24T12:06:10Z", "2026-11-24T12:05:00Z"),
])
def test_runner_gives_a_timer_that_fires_early_its_own_slot(started, slot):
    store = MemoryStore()
    runner = SnapshotRunner(schedule=EVERY_5_MINUTES, targets=WorkstreamTargets([CHAT]), service=PeakService(),
                            store=store, retention_days=90, time_zone="", now=lambda: at(started))
    assert runner.run().slot == at(slot)
    assert [row.captured_at for row in store.rows] == [at(slot)]


def test_runner_takes_the_schedule_zone_from_website_time_zone():
    zone = load_settings({"WEBSITE_TIME_ZONE": "America/New_York"}).schedule_time_zone
    store = MemoryStore()
    runner = SnapshotRunner(schedule="0 30 8 * * 1-5", targets=WorkstreamTargets([CHAT]), service=PeakService(),
                            store=store, retention_days=90, time_zone=zone, now=lambda: at("2026-11-24T13:30:02Z"))
    assert runner.run().slot == at("2026-11-24T13:30:00Z")  # 08:30 in New York
    utc = SnapshotRunner(schedule="0 30 8 * * 1-5", targets=WorkstreamTargets([CHAT]), service=PeakService(),
                         store=store, retention_days=90, time_zone="", now=lambda: at("2026-11-24T13:30:02Z"))
    assert utc.run().slot == at("2026-11-24T08:30:00Z")


def test_runner_fails_the_invocation_when_storage_is_unreachable(service):
    from devtools.stack import azurite_connection_string, free_port

    dead = SnapshotStore.from_connection_string(azurite_connection_string(free_port()), unique_table(),
                                                retry_total=0)
    runner = SnapshotRunner(schedule=EVERY_5_MINUTES, targets=WorkstreamTargets([CHAT]), service=service,
                            store=dead, retention_days=90)
    with pytest.raises(StorageUnavailable):
        runner.run()
