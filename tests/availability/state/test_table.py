"""The shared state's rows in Azurite, in process: what they hold (no caller text, no secret), how they expire and
are purged, what a miss costs in storage requests, and the calls budget's one-second buckets."""

from __future__ import annotations

import math
import threading
import time
import tomllib
import uuid
from datetime import datetime, timezone

import pytest

from availability.answer import Availability
from availability.state import TableState, partition_for
from availability.state.rows import Allowance
from availability.state.throttle import Throttle
from tests.availability.conftest import RequestCounter, unique_table
from tests.availability.scenario import CHAT
from tests.conftest import SCENARIO

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def answer() -> Availability:
    return Availability("q", True, True, 1, 1, 30, None, None, None, datetime.now(timezone.utc))


@pytest.fixture
def table(stack):
    from availability.tables import service_from_connection_string

    client = service_from_connection_string(stack.storage_connection).get_table_client(unique_table())
    yield client
    client.delete_table()


def test_rows_hold_neither_the_callers_text_nor_a_secret(fresh_gateway, table):
    gateway = fresh_gateway(AVAILABILITY_SHARED_STATE="table", AVAILABILITY_STATE_TABLE=table.table_name)
    marker = f"caller-{uuid.uuid4().hex}"
    response = gateway.post("availability/before-conversation",
                            {"workstreamId": CHAT, "contextItems": {"Note": marker}, "engagementContext": {"x": marker}})
    assert response.status_code == 200
    time.sleep(0.3)  # written once the caller has its answer
    rows = list(table.list_entities())
    assert rows  # the check's row (and the throttle row once a limit was noted)
    text = repr([(row.metadata, dict(row)) for row in rows])
    assert marker not in text and CHAT not in text  # keys are digests; answers carry no request
    secret = tomllib.loads(SCENARIO.read_text(encoding="utf-8"))["org"]["client_secret"]
    assert secret not in text
    assert all(row["RowKey"] == "throttle" or len(row["RowKey"]) == 41 for row in rows)


def test_a_miss_costs_one_storage_request_on_the_callers_path_while_the_instance_is_busy(stack):
    from availability.tables import service_from_connection_string

    class CallersRequests(RequestCounter):
        """The requests of the callers' threads: the keeper's reads (its own thread) are counted apart."""

        keeper = 0

        def __call__(self, response) -> None:
            if threading.current_thread().name == "throttle-row":
                self.keeper += 1
            else:
                super().__call__(response)

    counter = CallersRequests()
    name = unique_table()
    table = service_from_connection_string(stack.storage_connection, raw_response_hook=counter).get_table_client(name)
    table.create_table()
    state = TableState(table, partition_for("https://org.example", "client"))
    on_path = []

    def miss() -> None:
        def call() -> Availability:  # as the Dataverse client calls: the gate first, then the org
            state.gate.wait(time.monotonic() + 10)
            on_path.append(counter.count)
            return answer()

        counter.reset()
        state.fetch(uuid.uuid4().bytes, time.monotonic() + 10, call, lambda _: (60.0, 300.0))

    def throttle_reads() -> int:
        return sum(1 for method, url in counter.requests if method == "GET" and "RowKey='throttle'" in url)

    try:
        miss()  # the first call of a quiet instance reads the throttle row first (or waits for the keeper's read)
        assert on_path[0] + counter.keeper == 2 and throttle_reads() + counter.keeper == 1
        for pause in (0.6, 1.2):  # longer than the 0.25 s a call may go by: the keeper has read it meanwhile
            time.sleep(pause)
            miss()
            assert on_path[-1] == 1  # the insert of the check's row (and its lease), nothing else
            assert throttle_reads() == 0
        assert counter.keeper >= 4  # it read the row about five times a second meanwhile
        state.close()  # the answer's write, done in the background
        # The last miss in all: the insert that took the lease, then the answer written with the lease let go.
        assert [method for method, url in counter.requests if "throttle" not in url] == ["POST", "PUT"]
        keeper = counter.keeper
        time.sleep(0.6)
        assert counter.keeper == keeper  # a closed state reads nothing more
    finally:
        state.close()
        table.delete_table()


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


def test_expired_rows_are_purged_and_the_throttle_row_kept(table):
    clock = [time.time()]
    state = TableState(table, partition_for("https://org.example", "client"), wall=lambda: clock[0])
    for index in range(5):
        state.fetch(bytes([index]) * 20, time.monotonic() + 10, answer, lambda _: (1.0, 2.0))
    state.gate.note(0.5)  # the throttle row exists too
    state.close()
    assert len(list(table.list_entities())) == 6
    assert state.purge() == 0  # nothing expired yet
    clock[0] += 2 + 26 + 1  # past every row's stale window (and any lease)
    assert state.purge() == 5
    assert [row["RowKey"] for row in table.list_entities()] == ["throttle"]


def test_a_purge_is_bounded(table):
    clock = [time.time()]
    state = TableState(table, partition_for("https://org.example", "client"), wall=lambda: clock[0])
    table.create_table()
    for start in range(0, 400, 100):
        table.submit_transaction([("create", {"PartitionKey": state.rows.partition, "RowKey": f"a{index:040x}",
                                              "ExpiresAt": clock[0] - 1.0}) for index in range(start, start + 100)])
    assert state.purge() == 300  # three pages of 100 at most per run; the next run takes the rest
    assert state.purge() == 100


def test_the_budget_counts_calls_in_one_second_buckets():
    throttle = Throttle()
    now = 1_000_000.5
    for second in range(3):
        throttle.count_call(now + second)
    assert throttle.wait_for_room(4, now + 2) == 0.0
    assert throttle.wait_for_room(3, now + 2) == pytest.approx(1_000_000 + 62 - (now + 2))
    throttle.count_call(now + 70)  # older buckets leave the window
    assert set(throttle.calls) == {1_000_070}
    assert throttle.wait_for_room(1, now + 70) == pytest.approx(1_000_070 + 62 - (now + 70))
