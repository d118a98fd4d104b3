"""The shared state's rows in Azurite, in process: what they hold (no caller text, no secret), where they live and
how whole generations of them are purged, what a lookup and a miss cost in storage requests (counted exactly), rows
written by anyone read within this instance's bounds, the roster of instances, and the budget's one-second
buckets."""

from __future__ import annotations

import math
import threading
import time
import tomllib
import uuid
from datetime import UTC, datetime

import pytest

from availability.answer import Availability
from availability.errors import UpstreamThrottled
from availability.state import TableState, partition_for
from availability.state.rows import SHARDS, THROTTLE_ROW, Allowance, encode
from availability.state.throttle import BUDGET_WINDOW, Throttle
from tests.availability.conftest import RequestCounter, unique_table
from tests.availability.scenario import CHAT
from tests.conftest import SCENARIO

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def answer() -> Availability:
    return Availability("q", True, True, 1, 1, 30, None, None, None, datetime.now(UTC))


@pytest.fixture
def table(stack):
    from availability.tables import service_from_connection_string

    client = service_from_connection_string(stack.storage_connection).get_table_client(unique_table())
    yield client
    client.delete_table()


def test_rows_hold_neither_the_callers_text_nor_a_secret(fresh_gateway, table):
    gateway = fresh_gateway(AVAILABILITY_SHARED_STATE="table", AVAILABILITY_STATE_TABLE=table.table_name)
    marker = f"caller-{uuid.uuid4().hex}"
    response = gateway.post("availability/before-conversation", {
        "workstreamId": CHAT, "contextItems": {"Note": marker}, "engagementContext": {"x": marker}})
    assert response.status_code == 200
    time.sleep(0.3)  # written once the caller has its answer
    rows = list(table.list_entities())
    text = repr([(row.metadata, dict(row)) for row in rows])
    assert marker not in text and CHAT not in text  # keys are digests; answers carry no request
    secret = tomllib.loads(SCENARIO.read_text(encoding="utf-8"))["org"]["client_secret"]
    assert secret not in text
    # The check's row in a shard of its generation; the throttle row in the org's own partition; the instance in
    # the roster's.
    answers = [row for row in rows if "-g" in row["PartitionKey"]]
    assert len(answers) == 1 and len(answers[0]["RowKey"]) == 41
    assert {row["RowKey"] for row in rows if row["PartitionKey"].endswith("-i")} and THROTTLE_ROW in {
        row["RowKey"] for row in rows}


