"""Snapshots over the wire: the timer run through the local host's admin API, and `GET /api/snapshots`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from availability.snapshots import SnapshotStore, schedule_slot
from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE, Q_BUSY, Q_OPEN, UNKNOWN
from tests.availability.snapshots.test_snapshots import seed
from tests.conftest import Gateway
from tests.days import WEEKDAYS, at, sandbox_day

DAILY = "0 0 0 * * *"  # its latest slot is within the last 24 h, and it does not fire during a test
FIELDS = {"workstreamId", "queueId", "capturedAt", "status", "withinOperatingHours", "representativesAvailable",
          "availableRepresentatives", "positionInQueue", "averageWaitSeconds", "error"}

pytestmark = pytest.mark.usefixtures("clean_sandbox")


def unique_table() -> str:
    return f"Snapshots{uuid.uuid4().hex[:16]}"


def trigger(gateway: Gateway, timeout: float = 60) -> dict:
    """Run the timer by hand as Azure does (master key, 202), then wait until the host says it is done."""
    admin = {"x-functions-key": gateway.master_key}
    before = requests.get(f"{gateway.url}/admin/functions/snapshot_availability/status", headers=admin,
                          timeout=10).json()["invocations"]
    response = requests.post(f"{gateway.url}/admin/functions/snapshot_availability", json={"input": ""},
                             headers=admin, timeout=10)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = requests.get(f"{gateway.url}/admin/functions/snapshot_availability/status", headers=admin,
                              timeout=10).json()
        if not status["running"] and status["invocations"] > before:
            return status
        time.sleep(0.1)
    raise AssertionError("the snapshot run did not finish")


def test_admin_trigger_writes_a_row_per_workstream_and_a_rerun_keeps_one(fresh_gateway):
    gateway = fresh_gateway(SNAPSHOT_TABLE=unique_table(), SNAPSHOT_SCHEDULE=DAILY,
                            SNAPSHOT_WORKSTREAMS=f"{CHAT},{UNKNOWN}")
    assert trigger(gateway)["lastResult"] == "Succeeded"
    response = gateway.get("snapshots")
    assert response.status_code == 200, response.text
    assert response.headers["x-correlation-id"]
    rows = response.json()["snapshots"]
    slot = schedule_slot(DAILY, datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [(r["workstreamId"], r["capturedAt"]) for r in rows] == [(CHAT, slot), (UNKNOWN, slot)]
    chat, unknown = rows
    assert set(chat) == FIELDS
    assert chat == {"workstreamId": CHAT, "queueId": Q_OPEN, "capturedAt": slot, "status": "available",
                    "withinOperatingHours": True, "representativesAvailable": True, "availableRepresentatives": 3,
                    "positionInQueue": 3, "averageWaitSeconds": 90, "error": None}
    assert unknown["error"] == "not_found" and unknown["status"] is None and unknown["queueId"] is None

    status = trigger(gateway)  # same slot: overwritten, not duplicated
    assert (status["lastResult"], status["invocations"]) == ("Succeeded", 2)
    assert len(gateway.get("snapshots").json()["snapshots"]) == 2
    summaries = [line for line in gateway.log().splitlines() if "Snapshot slot=" in line]
    assert len(summaries) == 2 and "targets=2 ok=1 failed=1 not_found=1" in summaries[-1]


def test_admin_trigger_with_auto_targets_snapshots_every_active_workstream(fresh_gateway):
    gateway = fresh_gateway(SNAPSHOT_TABLE=unique_table(), SNAPSHOT_SCHEDULE=DAILY, SNAPSHOT_WORKSTREAMS="auto")
    assert trigger(gateway)["lastResult"] == "Succeeded"
    rows = gateway.get("snapshots").json()["snapshots"]
    assert sorted(r["workstreamId"] for r in rows) == [CHAT, BUSY_LINE, OFFICE]
    assert all(r["error"] is None for r in rows)


def test_admin_trigger_needs_the_master_key(gateway):
    response = requests.post(f"{gateway.url}/admin/functions/snapshot_availability", json={"input": ""},
                             headers={"x-functions-key": gateway.function_key}, timeout=10)
    # The key is valid but not the master key: the host refuses it (403), as Azure's admin API does.
    assert (response.status_code, response.content) == (403, b"")


def test_without_storage_the_history_names_the_setting_and_the_run_fails(fresh_gateway):
    gateway = fresh_gateway(AzureWebJobsStorage="", SNAPSHOT_SCHEDULE=DAILY, SNAPSHOT_WORKSTREAMS=CHAT)
    response = gateway.get("snapshots")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "configuration_error" and "AzureWebJobsStorage" in error["message"]
    assert trigger(gateway)["lastResult"] == "Failed"
    failures = [line for line in gateway.log().splitlines() if "Snapshot run failed" in line]
    assert failures and "AzureWebJobsStorage" in failures[-1] and "configuration_error" in failures[-1]


def test_unreachable_storage_is_a_503_upstream_unavailable(fresh_gateway):
    from devtools.stack import azurite_connection_string, free_port

    gateway = fresh_gateway(AzureWebJobsStorage=azurite_connection_string(free_port()), SNAPSHOT_SCHEDULE=DAILY)
    started = time.monotonic()
    response = gateway.get("snapshots")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 25


def test_storage_that_never_answers_is_a_504_inside_the_request_budget(fresh_gateway):
    from devtools.stack import azurite_connection_string
    from tests.availability.snapshots.test_snapshots import SilentStorage

    silent = SilentStorage()
    try:
        gateway = fresh_gateway(AzureWebJobsStorage=azurite_connection_string(silent.port), SNAPSHOT_SCHEDULE=DAILY)
        started = time.monotonic()
        response = gateway.get("snapshots", params={"workstreamId": CHAT})
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 25
    assert silent.requests == 2  # one retry: two whole attempts fit in the budget, a third would not


# ------------------------------------------------------------------------------------ reading history


@pytest.fixture(scope="module")
def history(stack):
    """A host over a table holding three hours of rows for two workstreams (newest first, 5 minutes apart)."""
    table = unique_table()
    store = SnapshotStore.from_connection_string(stack.storage_connection, table)
    newest = schedule_slot("0 */5 * * * *", datetime.now(UTC)) - timedelta(minutes=5)
    seed(store, CHAT, newest, 36, queue=Q_OPEN)
    seed(store, BUSY_LINE, newest, 36, queue=Q_BUSY)
    seed(store, CHAT, newest - timedelta(days=2), 10, queue=Q_OPEN)  # outside the default 24 h
    store.close()
    host = stack.start_host(port=0, name=f"history-{uuid.uuid4().hex[:6]}",
                            extra_settings={"SNAPSHOT_TABLE": table, "SNAPSHOT_SCHEDULE": DAILY})
    yield Gateway(host), newest
    host.process.stop()


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_history_cut_at_limit_says_so_and_pages_on(history):
    gateway, newest = history
    whole = gateway.get("snapshots", params={"workstreamId": CHAT})
    assert whole.json()["truncated"] is False and len(whole.json()["snapshots"]) == 36
    first = gateway.get("snapshots", params={"workstreamId": CHAT, "limit": "20"}).json()
    assert first["truncated"] is True and len(first["snapshots"]) == 20
    oldest = first["snapshots"][-1]["capturedAt"]
    rest = gateway.get("snapshots", params={"workstreamId": CHAT, "limit": "20", "to": oldest,
                                            "from": iso(newest - timedelta(hours=24))}).json()
    assert rest["truncated"] is False
    assert rest["snapshots"][0]["capturedAt"] == oldest  # `to` is inclusive: that row is skipped by the reader
    assert first["snapshots"] + rest["snapshots"][1:] == whole.json()["snapshots"]


def test_history_defaults_to_the_last_day_newest_first(history):
    gateway, newest = history
    rows = gateway.get("snapshots").json()["snapshots"]
    assert len(rows) == 72
    assert [r["capturedAt"] for r in rows[:4]] == [iso(newest)] * 2 + [iso(newest - timedelta(minutes=5))] * 2
    assert [r["workstreamId"] for r in rows[:2]] == [CHAT, BUSY_LINE]
    assert rows == sorted(rows, key=lambda r: r["capturedAt"], reverse=True)


def test_history_of_one_workstream_in_a_range(history):
    gateway, newest = history
    start, end = newest - timedelta(minutes=30), newest - timedelta(minutes=10)
    rows = gateway.get("snapshots", params={"workstreamId": CHAT, "from": iso(start), "to": iso(end)}).json()
    assert [r["capturedAt"] for r in rows["snapshots"]] == [iso(end - timedelta(minutes=5 * i)) for i in range(5)]
    assert {r["workstreamId"] for r in rows["snapshots"]} == {CHAT}


def test_history_from_and_to_with_offsets_and_dates(history):
    gateway, newest = history
    local = (newest - timedelta(minutes=10)).astimezone(timezone(timedelta(hours=2)))
    rows = gateway.get("snapshots", params={"workstreamId": BUSY_LINE, "from": local.isoformat()}).json()["snapshots"]
    assert [r["capturedAt"] for r in rows] == [iso(newest - timedelta(minutes=5 * i)) for i in range(3)]
    day = (newest - timedelta(days=2)).date().isoformat()
    rows = gateway.get("snapshots", params={"workstreamId": CHAT, "from": day, "to": day}).json()["snapshots"]
    assert rows and all(r["capturedAt"].startswith(day) for r in rows)
    rows = gateway.get("snapshots", params={"workstreamId": CHAT, "from": "1969-12-31T00:00:00Z"}).json()["snapshots"]
    assert len(rows) == 46  # before 1970 means from 1970: every row, not none


def test_history_limit_and_queue(history):
    gateway, newest = history
    rows = gateway.get("snapshots", params={"limit": "3"}).json()["snapshots"]
    assert [(r["capturedAt"], r["workstreamId"]) for r in rows] == [
        (iso(newest), CHAT), (iso(newest), BUSY_LINE), (iso(newest - timedelta(minutes=5)), CHAT)]
    rows = gateway.get("snapshots", params={"queueId": Q_BUSY}).json()["snapshots"]
    assert len(rows) == 36 and {r["workstreamId"] for r in rows} == {BUSY_LINE}
    rows = gateway.get("snapshots", params={"queueId": Q_BUSY, "workstreamId": CHAT}).json()["snapshots"]
    assert rows == []


def test_history_with_the_key_in_the_query_string(history):
    gateway, _ = history
    response = requests.get(f"{gateway.url}/api/snapshots", params={"code": gateway.function_key, "limit": "1"},
                            timeout=10)
    assert response.status_code == 200 and len(response.json()["snapshots"]) == 1
    assert requests.get(f"{gateway.url}/api/snapshots", timeout=10).status_code == 401


def test_a_from_after_to_is_an_empty_range(history):
    gateway, _ = history
    response = gateway.get("snapshots", params={"from": "2026-11-24T10:00:00Z", "to": "2026-11-23T10:00:00Z"})
    assert response.status_code == 200, response.text
    assert response.json() == {"snapshots": [], "truncated": False}


@pytest.mark.parametrize("params, target", [
    ({"workstreamId": "not-a-guid"}, "workstreamId"),
    ({"queueId": "42"}, "queueId"),
    ({"from": "last tuesday"}, "from"),
    ({"to": "2026-11-24T10:00:00"}, "to"),
    ({"limit": "0"}, "limit"),
    ({"limit": "5001"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"since": "2026-11-24"}, "since"),
])
def test_history_parameters_are_checked(history, params, target):
    gateway, _ = history
    response = gateway.get("snapshots", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("invalid_request", target)
    assert response.headers["x-correlation-id"]


def test_unknown_parameters_are_all_named(history):
    gateway, _ = history
    error = gateway.get("snapshots", params={"top": "3", "workstream": CHAT}).json()["error"]
    assert "'top'" in error["message"] and "'workstream'" in error["message"]


def test_slots_the_history_and_the_dashboard_follow_the_orgs_clock(fresh_gateway, sandbox, side):
    """Rows record the org's hours, so they are slotted on the org's clock, and the history's and the dashboard's
    windows end at the org's "now": with the sandbox on another day, a run's rows are found and shown."""
    day = sandbox_day(side, on=WEEKDAYS)
    gateway = fresh_gateway(SNAPSHOT_TABLE=unique_table(), SNAPSHOT_SCHEDULE=DAILY, SNAPSHOT_WORKSTREAMS=OFFICE)
    sandbox.set_clock(at(day, "11:00:00", "Europe/Paris"))  # the office is open
    assert trigger(gateway)["lastResult"] == "Succeeded"
    rows = gateway.get("snapshots").json()["snapshots"]  # the default window: the last 24 h on the org's clock
    assert [(row["capturedAt"], row["status"]) for row in rows] == [(f"{day.isoformat()}T00:00:00Z", "available")]
    page = gateway.get("dashboard", params={"workstreamId": OFFICE}).text
    assert "Last 24 hours: available 100% of the time" in page
    assert "No snapshots in the last 24 hours" not in page
