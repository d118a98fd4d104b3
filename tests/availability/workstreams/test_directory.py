"""The org's workstreams: channel names from the org's codes, the list read from its records, and the directory
that asks the org once per freshness window (one query however many callers), serves the last list as stale while
the org fails and raises what no older list can answer for."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from availability.errors import InvalidRequest, UpstreamAuthFailed, UpstreamThrottled, UpstreamUnavailable
from availability.http.params import parse_workstreams_query
from availability.workstreams import CHANNEL_NAMES, CHANNELS, WorkstreamDirectory, channel_of, from_records

CHAT_ID = "7a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b01"
VOICE_ID = "7a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b02"
SMS_ID = "7a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b03"
RECORDS = [
    {"msdyn_liveworkstreamid": CHAT_ID.upper(), "msdyn_name": "Website chat", "msdyn_streamsource": 192360000},
    {"msdyn_liveworkstreamid": VOICE_ID, "msdyn_name": "Phone support", "msdyn_streamsource": 192440000},
    {"msdyn_liveworkstreamid": SMS_ID, "msdyn_name": "text messages", "msdyn_streamsource": 192340000},
    {"msdyn_liveworkstreamid": "not-a-guid", "msdyn_name": "Broken", "msdyn_streamsource": 192360000},
    {"msdyn_liveworkstreamid": CHAT_ID, "msdyn_name": "Website chat again", "msdyn_streamsource": 192360000},
]


def test_channels_are_named_from_the_orgs_codes():
    assert channel_of(192360000) == "chat"  # Live chat
    assert channel_of(192440000) == channel_of(192370000) == "voice"  # Voice call, and the older Voice
    assert channel_of(192340000) == "sms"
    assert channel_of(192300000) == "whatsapp"
    assert channel_of(19241000) == "teams"
    assert channel_of(192350002) == "custom"
    assert channel_of(123) == channel_of(None) == "other"
    codes = [code for _, codes in CHANNELS.values() for code in codes]
    assert len(codes) == len(set(codes))  # one channel per code
    assert CHANNEL_NAMES[-1] == "other" and CHANNELS["other"][1] == ()
    for name, (display, _) in CHANNELS.items():
        assert name == name.lower() and display[-1].isalnum(), name


def test_the_list_is_read_from_the_records_sorted_by_name():
    workstreams = from_records([*RECORDS, {"msdyn_liveworkstreamid": "9a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b09",
                                           "msdyn_name": None, "msdyn_streamsource": "192360000"}])
    assert [(w.name, w.id, w.channel, w.channel_code) for w in workstreams] == [
        ("", "9a2b3c4d-5e6f-4a81-9b2c-3d4e5f6a7b09", "other", None),
        ("Phone support", VOICE_ID, "voice", 192440000),
        ("text messages", SMS_ID, "sms", 192340000),
        ("Website chat", CHAT_ID, "chat", 192360000),
    ]
    assert workstreams[1].to_json() == {"id": VOICE_ID, "name": "Phone support", "channel": "voice",
                                        "channelCode": 192440000}


class Org:
    """The org's query, counted; `failure` raised instead of answering while set; `delay` seconds per query."""

    def __init__(self, delay: float = 0.0) -> None:
        self.queries = 0
        self.failure: Exception | None = None
        self.delay = delay
        self.asked: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, **when):
        with self._lock:
            self.queries += 1
            self.asked.append(when)
        time.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        return RECORDS


def directory(org: Org, clock: list[float], ttl: float = 600, stale: float = 300) -> WorkstreamDirectory:
    return WorkstreamDirectory(org, ttl=ttl, stale_seconds=stale, wall=lambda: clock[0])