class ThreadRequests(RequestCounter):
    """The requests of each thread: a caller's path apart from the keeper's and the background's."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[tuple[str, str, str]] = []  # (method, url, the sending thread's name)

    def __call__(self, response) -> None:
        super().__call__(response)
        request = response.http_request
        with self._lock:
            self.threads.append((request.method, request.url, threading.current_thread().name))

    def of(self, thread: str) -> list[tuple[str, str]]:
        """The requests the thread named `thread` sent."""
        with self._lock:
            return [(method, url) for method, url, name in self.threads if name == thread]

    def requests_of_threads(self, prefix: str) -> list[tuple[str, str]]:
        """The requests of the threads whose names start with `prefix` (a pool's)."""
        with self._lock:
            return [(method, url) for method, url, name in self.threads if name.startswith(prefix)]


def counted_table(stack, counter: RequestCounter, name: str):
    from availability.tables import service_from_connection_string

    return service_from_connection_string(stack.storage_connection, raw_response_hook=counter).get_table_client(name)


def test_a_lookup_of_an_answer_another_instance_fetched_costs_one_point_read(stack):
    counter = ThreadRequests()
    name = unique_table()
    fetcher = TableState(counted_table(stack, RequestCounter(), name), partition_for("https://org.example", "c"))
    looker = TableState(counted_table(stack, counter, name), partition_for("https://org.example", "c"))
    key = uuid.uuid4().bytes
    briefly = lambda _: (2.0, 300.0)  # noqa: E731 - fresh for two seconds
    try:
        fetcher.fetch(key, time.monotonic() + 10, answer, briefly)
        fetcher.close()  # its answer written
        assert looker.fetch(key, time.monotonic() + 10, lambda: pytest.fail("asked"), briefly)[1]  # seen here too
        time.sleep(2.1)  # no longer fresh anywhere: the fetcher asks the org again
        renewed, _ = fetcher.fetch(key, time.monotonic() + 10, answer, briefly)
        fetcher.close()
        looker.roster.beat(Allowance(time.monotonic, 5))  # its upkeep done: not on the path measured
        me = threading.current_thread().name
        before = len(counter.of(me))  # the per-thread list is kept whole: what this lookup sends comes after
        got, shared = looker.fetch(key, time.monotonic() + 10, lambda: pytest.fail("the org was asked"), briefly)
        assert shared and got.source == "cache" and got.retrieved_at == renewed.retrieved_at
        caller = counter.of(me)[before:]
        assert len(caller) == 1, caller
        method, url = caller[0]
        assert method == "GET" and "RowKey=" in url and "$filter" not in url  # a point read, never a query
        assert "-g" in url  # in the check's own partition, not the org's
    finally:
        looker.close()
        fetcher.close()
        counted_table(stack, RequestCounter(), name).delete_table()


def test_a_miss_costs_one_storage_request_on_the_callers_path_while_the_instance_is_busy(stack):
    counter = ThreadRequests()
    name = unique_table()
    table = counted_table(stack, counter, name)
    table.create_table()
    state = TableState(table, partition_for("https://org.example", "client"))
    state.roster.beat(Allowance(time.monotonic, 5))  # joined already: its upkeep is not on any path here
    time.sleep(1.6)  # the throttle row it read then is too old for a call to go by
    me = threading.current_thread().name
    on_path: list[int] = []

    def miss() -> None:
        before = len(counter.of(me))

        def call() -> Availability:  # as the Dataverse client calls: the gate first, then the org
            state.gate.wait(time.monotonic() + 10)
            on_path.append(len(counter.of(me)) - before)
            return answer()

        key = uuid.uuid4().bytes
        while state.layout.overlaps(key, time.time()):  # in its generation's first minutes the previous is read too
            key = uuid.uuid4().bytes
        state.fetch(key, time.monotonic() + 10, call, lambda _: (60.0, 300.0))

    def throttle_reads(thread: str) -> int:
        return sum(1 for method, url in counter.of(thread) if method == "GET" and f"RowKey='{THROTTLE_ROW}'" in url)

    try:
        counter.reset()
        miss()  # the first call of a quiet instance reads the throttle row first (or waits for the keeper's read)
        assert on_path[0] + throttle_reads("throttle-row") == 2
        mine = throttle_reads(me)
        for pause in (1.6, 1.7):  # longer than the 1.5 s a call may go by the row: the keeper read it meanwhile
            time.sleep(pause)
            answers = len(counter.requests_of_threads("shared-state"))
            miss()
            assert on_path[-1] == 1  # the insert of the check's row (and its lease), nothing else
            assert throttle_reads(me) == mine
        state.close()  # the answer's write, done in the background
        writes = [method for method, url in counter.requests_of_threads("shared-state")[answers:] if "-g" in url]
        assert writes == ["PUT"]  # the answer written, the lease let go, in one write
        keeper = throttle_reads("throttle-row")
        assert 2 <= keeper <= 6  # about once a second while busy (the 2 s after each call)
        time.sleep(1.3)
        assert throttle_reads("throttle-row") == keeper  # a closed state reads nothing more
    finally:
        state.close()
        table.delete_table()


def test_a_check_the_budget_does_not_admit_leaves_no_row(table):
    state = TableState(table, partition_for("https://org.example", "client"), max_calls_per_minute=2)

    def call() -> Availability:  # as the client calls: the room admitted is taken as the call goes out
        assert state.budget.take()
        return answer()

    refused = 0
    for _ in range(5):
        try:
            state.fetch(uuid.uuid4().bytes, time.monotonic() + 10, call, lambda _: (60.0, 300.0),
                        admit=lambda: state.budget.wait(time.monotonic()))  # room now, or none: no wait here
        except UpstreamThrottled:
            refused += 1
    state.close()
    assert refused == 3
    assert len([row for row in table.list_entities() if "-g" in row["PartitionKey"]]) == 2  # the two admitted


def test_a_read_begun_before_this_instances_own_write_does_not_undo_it(table):
    state = TableState(table, partition_for("https://org.example", "client"))
    begun = time.monotonic()
    state.gate.note(30)  # writes the throttle row: a Retry-After of 30 s
    state.throttle.seen(None, begun)  # a read begun before that write, answered after it (no row then)
    allowance = Allowance(time.monotonic)
    assert state.throttle.current(math.inf, allowance).retry_until > time.time() + 20
    state.throttle.seen(None, time.monotonic())  # a read begun after it is what the table holds now
    assert state.throttle.current(math.inf, allowance).retry_until == 0.0
    state.close()


def test_a_generation_of_answers_is_deleted_whole_once_past_use(table):
    clock = [time.time()]
    state = TableState(table, partition_for("https://org.example", "client"), wall=lambda: clock[0])
    keys = [bytes([index * 50]) * 20 for index in range(5)]
    for key in keys:
        state.fetch(key, time.monotonic() + 10, answer, lambda _: (1.0, 2.0))
    state.close()
    answers = [row for row in table.list_entities() if "-g" in row["PartitionKey"]]
    assert len(answers) == 5 and len({row["PartitionKey"] for row in answers}) > 1  # spread over shards
    assert state.purge() == 0  # nothing past use yet
    clock[0] += 3 * state.layout.generation_seconds
    assert state.purge() == 5
    assert state.purge() == 0  # and recorded: not listed again
    left = [row["PartitionKey"] for row in table.list_entities()]
    assert not [partition for partition in left if "-g" in partition]
    assert state.throttle.current(0, Allowance(time.monotonic)).purged_through == state.layout.purgeable(clock[0])


def test_a_purge_is_bounded_and_the_next_run_goes_on(table):
    clock = [time.time()]
    state = TableState(table, partition_for("https://org.example", "client"), wall=lambda: clock[0])
    table.create_table()
    old = state.layout.generation(b"\0" * 20, clock[0])
    partition = state.layout.partition(old, 7)
    for start in range(0, 400, 100):
        table.submit_transaction([("create", {"PartitionKey": partition, "RowKey": f"a{index:040x}"})
                                  for index in range(start, start + 100)])
    clock[0] += 3 * state.layout.generation_seconds
    assert state.purger.run(Allowance(time.monotonic, 10), pages=3) == 300  # three pages of 100 at most per run
    assert state.purger.run(Allowance(time.monotonic, 10), pages=3) == 100  # the next run takes the rest
    assert not [row for row in table.list_entities() if row["PartitionKey"] == partition]
    assert SHARDS == 64


def test_a_forged_answer_is_served_no_longer_than_this_instances_own_window(table):
    clock = [time.time()]
    state = TableState(table, partition_for("https://org.example", "client"), wall=lambda: clock[0],
                       cache_seconds=15, stale_seconds=300)
    key = uuid.uuid4().bytes
    forged = Availability("forged-queue", True, True, 9, 1, 0, None, None, None,
                          datetime.fromtimestamp(clock[0] - 60, UTC))
    table.create_table()
    partition = state.layout.answers(key, state.layout.generation(key, clock[0]))
    table.create_entity({"PartitionKey": partition, "RowKey": "a" + key.hex(), "Answer": encode(forged),
                         "FreshUntil": clock[0] + 10 * 365 * 86400, "StaleUntil": clock[0] + 10 * 365 * 86400,
                         "LeaseUntil": clock[0] + 10 * 365 * 86400, "Owner": "someone"})
    got, shared = state.fetch(key, time.monotonic() + 10, answer, lambda _: (15.0, 300.0))
    assert not shared and got.queue_id == "q"  # had 60 s ago: not fresh here, and no lease without its moment
    state.close()


def test_a_forged_retry_after_holds_calls_no_longer_than_the_ceiling(table):
    state = TableState(table, partition_for("https://org.example", "client"))
    table.create_table()
    table.create_entity({"PartitionKey": state.layout.throttle, "RowKey": THROTTLE_ROW,
                         "RetryUntil": time.time() + 30 * 86400, "Recovering": True})
    assert state.gate.wait(time.monotonic() + 5) is True  # no moment it was noted: ignored, the probe goes
    state.gate.end_probe(recovered=True)
    state.close()


def test_the_roster_counts_the_instances_and_who_joined_meanwhile(stack, table):
    table.create_table()
    org = partition_for("https://org.example", "client")
    states = [TableState(table, org) for _ in range(3)]
    try:
        for state in states:
            state.roster.beat(Allowance(time.monotonic, 5))
        allowance = Allowance(time.monotonic, 5)
        assert states[0].throttle.current(0, allowance).active == 3  # each joined: counted at once
        for state in states[1:]:  # two instances gone: their rows older than the live window
            table.upsert_entity({"PartitionKey": state.layout.roster, "RowKey": state.storage.owner,
                                 "LastSeen": time.time() - 200})

        def count_due(row: Throttle) -> bool:
            row.counted_at = 0.0
            return True

        states[0].throttle.change(count_due, allowance)
        states[0].roster.beat(Allowance(time.monotonic, 5))
        assert states[0].throttle.current(0, Allowance(time.monotonic)).active == 1
    finally:
        for state in states:
            state.close()


def test_the_budget_counts_grants_in_one_second_buckets():
    throttle = Throttle()
    now = 1_000_000.5
    for second in range(3):
        throttle.grant(now + second)
    assert throttle.wait_for_room(4, now + 2) == 0.0
    assert throttle.wait_for_room(3, now + 2) == pytest.approx(1_000_000 + BUDGET_WINDOW - (now + 2))
    throttle.grant(now + 70)  # older buckets leave the window
    assert set(throttle.calls) == {1_000_070}
    assert throttle.wait_for_room(1, now + 70) == pytest.approx(1_000_070 + BUDGET_WINDOW - (now + 70))
