"""The suggestions (pure): which hours make a window, how windows merge and split, how sure each is, and the
explicit answer when the history is too short."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from availability.besttimes.answer import outlook_json
from availability.besttimes.windows import confidence, first_hour, suggest
from availability.snapshots import Profile, Snapshot
from availability.snapshots.profile import wilson_lower
from tests.availability.scenario import CHAT, Q_OPEN, at

MONDAY = at("2026-11-23T00:00:00Z")  # a Monday


def history(end: datetime, weeks: float, status_at: Callable[[datetime], str | None], *,
            every: timedelta = timedelta(minutes=15), wait: Callable[[datetime], int] = lambda t: 60,
            zone_name: str = "UTC") -> Profile:
    """The profile of `weeks` of snapshots before `end`, one every `every`, each with the status `status_at` says."""
    rows = []
    moment = end - timedelta(weeks=weeks)
    while moment < end:
        status = status_at(moment)
        if status is None:
            rows.append(Snapshot.failed(CHAT, moment, "upstream_timeout", moment))
        else:
            rows.append(Snapshot(workstream_id=CHAT, captured_at=moment, queue_id=Q_OPEN, status=status,
                                 within_operating_hours=status != "closed",
                                 representatives_available=status == "available",
                                 average_wait_seconds=wait(moment)))
        moment += every
    zone = ZoneInfo(zone_name) if zone_name != "UTC" else UTC
    return Profile.from_rows(CHAT, rows, zone_name=zone_name, zone=zone, start=end - timedelta(weeks=weeks), end=end)


def office(moment: datetime, zone=UTC) -> str:
    """Weekdays 09:00-17:00 in `zone`: staffed but at lunch (12:00-13:00), closed otherwise."""
    wall = moment.astimezone(zone)
    if wall.weekday() >= 5 or not 9 <= wall.hour < 17:
        return "closed"
    return "busy" if wall.hour == 12 else "available"


def spans(outlook) -> list[tuple[str, str]]:
    return [(w.start.strftime("%a %H:%M"), w.end.strftime("%a %H:%M")) for w in outlook.windows]


# ----------------------------------------------------------------------------------------------- windows


def test_windows_are_the_coming_staffed_hours_earliest_first():
    profile = history(MONDAY, 4, office)
    outlook = suggest(profile, MONDAY + timedelta(hours=8, minutes=30), count=3)
    assert spans(outlook) == [("Mon 09:00", "Mon 12:00"), ("Mon 13:00", "Mon 17:00"), ("Tue 09:00", "Tue 12:00")]
    first = outlook.windows[0]
    assert first.available_share == 1.0 and first.weeks == 4
    assert first.share_low == pytest.approx(wilson_lower(1.0, 4))
    assert (first.wait_median, first.wait_p90) == (60, 60)
    assert outlook.enough_history and outlook.reason is None


def test_the_hour_under_way_is_left_out():
    profile = history(MONDAY, 4, office)
    assert first_hour(MONDAY + timedelta(hours=9, minutes=30), UTC) == MONDAY + timedelta(hours=10)
    assert first_hour(MONDAY + timedelta(hours=9), UTC) == MONDAY + timedelta(hours=10)
    outlook = suggest(profile, MONDAY + timedelta(hours=9, minutes=30), count=1)
    assert spans(outlook) == [("Mon 10:00", "Mon 12:00")]


def test_count_and_within_bound_the_answer():
    profile = history(MONDAY, 4, office)
    now = MONDAY + timedelta(hours=8)
    assert len(suggest(profile, now, count=10, within=timedelta(hours=72)).windows) == 6  # Mon, Tue, Wed
    assert spans(suggest(profile, now, count=10, within=timedelta(hours=2))) == [("Mon 09:00", "Mon 10:00")]
    assert suggest(profile, now, count=10, within=timedelta(minutes=30)).windows == ()
    # Friday afternoon: the weekend is closed, so the next suggestion is on Monday.
    friday = MONDAY + timedelta(days=4, hours=16, minutes=10)
    assert spans(suggest(profile, friday, count=1, within=timedelta(hours=72))) == [("Mon 09:00", "Mon 12:00")]


def test_min_share_is_what_every_hour_of_a_window_had():
    def patchy(moment: datetime) -> str:
        status = office(moment)
        if status == "available" and moment.hour == 10 and moment.minute == 0:
            return "busy"  # 10:00-11:00: free in three snapshots of four
        return status

    profile = history(MONDAY, 4, patchy)
    now = MONDAY + timedelta(hours=8)
    assert spans(suggest(profile, now, count=2)) == [("Mon 09:00", "Mon 10:00"), ("Mon 11:00", "Mon 12:00")]
    merged = suggest(profile, now, count=1, min_share=0.75).windows[0]
    assert (merged.start, merged.end) == (MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=12))
    assert merged.available_share == pytest.approx(11 / 12)  # weighted by snapshots
    assert merged.share_low == pytest.approx(wilson_lower(0.75, 4))  # its worst hour's bound


def test_closed_hours_are_never_suggested_even_with_no_bar_at_all():
    profile = history(MONDAY, 4, office)
    windows = suggest(profile, MONDAY, count=10, within=timedelta(hours=48), min_share=0).windows
    assert windows and all(w.start.hour >= 9 and w.end.hour <= 17 for w in windows)


def test_windows_are_cut_at_midnight_of_the_zone_they_are_worded_in():
    profile = history(MONDAY, 3, lambda moment: "available")
    now = MONDAY + timedelta(hours=10, minutes=5)
    in_utc = suggest(profile, now, count=2)
    assert spans(in_utc) == [("Mon 11:00", "Tue 00:00"), ("Tue 00:00", "Wed 00:00")]
    tokyo = suggest(profile, now, count=2, day_zone=ZoneInfo("Asia/Tokyo"))  # UTC+9: midnight is 15:00 UTC
    assert spans(tokyo) == [("Mon 11:00", "Mon 15:00"), ("Mon 15:00", "Tue 15:00")]


def test_hours_of_the_week_follow_the_profile_zone_across_daylight_saving():
    paris = ZoneInfo("Europe/Paris")
    # History in October (summer time), asked in November (winter time): 09:00 in Paris moved from 07:00 to 08:00 UTC.
    end = at("2026-10-24T00:00:00Z")
    profile = history(end, 3, lambda moment: office(moment, paris), zone_name="Europe/Paris")
    monday = at("2026-11-02T06:00:00Z")
    windows = suggest(profile, monday, count=1, day_zone=paris).windows
    assert (windows[0].start, windows[0].end) == (at("2026-11-02T08:00:00Z"), at("2026-11-02T11:00:00Z"))


def test_waits_of_a_window_merge_its_hours():
    def wait(moment: datetime) -> int:
        return 30 if moment.hour == 9 else 300

    profile = history(MONDAY, 4, office, wait=wait)
    window = suggest(profile, MONDAY + timedelta(hours=8), count=1).windows[0]
    assert (window.wait_median, window.wait_p90) == (300, 300)  # 16 of 48 at 30 s, the rest at 300 s
    hour = profile.hour(MONDAY + timedelta(hours=9, minutes=40))
    assert (hour.wait_median, hour.wait_p90, hour.wait_spread) == (30, 30, 0)


# ---------------------------------------------------------------------------------------- how sure

@pytest.mark.parametrize(("share_low", "weeks", "expected"), [
    (0.83, 8, "high"), (0.75, 4, "high"), (0.74, 8, "medium"), (0.9, 3, "medium"), (0.5, 3, "medium"),
    (0.49, 8, "low"), (0.6, 2, "low"), (0.0, 0, "low"),
])
def test_confidence_follows_the_bound_and_the_weeks(share_low, weeks, expected):
    assert confidence(share_low, weeks) == expected


def test_confidence_grows_with_the_weeks_of_a_perfect_history():
    said = []
    for weeks in (2, 3, 6, 8):
        profile = history(MONDAY, weeks, office)
        said.append(suggest(profile, MONDAY + timedelta(hours=8), count=1).windows[0].confidence)
    assert said == ["low", "medium", "high", "high"]


# ------------------------------------------------------------------------------ too little history


def test_one_week_of_history_says_so_and_suggests_nothing():
    profile = history(MONDAY, 1, office)
    outlook = suggest(profile, MONDAY + timedelta(hours=8), count=3, within=timedelta(hours=336))
    assert outlook.windows == () and not outlook.enough_history
    assert outlook.reason == "not_enough_history"
    body = outlook_json(outlook, MONDAY + timedelta(hours=8), None, "en")
    assert body["suggestions"] == [] and body["reason"] == "not_enough_history"
    assert body["basis"] == {"weeks": 1, "snapshots": 672, "from": "2026-11-16T00:00:00Z",
                             "to": "2026-11-22T23:45:00Z", "minWeeks": 2, "enough": False, "timeZone": "UTC"}
    assert body["message"] == "There is not enough history yet to suggest a good time to reach us."


def test_one_week_is_not_enough_even_for_the_hour_it_began_and_ended_in():
    # Snapshots every 30 minutes for a week up to 10:07 on a Monday: the 10:00 hour was seen last week (its 10:30
    # snapshot, standing for the half hour before too) and today (at 10:00, the hour still under way), so one week;
    # two weeks ahead reaches that hour of the week again.
    now = MONDAY + timedelta(hours=10, minutes=7)
    rows = [Snapshot(workstream_id=CHAT, captured_at=now - timedelta(minutes=7 + 30 * i), queue_id=Q_OPEN,
                     status="available", within_operating_hours=True, representatives_available=True)
            for i in range(7 * 48)]
    profile = Profile.from_rows(CHAT, rows, zone_name="UTC", zone=UTC, start=now - timedelta(weeks=8), end=now)
    assert profile.hour(now).samples == 2 and profile.hour(now).weeks == 1
    assert profile.hour(now + timedelta(hours=1)).weeks == 1
    outlook = suggest(profile, now, count=3, within=timedelta(hours=336))
    assert outlook.reason == "not_enough_history" and outlook.weeks == 1


def test_no_history_at_all_is_the_same_explicit_answer():
    profile = history(MONDAY, 0, office)
    body = outlook_json(suggest(profile, MONDAY), MONDAY, None, "fr")
    assert body["basis"]["weeks"] == 0 and body["basis"]["from"] is None and body["suggestions"] == []
    assert body["reason"] == "not_enough_history" and body["message"].startswith("L'historique est encore")


def test_hours_seen_once_are_left_out_when_others_have_history_enough():
    # Ten days of history: the hours of the last three days were seen twice, the others once.
    profile = history(MONDAY, 10 / 7, office)
    windows = suggest(profile, MONDAY + timedelta(hours=8), count=10, within=timedelta(hours=168)).windows
    assert windows and {w.start.strftime("%a") for w in windows} <= {"Fri", "Sat", "Sun"}
    assert all(w.weeks == 2 for w in windows)


def test_history_enough_but_never_staffed_says_that_instead():
    profile = history(MONDAY, 4, lambda moment: "busy" if office(moment) != "closed" else "closed")
    outlook = suggest(profile, MONDAY, count=3)
    assert outlook.windows == () and outlook.enough_history and outlook.reason == "no_good_time"
    assert outlook_json(outlook, MONDAY, None, "de")["message"].startswith("In keiner der kommenden Stunden")


def test_failed_checks_are_no_history():
    profile = history(MONDAY, 4, lambda moment: None)
    outlook = suggest(profile, MONDAY, count=3)
    assert outlook.reason == "not_enough_history" and profile.snapshots == 0


# --------------------------------------------------------------------------------------- the answer


def test_the_answer_of_a_window():
    profile = history(MONDAY, 8, office, wait=lambda moment: 45 + moment.minute)
    now = MONDAY + timedelta(hours=8, minutes=30)
    body = outlook_json(suggest(profile, now, count=1), now, "Europe/Paris", "en")
    assert body["workstreamId"] == CHAT and body["reason"] is None and body["language"] == "en"
    assert body["basis"]["weeks"] == 8 and body["basis"]["enough"] is True
    assert body["suggestions"] == [{
        "start": "2026-11-23T09:00:00Z", "end": "2026-11-23T12:00:00Z", "availableShare": 1.0,
        "shareLow": round(wilson_lower(1.0, 8), 3), "weeks": 8, "waitSeconds": {"median": 60, "p90": 90},
        "confidence": "high",
        "message": "A good time to reach us is today between 10:00\u202fAM and 1:00\u202fPM.",
    }]
    assert body["message"] == body["suggestions"][0]["message"]