def test_the_org_is_asked_once_per_freshness_window():
    org, clock = Org(), [1000.0]
    names = directory(org, clock)
    first = names.listing(deadline=time.monotonic() + 5)
    assert first.source == "live" and first.workstreams[0].name == "Phone support"
    for _ in range(1000):
        assert names.listing().source == "cache"
    clock[0] += 599.9
    assert names.listing().source == "cache" and org.queries == 1
    clock[0] += 0.2
    assert names.listing().source == "live" and org.queries == 2
    assert set(org.asked[0]) == {"deadline", "queue_until"}


def test_callers_at_once_share_one_query():
    org, clock = Org(delay=0.3), [0.0]
    names = directory(org, clock)
    with ThreadPoolExecutor(20) as pool:
        found = list(pool.map(lambda _: names.listing(deadline=time.monotonic() + 5), range(40)))
    assert org.queries == 1
    assert {len(listing.workstreams) for listing in found} == {3}
    assert [listing.source for listing in found].count("live") == 1


def test_the_last_list_is_served_stale_while_the_org_fails_then_no_longer():
    org, clock = Org(), [0.0]
    names = directory(org, clock, ttl=600, stale=300)
    names.listing()
    org.failure = UpstreamUnavailable()
    clock[0] = 601.0
    assert names.listing().source == "stale" and org.queries == 2
    clock[0] = 620.0  # not asked again for 30 s after a failure
    assert names.listing().source == "stale" and org.queries == 2
    clock[0] = 640.0
    assert names.listing().source == "stale" and org.queries == 3
    org.failure = UpstreamThrottled(retry_after=120)
    clock[0] = 700.0
    assert names.listing().source == "stale" and org.queries == 4
    clock[0] = 800.0  # the org's Retry-After is longer than the usual pause: kept to
    assert names.listing().source == "stale" and org.queries == 4
    clock[0] = 900.0  # past freshness + AVAILABILITY_STALE_SECONDS: too old to stand in
    with pytest.raises(UpstreamThrottled):
        names.listing()
    org.failure = None
    assert names.listing().source == "live"


def test_errors_no_older_list_can_answer_for_are_raised():
    org, clock = Org(), [0.0]
    names = directory(org, clock)
    org.failure = UpstreamUnavailable()
    with pytest.raises(UpstreamUnavailable):  # nothing to fall back on yet
        names.listing()
    org.failure = None
    names.listing()
    org.failure, clock[0] = UpstreamAuthFailed(), 601.0
    with pytest.raises(UpstreamAuthFailed):  # our own credentials refused: an administrator must act
        names.listing()


def test_a_caller_waits_for_a_query_under_way_only_until_its_deadline():
    org, clock = Org(delay=1.0), [0.0]
    names = directory(org, clock)
    leader = threading.Thread(target=names.listing)
    leader.start()
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        names.listing(deadline=time.monotonic() + 0.2)
    assert time.monotonic() - started < 0.6 and getattr(raised.value, "code", "") == "upstream_timeout"
    leader.join()
    assert names.listing().source == "cache" and org.queries == 1


def test_the_answer_lists_one_channel_when_asked():
    names = directory(Org(), [0.0])
    listing = names.listing()
    assert [w["name"] for w in listing.to_json()["workstreams"]] == ["Phone support", "text messages",
                                                                     "Website chat"]
    assert listing.to_json("sms") == {"workstreams": [{"id": SMS_ID, "name": "text messages", "channel": "sms",
                                                       "channelCode": 192340000}], "source": "live"}
    assert listing.to_json("facebook")["workstreams"] == []


@pytest.mark.parametrize(("params", "target"), [({"channel": "fax"}, "channel"), ({"channel": "Chat"}, "channel"),
                                                ({"channel": ""}, "channel"), ({"chanel": "chat"}, "chanel")])
def test_the_channel_parameter_is_one_of_the_names(params, target):
    with pytest.raises(InvalidRequest) as raised:
        parse_workstreams_query(params)
    assert raised.value.target == target


def test_the_channel_parameter_may_be_left_out():
    assert parse_workstreams_query({}) is None
    assert parse_workstreams_query({"channel": "voice", "code": "key"}) == "voice"
