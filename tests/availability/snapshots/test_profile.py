"""The history by hour of the week (pure): the Wilson bound, quantiles of waits, the cells and the profile."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from availability.snapshots import HourStats, Profile, Snapshot, hours_of_week
from availability.snapshots.profile import Z, quantile, wilson_lower
from tests.availability.scenario import CHAT, Q_OPEN, at


def row(captured: datetime, status: str | None = "available", wait: int | None = 60) -> Snapshot:
    if status is None:
        return Snapshot.failed(CHAT, captured, "upstream_timeout", captured)
    return Snapshot(workstream_id=CHAT, captured_at=captured, retrieved_at=captured, queue_id=Q_OPEN, status=status,
                    within_operating_hours=status != "closed", representatives_available=status == "available",
                    available_representatives=2 if status == "available" else 0, position_in_queue=1,
                    average_wait_seconds=wait)


# ------------------------------------------------------------------------------------------- the bound


def test_wilson_lower_bound_against_its_formula():
    assert pytest.approx(1.2816, abs=1e-4) == Z  # 90 %, one-sided
    # Worked by hand: 8 weeks, always free.
    z2 = Z * Z
    expected = (1 + z2 / 16 - Z * math.sqrt(z2 / 256)) / (1 + z2 / 8)
    assert wilson_lower(1.0, 8) == pytest.approx(expected) == pytest.approx(0.8297, abs=1e-4)
    assert wilson_lower(0.9, 8) == pytest.approx(0.6906, abs=1e-4)
    assert wilson_lower(0.0, 8) == 0.0
    assert wilson_lower(0.5, 0) == 0.0  # no week seen: nothing is known


def test_the_bound_rises_with_the_weeks_and_the_share():
    by_weeks = [wilson_lower(0.9, n) for n in range(1, 20)]
    assert by_weeks == sorted(by_weeks) and by_weeks[0] < 0.5 < by_weeks[-1] < 0.9
    by_share = [wilson_lower(share / 10, 8) for share in range(11)]
    assert by_share == sorted(by_share)
    assert all(wilson_lower(share / 10, 8) <= share / 10 for share in range(11))


def test_nearest_rank_quantiles():
    waits = Counter({30: 5, 60: 4, 600: 1})
    assert (quantile(waits, 0.5), quantile(waits, 0.9), quantile(waits, 1.0)) == (30, 60, 600)
    assert quantile(Counter({45: 1}), 0.9) == 45
    assert quantile(Counter(), 0.5) is None


# ------------------------------------------------------------------------------------------- the cells


def test_a_cell_counts_statuses_weeks_and_waits_while_open():
    cell = HourStats(0, 9)
    monday = at("2026-11-23T09:00:00Z").date()
    for week in range(3):
        day = monday + timedelta(days=7 * week)
        cell.add("available", 60, day)
        cell.add("available", 120, day)
        cell.add("busy", 600, day)
    cell.add("closed", 999, monday)  # a closed snapshot's wait says nothing of a wait
    cell.add(None, None, monday + timedelta(days=28))  # a failed check: in no share, and no week
    assert (cell.available, cell.busy, cell.closed, cell.failed, cell.samples) == (6, 3, 1, 1, 10)
    assert cell.weeks == 3
    assert cell.share == 0.6 and cell.open_share == 0.9 and cell.operating
    assert cell.share_low == pytest.approx(wilson_lower(0.6, 3))
    assert (cell.wait_median, cell.wait_p90, cell.wait_spread) == (120, 600, 480)


def test_an_hour_is_operating_when_open_in_at_least_half_its_snapshots():
    cell = HourStats(0, 8)
    assert not cell.operating and cell.share is None and cell.share_low == 0 and cell.wait_spread is None
    cell.add("closed")
    cell.add("busy")
    assert cell.operating
    cell.add("closed")
    assert not cell.operating


def test_hours_of_week_place_each_snapshot_in_its_local_hour_and_week():
    paris = ZoneInfo("Europe/Paris")
    # Monday 08:30 UTC is 09:30 in Paris in winter; the same instant a week and two weeks later.
    rows = [row(at("2026-11-23T08:30:00Z") + timedelta(days=7 * week)) for week in range(3)]
    rows.append(row(at("2026-11-23T08:35:00Z"), "busy"))
    cells = hours_of_week(rows, paris)
    monday_9 = cells[9]
    assert (monday_9.weekday, monday_9.hour, monday_9.samples, monday_9.weeks) == (0, 9, 4, 3)
    assert hours_of_week(rows, UTC)[8].samples == 4


def test_weeks_across_a_daylight_saving_change_stay_in_their_local_hour():
    paris = ZoneInfo("Europe/Paris")
    # Paris moves its clocks on Sunday 25 October 2026: 09:30 local is 07:30 UTC before, 08:30 UTC after.
    rows = [row(at("2026-10-19T07:30:00Z")), row(at("2026-10-26T08:30:00Z"))]
    cells = hours_of_week(rows, paris)
    assert cells[9].weeks == 2 and cells[9].samples == 2
    in_utc = hours_of_week(rows, UTC)
    assert in_utc[7].weeks == 1 and in_utc[8].weeks == 1  # on UTC's week, the same local hour splits in two


# ------------------------------------------------------------------------------------------ the profile


def test_a_profile_of_rows():
    start, end = at("2026-11-02T00:00:00Z"), at("2026-11-30T00:00:00Z")
    rows = [row(at("2026-11-23T09:10:00Z") - timedelta(days=7 * week), "available" if week else "busy")
            for week in range(4)]
    rows.append(row(at("2026-11-29T23:55:00Z"), None))  # failed: counted, not an answer
    profile = Profile.from_rows(CHAT, rows, zone_name="UTC", zone=UTC, start=start, end=end)
    assert profile.weeks == 4 and profile.snapshots == 4
    assert (profile.first, profile.last) == (at("2026-11-02T09:10:00Z"), at("2026-11-23T09:10:00Z"))
    nine = profile.hour(at("2026-11-30T09:59:59Z"))  # a Monday: the same hour of the week
    assert nine is profile.cells[9] and nine.share == 0.75 and nine.failed == 0
    assert profile.cells[6 * 24 + 23].failed == 1
    empty = Profile.from_rows(CHAT, [], zone_name="UTC", zone=UTC, start=start, end=end)
    assert (empty.weeks, empty.snapshots, empty.first, empty.last) == (0, 0, None, None)
