"""The supervisor dashboard: parameters, aggregation (pure), the reads, and the page over the wire."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from availability.dashboard.aggregate import Bucket, bands, shares, timeline, understaffed
from availability.dashboard.directory import OrgDirectory
from availability.dashboard.load import RENDER_RESERVE, Dashboard, Now, WorkstreamView, load_dashboard
from availability.dashboard.query import DashboardQuery, parse_dashboard_query
from availability.dashboard.view import render_dashboard, timeline_summary
from availability.errors import ConfigurationError, InvalidRequest, UpstreamUnavailable
from availability.snapshots import HourStats, Snapshot, SnapshotStore
from availability.snapshots import hours_of_week as heatmap
from availability.workstreams import WorkstreamDirectory
from tests.availability.conftest import unique_table
from tests.availability.scenario import BUSY_LINE, CHAT, OFFICE, Q_OPEN, at

if TYPE_CHECKING:
    from availability.dataverse import DataverseClient


def row(captured: datetime | str, status: str | None = "available", representatives: int | None = None,
        wait: int | None = None, workstream: str = CHAT, error: str | None = None) -> Snapshot:
    """A snapshot as the timer writes it; `status=None` with `error` is a failed check."""
    captured = at(captured) if isinstance(captured, str) else captured
    if status is None:
        return Snapshot.failed(workstream, captured, error or "upstream_unavailable", captured)
    if representatives is None:
        representatives = 2 if status == "available" else 0
    return Snapshot(workstream_id=workstream, captured_at=captured, retrieved_at=captured, queue_id=Q_OPEN,
                    status=status, within_operating_hours=status != "closed",
                    representatives_available=status == "available", available_representatives=representatives,
                    position_in_queue=3, average_wait_seconds=wait)


# ----------------------------------------------------------------------------------------- parameters


def test_query_defaults():
    assert parse_dashboard_query({}) == DashboardQuery(workstream_id=None, days=7, tz="UTC")
    assert parse_dashboard_query({"code": "the-function-key"}).days == 7  # the key in the URL is the host's
    assert parse_dashboard_query({"workstreamId": "", "tz": ""}) == DashboardQuery()  # an empty form field


def test_query_values_are_read():
    query = parse_dashboard_query({"workstreamId": CHAT.upper(), "days": "31", "tz": "America/New_York"})
    assert query == DashboardQuery(workstream_id=CHAT, days=31, tz="America/New_York")
    assert query.zone == ZoneInfo("America/New_York")
    assert parse_dashboard_query({"days": " 1 "}).days == 1


@pytest.mark.parametrize("params, target", [
    ({"days": "0"}, "days"),
    ({"days": "32"}, "days"),
    ({"days": "seven"}, "days"),
    ({"days": "7.5"}, "days"),
    ({"days": "-1"}, "days"),
    ({"days": "٣"}, "days"),  # an Arabic-Indic digit: isdigit() says yes, int() agrees, we do not
    ({"tz": "Mars/Olympus_Mons"}, "tz"),
    ({"tz": "America"}, "tz"),  # a folder of the zone database, not a zone
    ({"tz": "../../etc/passwd"}, "tz"),
    ({"tz": "Europe/Paris" * 10}, "tz"),
    ({"workstreamId": "not-a-guid"}, "workstreamId"),
    ({"workstreamID": CHAT}, "workstreamID"),
    ({"from": "2026-11-24"}, "from"),
])
def test_query_faults_name_their_parameter(params, target):
    with pytest.raises(InvalidRequest) as caught:
        parse_dashboard_query(params)
    assert caught.value.target == target


# ---------------------------------------------------------------------------------------- the timeline


def test_timeline_slices_are_aligned_and_take_the_majority_status():
    start, end = at("2026-11-24T10:07:00Z"), at("2026-11-24T10:50:00Z")
    rows = [row("2026-11-24T10:10:00Z", "available", 3, 60), row("2026-11-24T10:15:00Z", "busy", 0, 300),
            row("2026-11-24T10:20:00Z", "busy", 0, 360), row("2026-11-24T10:25:00Z", "available", 4, 120),
            row("2026-11-24T10:30:00Z", "closed", 0, 999), row("2026-11-24T10:35:00Z", "available", 1, 90),
            row("2026-11-24T10:45:00Z", "available", 2, 30)]
    buckets = timeline(rows, start, end)
    assert [(b.start, b.end) for b in buckets] == [
        (start, at("2026-11-24T10:15:00Z")),  # the first slice is cut at `start`
        (at("2026-11-24T10:15:00Z"), at("2026-11-24T10:30:00Z")),
        (at("2026-11-24T10:30:00Z"), at("2026-11-24T10:45:00Z")),
        (at("2026-11-24T10:45:00Z"), end),  # and the last at `end`
    ]
    assert [b.status for b in buckets] == ["available", "busy", "closed", "available"]  # 10:30 is a tie
    assert [b.samples for b in buckets] == [1, 3, 2, 1]
    assert buckets[1].representatives == pytest.approx(4 / 3)
    assert buckets[1].wait_seconds == pytest.approx(260)
    assert buckets[2].wait_seconds == 90  # the wait counts while open only: the closed row's 999 is left out


def test_a_tie_shows_the_less_favourable_status():
    rows = [row("2026-11-24T10:00:00Z", "available"), row("2026-11-24T10:05:00Z", "busy")]
    assert timeline(rows, at("2026-11-24T10:00:00Z"), at("2026-11-24T10:15:00Z"))[0].status == "busy"
    rows = [row("2026-11-24T10:00:00Z", "available"), row("2026-11-24T10:05:00Z", "closed")]
    assert timeline(rows, at("2026-11-24T10:00:00Z"), at("2026-11-24T10:15:00Z"))[0].status == "closed"


def test_a_sparser_schedule_is_carried_over_but_a_real_gap_shows():
    # Hourly snapshots, then nothing for three hours (the timer stopped), then hourly again.
    hours = [0, 1, 2, 6, 7]
    rows = [row(at("2026-11-24T00:00:00Z") + timedelta(hours=h), "available" if h < 6 else "closed") for h in hours]
    buckets = timeline(rows, at("2026-11-24T00:00:00Z"), at("2026-11-24T08:00:00Z"))
    by_start = {b.start.strftime("%H:%M"): b for b in buckets}
    assert by_start["00:45"].status == "available" and by_start["00:45"].carried  # an hour later: still held
    assert by_start["02:45"].status == "available"  # the typical gap is 1 h, so 2 h are bridged
    assert by_start["04:15"].status is None and by_start["05:45"].status is None  # beyond: no data
    assert by_start["06:15"].status == "closed"
    assert timeline([], at("2026-11-24T00:00:00Z"), at("2026-11-24T01:00:00Z"))[0].status is None


def test_failed_snapshots_show_as_no_answer_and_bands_merge_runs():
    rows = [row("2026-11-24T10:00:00Z", "available"), row("2026-11-24T10:15:00Z", "available"),
            row("2026-11-24T10:30:00Z", None, error="upstream_timeout"), row("2026-11-24T10:45:00Z", "closed"),
            row("2026-11-24T11:00:00Z", "closed")]
    buckets = timeline(rows, at("2026-11-24T10:00:00Z"), at("2026-11-24T11:15:00Z"), hold=timedelta(minutes=15))
    assert [b.status for b in buckets] == ["available", "available", "error", "closed", "closed"]
    assert buckets[2].representatives is None and buckets[2].wait_seconds is None
    assert [(b.start.strftime("%H:%M"), b.end.strftime("%H:%M"), b.status) for b in bands(buckets)] == [
        ("10:00", "10:30", "available"), ("10:30", "10:45", "error"), ("10:45", "11:15", "closed")]


# ---------------------------------------------------------------------------------------- the heatmap


def test_heatmap_counts_each_snapshot_in_its_local_hour_of_the_week():
    rows = [row("2026-11-23T13:05:00Z", "available"),   # Monday 13:05 UTC = 14:05 in Paris
            row("2026-11-23T13:35:00Z", "busy"),
            row("2026-11-23T23:30:00Z", "closed"),       # Monday 23:30 UTC = Tuesday 00:30 in Paris
            row("2026-11-23T13:40:00Z", None, error="upstream_timeout")]
    cells = heatmap(rows, ZoneInfo("Europe/Paris"))
    assert len(cells) == 168
    monday_14 = cells[0 * 24 + 14]
    assert (monday_14.weekday, monday_14.hour) == (0, 14)
    assert (monday_14.available, monday_14.busy, monday_14.closed, monday_14.failed) == (1, 1, 0, 1)
    assert monday_14.share == 0.5 and monday_14.open_share == 1.0  # the failed row is in no share
    assert cells[1 * 24 + 0].closed == 1
    utc_cells = heatmap(rows, UTC)
    assert utc_cells[13].samples == 2 and utc_cells[23].samples == 1
    assert cells[5].share is None  # no snapshot, no share


def test_heatmap_is_safe_across_daylight_saving_changes():
    london = ZoneInfo("Europe/London")
    # Autumn: Sunday 25 October 2026 01:00-02:00 local happens twice (BST, then GMT): both land in Sun 01.
    autumn = [row(at("2026-10-25T00:00:00Z") + timedelta(minutes=15 * i)) for i in range(8)]  # 00:00-01:45 UTC
    cells = heatmap(autumn, london)
    assert cells[6 * 24 + 1].samples == 8  # 01:00-01:45 BST and 01:00-01:45 GMT
    assert sum(c.samples for c in cells) == 8
    # Spring: Sunday 29 March 2026 01:00 local is skipped: 00:45 UTC is 00:45 GMT, 01:00 UTC is 02:00 BST.
    spring = [row(at("2026-03-29T00:45:00Z")), row(at("2026-03-29T01:00:00Z"))]
    cells = heatmap(spring, london)
    assert (cells[6 * 24 + 0].samples, cells[6 * 24 + 1].samples, cells[6 * 24 + 2].samples) == (1, 0, 1)
    # The same instants seen from New York (still on summer time then) are Saturday evening.
    new_york = heatmap(spring, ZoneInfo("America/New_York"))
    assert new_york[5 * 24 + 20].samples == 1 and new_york[5 * 24 + 21].samples == 1


def test_shares_and_the_open_hours_short_of_representatives():
    rows = []
    monday = at("2026-11-23T00:00:00Z")
    for day in range(7):
        for hour in range(24):
            moment = monday + timedelta(days=day, hours=hour)
            if day >= 5 or not 8 <= hour < 18:
                status = "closed"
            elif 12 <= hour < 14:
                status = "busy"  # lunch: open, nobody free
            elif day == 2 and hour == 16:
                status = "busy"  # one bad Wednesday afternoon hour
            else:
                status = "available"
            rows.append(row(moment, status))
    counts = shares(rows)
    assert (counts.available, counts.busy, counts.closed, counts.samples) == (39, 11, 118, 168)
    assert counts.of("available") == pytest.approx(39 / 168)
    worst = understaffed(heatmap(rows, UTC))
    assert [w.label() for w in worst] == ["Mon–Fri 12:00–14:00", "Wed 16:00–17:00"]
    assert worst[0].weekdays == (0, 1, 2, 3, 4) and worst[0].share == 0 and worst[0].samples == 10
    assert understaffed(heatmap([r for r in rows if r.status != "busy"], UTC)) == []


def test_the_timeline_speaks_of_whole_people_or_says_it_averages():
    start = at("2026-11-24T10:00:00Z")

    def slices(*reps: float) -> list[Bucket]:
        return [Bucket(start + timedelta(minutes=15 * i), start + timedelta(minutes=15 * (i + 1)), "available", r,
                       60, 3) for i, r in enumerate(reps)]

    assert "; 2–10 representatives free;" in timeline_summary(slices(2, 10))
    assert "; 1.7–9.7 representatives free on average;" in timeline_summary(slices(1.7, 9.7))


def test_weekday_ranges_in_labels():
    cells = [HourStats(d, h) for d in range(7) for h in range(24)]
    for weekday in (0, 1, 3, 5, 6):
        cells[weekday * 24 + 9].busy = 1
    assert [w.label() for w in understaffed(cells)] == ["Mon, Tue, Thu, Sat, Sun 09:00–10:00"]
    cells[2 * 24 + 9].busy = 1
    assert [w.label() for w in understaffed(cells)] == ["Mon–Thu, Sat, Sun 09:00–10:00"]
    cells[4 * 24 + 9].busy = 1
    assert [w.label() for w in understaffed(cells)] == ["Mon–Sun 09:00–10:00"]
    cells[6 * 24 + 23].busy = 1
    assert understaffed(cells)[1].label() == "Sun 23:00–00:00"


# ------------------------------------------------------------------------------------- names and render


class FakeOrg:
    def __init__(self) -> None:
        self.calls = 0
        self.down = False

    def list_workstreams(self, **when):
        self.calls += 1
        if self.down:
            raise UpstreamUnavailable()
        return [{"msdyn_liveworkstreamid": CHAT.upper(), "msdyn_name": "Chat"},
                {"msdyn_liveworkstreamid": "not-a-guid", "msdyn_name": "Broken"}]

    def list_queues(self):
        return [{"queueid": Q_OPEN, "name": "Open 24x7"}]


def org_directory(org, *, clock=None) -> OrgDirectory:
    """The dashboard's directory over `org`, its workstreams from a directory of their own (on `clock`)."""
    now = (lambda: clock[0]) if clock else time.time
    names = WorkstreamDirectory(org.list_workstreams, ttl=600, stale_seconds=300, wall=now)
    return OrgDirectory(lambda: org, workstreams=lambda: names, ttl=600, monotonic=now)


