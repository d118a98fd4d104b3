"""The workstream list shared by instances through one row of the state table (Azurite), in process: several
instances of the app (each its own client and memory) ask the sandbox org once per freshness window, wait for the
instance asking, take over when it fails, and go on alone when storage cannot be reached."""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from availability.errors import UpstreamUnavailable
from availability.state import partition_for
from availability.tables import service_from_connection_string
from availability.workstreams import SharedList, WorkstreamDirectory
from tests.availability.conftest import unique_table
from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE

pytestmark = pytest.mark.usefixtures("clean_sandbox")

SCENARIO_LIST = [("Busy line", BUSY_LINE, "voice"), ("Chat", CHAT, "chat"), ("Office chat", OFFICE, "custom")]


@pytest.fixture
def table(stack):
    client = service_from_connection_string(stack.storage_connection).get_table_client(unique_table())
    yield client
    client.delete_table()


@pytest.fixture
def instances(stack, table):
    """`make(count)`: that many apps, as instances of one app, sharing state through `table`."""
    from devtools.sandbox_client import sandbox_app

    made = []

    def make(count: int, **settings: str) -> list:
        for _ in range(count):
            made.append(sandbox_app({**stack.sandbox_settings(), "AzureWebJobsStorage": stack.storage_connection,
                                     "AVAILABILITY_SHARED_STATE": "table",
                                     "AVAILABILITY_STATE_TABLE": table.table_name, **settings}))
        return made[-count:]

    yield make
    for app in made:
        app.close()


def listed(listing) -> list[tuple[str, str, str]]:
    return [(w.name, w.id, w.channel) for w in listing.workstreams]


def test_instances_share_one_query_and_one_row(instances, clean_sandbox, table):
    apps = instances(3)
    clean_sandbox.reset()
    with ThreadPoolExecutor(30) as pool:
        found = list(pool.map(lambda i: apps[i % 3].workstreams.listing(deadline=time.monotonic() + 20), range(300)))
    assert clean_sandbox.stats()["queries"] == 1
    assert {tuple(listed(listing)) for listing in found} == {tuple(SCENARIO_LIST)}
    assert [listing.source for listing in found].count("live") == 1
    assert sum(app.workstreams.queries for app in apps) == 1
    # The list's row (and, beside it, the throttle row: the query held a slot of the cap on calls in flight).
    rows = [row for row in table.list_entities() if row["RowKey"] != "throttle"]
    assert [row["RowKey"] for row in rows] == ["workstreams"]
    row = rows[0]
    assert row["PartitionKey"] == partition_for(apps[0].settings.dataverse_url, apps[0].settings.client_id)
    assert row["LeaseUntil"] == 0 and row["Parts"] == 1 and row["FreshUntil"] - row["HadAt"] == pytest.approx(600)
    assert "Office chat" in row["List0"] and "secret" not in str(dict(row)).lower()


def directories(stack, table, clock: list[float], count: int) -> list[WorkstreamDirectory]:
    """`count` instances' directories over their own clients, on one wall clock."""
    from devtools.sandbox_client import sandbox_app

    found = []
    for _ in range(count):
        app = sandbox_app(stack.sandbox_settings())
        shared = SharedList(table, "oworkstreams-test", wall=lambda: clock[0])
        found.append(WorkstreamDirectory(app.client.list_workstreams, ttl=600, stale_seconds=300, shared=shared,
                                         wall=lambda: clock[0]))
    return found


def test_after_the_window_one_instance_asks_and_the_others_take_its_list(stack, table, clean_sandbox):
    clock = [time.time()]
    first, second = directories(stack, table, clock, 2)
    assert first.listing().source == "live"
    assert second.listing().source == "cache"
    clock[0] += 601
    assert second.listing().source == "live"
    assert first.listing().source == "cache"  # the row's list, fresh again: no query
    assert clean_sandbox.stats()["queries"] == 2


def test_an_instance_waits_for_the_one_asking(stack, table, clean_sandbox):
    clock = [time.time()]
    first, second = directories(stack, table, clock, 2)
    clean_sandbox.fault("queries", delayMs=800, count=1)
    with ThreadPoolExecutor(2) as pool:
        asking = pool.submit(first.listing, deadline=time.monotonic() + 10)
        time.sleep(0.3)  # the first holds the lease, its query under way
        waiting = second.listing(deadline=time.monotonic() + 10)
        assert asking.result().source == "live"
    assert waiting.source == "cache" and listed(waiting) == SCENARIO_LIST
    assert clean_sandbox.stats()["queries"] == 1


def test_a_failed_query_hands_the_lease_on_at_once(stack, table, clean_sandbox):
    clock = [time.time()]
    first, second = directories(stack, table, clock, 2)
    clean_sandbox.fault("queries", status=500, count=3)  # every attempt of the first instance's query
    with pytest.raises(UpstreamUnavailable):
        first.listing(deadline=time.monotonic() + 10)
    started = time.monotonic()
    assert second.listing(deadline=time.monotonic() + 10).source == "live"
    assert time.monotonic() - started < 2  # not the lease's 25 s
    assert first.listing().source == "cache"


def test_without_storage_each_instance_asks_alone(stack, clean_sandbox, caplog):
    from devtools.sandbox_client import sandbox_app
    from devtools.stack import free_port

    dead = service_from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        f"TableEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;").get_table_client("Nowhere")
    clock = [time.time()]
    found = []
    with caplog.at_level(logging.WARNING, logger="availability.workstreams"):
        for _ in range(2):
            app = sandbox_app(stack.sandbox_settings())
            names = WorkstreamDirectory(app.client.list_workstreams, ttl=600, stale_seconds=300,
                                        shared=SharedList(dead, f"o{uuid.uuid4().hex}", wall=lambda: clock[0]),
                                        wall=lambda: clock[0])
            started = time.monotonic()
            found.append(names.listing(deadline=time.monotonic() + 10))
            assert time.monotonic() - started < 3
            assert names.listing().source == "cache"
    assert [listing.source for listing in found] == ["live", "live"]
    assert clean_sandbox.stats()["queries"] == 2
    assert [r for r in caplog.records if "shared workstream list is unavailable" in r.getMessage()]


def test_a_long_list_is_shared_over_several_properties_of_its_row(table):
    from availability.workstreams.records import Kept, Workstream

    now = time.time()
    many = tuple(Workstream(str(uuid.UUID(int=i)), f"Workstream {i:04} · {'x' * 60}", 192360000 + i)
                 for i in range(1000))
    writer, reader = SharedList(table, "olong"), SharedList(table, "olong")
    first = writer.claim(time.monotonic() + 5)
    assert first is not None and first.lease is not None
    writer.publish(Kept(many, now, now + 600, now + 900), first.lease)
    row = table.get_entity("olong", "workstreams")
    assert row["Parts"] > 1 and row["LeaseUntil"] == 0
    found = reader.claim(time.monotonic() + 5)
    assert found is not None and found.fresh is not None and found.fresh.workstreams == many