def test_directory_caches_names_and_keeps_them_while_discovery_fails():
    org, clock = FakeOrg(), [0.0]
    directory = org_directory(org, clock=clock)
    assert directory.workstreams() == {CHAT: "Chat"} and directory.queues() == {Q_OPEN: "Open 24x7"}
    directory.workstreams()
    assert org.calls == 1
    clock[0], org.down = 700.0, True
    assert directory.workstreams() == {CHAT: "Chat"}  # the last names, served stale
    assert org.calls == 2
    clock[0] = 740.0  # a failed refresh is tried again after 30 s, not after a whole period
    directory.workstreams()
    assert org.calls == 3


class HangingOrg(FakeOrg):
    """An org whose listing calls hang until `release` is set (or forever)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def list_workstreams(self, **when):
        self.release.wait(60)
        return super().list_workstreams()


def test_directory_waits_for_a_slow_org_only_as_long_as_asked():
    org = HangingOrg()
    directory = org_directory(org)
    started = time.monotonic()
    found = directory.lookup(timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert found.late and found.workstreams is None and found.queues == {}
    assert directory.workstreams(timeout=0) is None  # the refresh under way is not started twice
    org.release.set()
    assert directory.workstreams(timeout=5) == {CHAT: "Chat"}  # the same refresh, now done
    assert org.calls == 1


class HangingClient:
    """A client whose availability calls do not come back in time, whatever their deadline."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.deadlines: list[float | None] = []

    def get_availability(self, check, *, deadline=None):
        self.deadlines.append(deadline)
        self.release.wait(60)
        raise UpstreamUnavailable()


class MemoryHistory:
    """A store answering history reads from memory, or hanging (`hang`) until released."""

    def __init__(self, rows, hang: bool = False) -> None:
        self.rows = rows
        self.hang = hang
        self.release = threading.Event()

    def history(self, query, *, deadline=None):
        if self.hang:
            self.release.wait(60)
        return sorted((r for r in self.rows if query.start <= r.captured_at <= query.end
                       and query.workstream_id in (None, r.workstream_id)),
                      key=lambda r: r.captured_at, reverse=True)[:query.limit]


def test_the_page_data_is_in_by_the_deadline_whatever_the_org_does():
    now = datetime.now(UTC)
    rows = [row(now - timedelta(minutes=5 * i), "busy", workstream=BUSY_LINE) for i in range(12)]
    from availability.service import AvailabilityService

    org, client = HangingOrg(), HangingClient()
    # The normal path: cache and single flight spare the org. The service calls only `get_availability`.
    service = AvailabilityService(cast("DataverseClient", client))
    try:
        started = time.monotonic()
        deadline = started + 8.0  # the names get 3 s, the live checks the 2 s left before the render reserve
        dashboard = load_dashboard(DashboardQuery(days=1), now=now, store=MemoryHistory(rows), service=service,
                                   directory=org_directory(org), configured=None, deadline=deadline)
        assert time.monotonic() < deadline - RENDER_RESERVE + 0.5  # names and live checks were not waited out
    finally:
        org.release.set()
        client.release.set()
    # No names in time: the workstreams the snapshots know, each "now" from its latest snapshot.
    assert [view.id for view in dashboard.workstreams] == [BUSY_LINE]
    view = dashboard.workstreams[0]
    assert view.name is None and len(view.history) == 12
    assert (view.now.source, view.now.status) == ("snapshot", "busy")
    assert "did not answer in time" in (view.now.problem or "")
    assert client.deadlines and all(d is not None and d <= deadline for d in client.deadlines)


def test_a_history_read_that_hangs_does_not_hold_the_page():
    now = datetime.now(UTC)
    store = MemoryHistory([row(now - timedelta(minutes=5), "available")], hang=True)
    try:
        started = time.monotonic()
        dashboard = load_dashboard(DashboardQuery(days=1), now=now, store=store, service=ConfigurationError(
            setting="DATAVERSE_URL"), directory=None, configured=[CHAT], deadline=started + RENDER_RESERVE + 1.0)
        assert time.monotonic() - started < 1.5
    finally:
        store.release.set()
    view = dashboard.workstreams[0]
    assert view.history == [] and "in time" in (view.history_problem or "")
    assert view.now.source == "none" and "DATAVERSE_URL" in (view.now.problem or "")


def test_directory_without_an_org_configured_is_empty():
    def no_org():
        raise ConfigurationError(setting="DATAVERSE_URL")

    def no_query(**when):
        raise ConfigurationError(setting="DATAVERSE_URL")

    names = WorkstreamDirectory(no_query, ttl=600, stale_seconds=300)
    directory = OrgDirectory(no_org, workstreams=lambda: names)
    assert directory.workstreams() is None and directory.queues() == {}
    assert directory.error is not None and directory.error.code == "configuration_error"


class ParsedPage(HTMLParser):
    """The elements a browser would build from a page: (tag, attributes) in order, and every text and attribute
    value as read back (entities decoded), so a test does not depend on how an escape is spelled."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.values: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self.values.extend(value for _, value in attrs if value is not None)

    def handle_data(self, data):
        self.values.append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def test_everything_from_outside_is_escaped():
    hostile = '<img src=x onerror="alert(1)">'
    now = at("2026-11-24T12:00:00Z")
    view = WorkstreamView(CHAT, hostile, Now("busy", Q_OPEN, 0, 60, 2, None, now + timedelta(hours=1), False, now,
                                             "stale", problem=hostile), [row(now - timedelta(minutes=5), "busy")])
    page = render_dashboard(Dashboard(DashboardQuery(tz="Europe/Paris"), now, [view], {Q_OPEN: hostile},
                                      {CHAT: hostile}, notice=hostile), nonce="n0nce")
    assert "<img" not in page and "onerror=\"" not in page
    parsed = ParsedPage(page)
    assert parsed.tags("img") == []
    assert sum(hostile in value for value in parsed.values) >= 5  # shown as text wherever it appears
    assert '<script nonce="n0nce">' in page and '<style nonce="n0nce">' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing loaded from elsewhere


def test_names_from_the_org_are_text_in_the_page_never_markup():
    workstream = 'Sales <script>alert("hi")</script> & \'Support\''
    queue = 'Queue "A" & <b>B</b>'
    now = at("2026-11-24T12:00:00Z")
    rows = [row(now - timedelta(minutes=5 * i), "available") for i in range(30)]
    view = WorkstreamView(CHAT, workstream, Now("available", Q_OPEN, 2, 30, 1, None, None, True, now, "live"), rows)
    page = render_dashboard(Dashboard(DashboardQuery(), now, [view], {Q_OPEN: queue}, {CHAT: workstream}),
                            nonce="n0nce")
    parsed = ParsedPage(page)
    assert [attrs for attrs in parsed.tags("script")] == [{"nonce": "n0nce"}]  # the page's own script only
    assert parsed.tags("b") == []
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page and " &amp; " in page
    # Read back, the name is intact where a reader meets it: heading, tile, filter, the charts' titles.
    assert sum(workstream in value for value in parsed.values) >= 5
    assert f"Queue {queue}" in parsed.values
    options = [attrs for tag, attrs in parsed.elements if tag == "option" and attrs.get("value") == CHAT]
    assert options == [{"value": CHAT}]


def test_best_times_this_week_beside_the_heatmap():
    from availability.snapshots import Profile

    now = at("2026-11-23T08:30:00Z")  # a Monday

    def profile(weeks: int) -> Profile:
        # Every half hour, up to an hour before now: a week of it sees each hour of the week once.
        rows = [row(now - timedelta(minutes=30 * i), "available" if 9 <= (now - timedelta(minutes=30 * i)).hour < 12
                    else "closed", wait=60) for i in range(2, weeks * 7 * 48 - 1)]
        return Profile.from_rows(CHAT, rows, zone_name="UTC", zone=UTC, start=now - timedelta(weeks=weeks), end=now)

    def page(**view) -> str:
        state = Now("closed", Q_OPEN, 0, None, 1, now + timedelta(minutes=30), None, False, now, "live")
        shown = WorkstreamView(CHAT, "Chat", state, [row(now - timedelta(minutes=5), "closed")], **view)
        return render_dashboard(Dashboard(DashboardQuery(tz="Europe/Paris"), now, [shown]), nonce="n0nce")

    eight = page(profile=profile(8))
    assert "Best times this week" in eight and "over the last 8 weeks" in eight
    # 09:00-12:00 UTC each day, shown in Paris: today 10:00-13:00, then tomorrow.
    assert "<strong>10:00–13:00</strong>" in eight and "<strong>tomorrow 10:00–13:00</strong>" in eight
    assert eight.count('<span class="confidence high">high confidence</span>') == 6  # BEST_TIMES_SHOWN
    assert "wait about 1 min" in eight
    one = page(profile=profile(1))
    assert "Not enough history yet: the hours ahead were seen in 1 week of snapshots; an hour needs 2" in one
    hostile = '<img src=x onerror="alert(1)">'
    broken = page(profile_problem=hostile)
    assert "The history could not be read:" in broken and "<img" not in broken


# ------------------------------------------------------------------------------------ reads (Azurite)


def seed(store: SnapshotStore, workstream: str, newest: datetime, count: int, status: str = "available",
         step: timedelta = timedelta(minutes=5)) -> None:
    store.ensure_table()
    rows = [row(newest - i * step, status, workstream=workstream) for i in range(count)]
    for i in range(0, len(rows), 100):
        store._table.submit_transaction([("upsert", r.to_entity()) for r in rows[i:i + 100]])


def test_a_week_of_history_is_one_range_query_per_workstream(store, counter):
    now = at("2026-11-24T12:02:00Z")
    newest = at("2026-11-24T12:00:00Z")
    quarter = timedelta(minutes=15)
    with ThreadPoolExecutor(3) as pool:  # 7 days every 15 minutes, and an hour more, for each workstream
        list(pool.map(lambda item: seed(store, item[0], newest, 672 + 4, item[1], step=quarter),
                      ((CHAT, "available"), (BUSY_LINE, "busy"), (OFFICE, "closed"))))
    counter.requests.clear()
    dashboard = load_dashboard(DashboardQuery(), now=now, store=store, service=ConfigurationError(
        setting="DATAVERSE_URL"), directory=None, configured=[CHAT, BUSY_LINE, OFFICE])
    assert [len(view.history) for view in dashboard.workstreams] == [672] * 3
    assert all(view.history[0].captured_at > now - timedelta(days=7) for view in dashboard.workstreams)
    queries = [unquote(parse_qs(urlsplit(url).query)["$filter"][0]) for method, url in counter.requests]
    assert all(method == "GET" for method, _ in counter.requests)
    assert len(counter.requests) == 3  # one request per workstream (a week at 5 minutes would be 3 pages each)
    assert all("PartitionKey eq" in text and "RowKey ge" in text for text in queries)  # no scan of the table
    # The org cannot be asked: "now" is the latest snapshot, with why.
    states = {view.id: view.now for view in dashboard.workstreams}
    assert states[BUSY_LINE].status == "busy" and states[BUSY_LINE].source == "snapshot"
    assert states[BUSY_LINE].retrieved_at == newest and "DATAVERSE_URL" in (states[BUSY_LINE].problem or "")


# ------------------------------------------------------------------------------------------ over the wire


def dashboard(gateway, **params) -> requests.Response:
    return gateway.get("dashboard", params=params)


@pytest.mark.parametrize("params, target", [
    ({"days": "0"}, "days"), ({"days": "32"}, "days"), ({"tz": "Mars/Olympus_Mons"}, "tz"),
    ({"workstreamId": "42"}, "workstreamId"), ({"colour": "blue"}, "colour"),
])
def test_bad_parameters_are_400_naming_them(gateway, params, target):
    response = dashboard(gateway, **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["target"] == target
    assert response.headers["x-correlation-id"]


def test_the_page_needs_the_function_key_and_takes_it_in_the_url(gateway, clean_sandbox):
    url = f"{gateway.url}/api/dashboard"
    refused = requests.get(url, timeout=30)
    assert (refused.status_code, refused.content) == (401, b"")  # the Functions host's own answer
    assert requests.get(url, params={"code": "wrong"}, timeout=30).status_code == 401
    page = requests.get(url, params={"code": gateway.function_key}, timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.text.startswith("<!DOCTYPE html>")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'nonce-" in policy
    found = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert found is not None
    nonce = found.group(1)
    assert f'<script nonce="{nonce}">' in page.text  # a fresh nonce per page, matching the header
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert gateway.function_key not in page.text  # the key stays in the address bar, not in the page


def test_without_history_every_workstream_shows_now_and_an_empty_state(fresh_gateway, clean_sandbox):
    gateway = fresh_gateway(SNAPSHOT_TABLE=unique_table())
    page = dashboard(gateway).text
    for name in ("Chat", "Busy line", "Office chat"):  # the org's active workstreams, by name
        assert f">{name}</h2>" in page
    assert page.count("No snapshots in the last 24 hours yet") == 3
    assert page.count("No snapshots in the last 7 days yet") == 3
    assert 'class="tile busy"' in page and "Queue Busy 24x7" in page  # live, with the queue's name
    assert "Live · just now" in page
    assert 'class="timeline"' not in page and 'class="heatmap"' not in page  # no empty charts


def test_history_filtered_to_one_workstream_in_a_time_zone(stack, fresh_gateway, clean_sandbox):
    table = unique_table()
    store = SnapshotStore.from_connection_string(stack.storage_connection, table)
    now = datetime.now(UTC)
    seed(store, CHAT, now - timedelta(minutes=1), 2 * 288, "available")
    seed(store, BUSY_LINE, now - timedelta(minutes=1), 10, "busy")
    store.close()
    gateway = fresh_gateway(SNAPSHOT_TABLE=table)
    page = dashboard(gateway, workstreamId=CHAT, days="2", tz="Asia/Kolkata").text
    assert ">Chat</h2>" in page and ">Busy line</h2>" not in page
    assert page.count('class="timeline"') == 1 and page.count('class="heatmap"') == 1
    assert "times in Asia/Kolkata (IST)" in page
    assert "Last 2 days" in page and "could be escalated in 100% of 576 snapshots" in page
    assert "available 100% of the time" in page


def test_a_slow_org_leaves_the_page_inside_the_request_budget(stack, fresh_gateway, clean_sandbox):
    table = unique_table()
    store = SnapshotStore.from_connection_string(stack.storage_connection, table)
    seed(store, OFFICE, datetime.now(UTC) - timedelta(minutes=3), 3, "closed")
    store.close()
    auto = fresh_gateway(SNAPSHOT_TABLE=unique_table())
    fixed = fresh_gateway(SNAPSHOT_TABLE=table, SNAPSHOT_WORKSTREAMS=OFFICE)
    for gateway in (auto, fixed):
        assert gateway.get("health").status_code == 200
    # The workstreams are listed after 9 s (inside one 10 s attempt), the queues not within the client's 20 s;
    # no check answers either. One after the other, the two lists alone would take 29 s.
    clean_sandbox.fault("queries", delayMs=9_000, count=1)
    clean_sandbox.fault("queries", delayMs=60_000)
    clean_sandbox.fault("actions", delayMs=60_000)

    started = time.monotonic()
    response = dashboard(auto)
    assert response.status_code == 200 and time.monotonic() - started < 25
    assert "The org did not list its workstreams in time" in response.text  # no names, no snapshots: says so

    started = time.monotonic()
    response = dashboard(fixed)
    assert response.status_code == 200 and time.monotonic() - started < 25
    found = re.search(r'<div class="tile closed".*?</div></div>', response.text, re.S)
    assert found is not None
    tile = found.group(0)
    assert "Latest snapshot · 3 min ago" in tile and "did not answer" in tile


def test_upstream_down_shows_the_latest_snapshot_with_its_age(stack, fresh_gateway, clean_sandbox):
    table = unique_table()
    store = SnapshotStore.from_connection_string(stack.storage_connection, table)
    seed(store, BUSY_LINE, datetime.now(UTC) - timedelta(minutes=10), 3, "busy")
    store.close()
    gateway = fresh_gateway(SNAPSHOT_TABLE=table, AVAILABILITY_TIMEOUT_SECONDS=2)
    clean_sandbox.fault("actions", status=503)
    response = dashboard(gateway, workstreamId=BUSY_LINE)
    assert response.status_code == 200
    found = re.search(r'<div class="tile busy".*?</div></div>', response.text, re.S)
    assert found is not None
    tile = found.group(0)
    assert "Latest snapshot · 10 min ago" in tile and "live check failed" in tile
    assert "Dynamics 365 answered with HTTP 503" in tile
