"""Request parsing and encoding, upstream parsing, and the answer's JSON and message."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from availability.answer import availability_message, format_time
from availability.checks import (
    BeforeConversationCheck,
    ContextItem,
    ForConversationCheck,
    parse_batch,
    parse_before_conversation,
    parse_for_conversation,
)
from availability.dataverse.wire import action_of, parse_availability, request_body
from availability.errors import InvalidRequest, UpstreamUnavailable

WS = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
CONV = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"
QUEUE = "85e55877-f27a-e911-a81a-000d3a1ca610"
# Tuesday 24 November 2026, 10:00 UTC (11:00 in Paris, CET).
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
RETRIEVED = datetime(2026, 11, 24, 9, 59, 58, 500_000, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def invalid(parse, body, **kwargs):
    with pytest.raises(InvalidRequest) as caught:
        parse(body, **kwargs)
    return caught.value


# ------------------------------------------------------------------------------------------ upstream payloads

OPEN = {
    "@odata.context": "https://contoso.crm.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.X",
    "QueueId": QUEUE,
    "IsQueueAvailable": True,
    "IsAgentAvailable": True,
    "NumberOfExpertsAvailableInQueue": 5,
    "PositionInQueue": 1,
    "AverageWaitTime": None,
    "AverageWaitTimeInSeconds": 45,
    "StartTimeOfNextOperatingHour": "0001-01-01T00:00:00Z",
    "EndTimeOfNextOperatingHour": "0001-01-01T00:00:00Z",
    "NextTransitionTime": "2026-11-24T17:00:00Z",
}
BUSY = {
    **OPEN,
    "IsAgentAvailable": False,
    "NumberOfExpertsAvailableInQueue": 0,
    "PositionInQueue": 4,
    "AverageWaitTimeInSeconds": 290,
}
CLOSED = {
    "QueueId": QUEUE,
    "IsQueueAvailable": False,
    "IsAgentAvailable": False,
    "NumberOfExpertsAvailableInQueue": 0,
    "PositionInQueue": 3,
    "AverageWaitTime": None,
    "AverageWaitTimeInSeconds": 90,
    "StartTimeOfNextOperatingHour": "2026-11-25T07:00:00Z",
    "EndTimeOfNextOperatingHour": "2026-11-25T17:00:00Z",
    "NextTransitionTime": "2026-11-25T07:00:00Z",
}
ALWAYS_OPEN = {**OPEN, "NextTransitionTime": "9999-12-31T23:59:59Z"}


def camel(payload):
    return {k if k.startswith("@") else k[0].lower() + k[1:]: v for k, v in payload.items()}


@pytest.fixture(params=["PascalCase", "camelCase"])
def case(request):
    return (lambda p: p) if request.param == "PascalCase" else camel


def test_open_available_every_field(case):
    answer = parse_availability(case(OPEN), RETRIEVED)
    assert answer.to_json(NOW) == {
        "queueId": QUEUE,
        "status": "available",
        "canEscalate": True,
        "withinOperatingHours": True,
        "representativesAvailable": True,
        "availableRepresentatives": 5,
        "positionInQueue": 1,
        "averageWaitSeconds": 45,
        "nextTransitionTime": "2026-11-24T17:00:00Z",
        "nextOpeningTime": None,
        "nextClosingTime": None,
        "message": "A representative is available now; the estimated wait is less than a minute.",
        "retrievedAt": "2026-11-24T09:59:58.500Z",
        "source": "live",
        "ageSeconds": 1.5,
        "language": "en",
    }


def test_open_busy_every_field(case):
    answer = parse_availability(case(BUSY), RETRIEVED)
    assert answer.to_json(NOW) == {
        "queueId": QUEUE,
        "status": "busy",
        "canEscalate": False,
        "withinOperatingHours": True,
        "representativesAvailable": False,
        "availableRepresentatives": 0,
        "positionInQueue": 4,
        "averageWaitSeconds": 290,
        "nextTransitionTime": "2026-11-24T17:00:00Z",
        "nextOpeningTime": None,
        "nextClosingTime": None,
        "message": "The queue is open but no representative is free right now; the estimated wait is about 5 minutes.",
        "retrievedAt": "2026-11-24T09:59:58.500Z",
        "source": "live",
        "ageSeconds": 1.5,
        "language": "en",
    }


def test_closed_every_field(case):
    answer = parse_availability(case(CLOSED), RETRIEVED)
    assert answer.to_json(NOW) == {
        "queueId": QUEUE,
        "status": "closed",
        "canEscalate": False,
        "withinOperatingHours": False,
        "representativesAvailable": False,
        "availableRepresentatives": 0,
        "positionInQueue": 3,
        "averageWaitSeconds": 90,
        "nextTransitionTime": "2026-11-25T07:00:00Z",
        "nextOpeningTime": "2026-11-25T07:00:00Z",
        "nextClosingTime": "2026-11-25T17:00:00Z",
        "message": "The queue is closed; it opens again tomorrow at 7:00\u202fAM UTC.",
        "retrievedAt": "2026-11-24T09:59:58.500Z",
        "source": "live",
        "ageSeconds": 1.5,
        "language": "en",
    }


def test_open_around_the_clock_has_no_transition(case):
    answer = parse_availability(case(ALWAYS_OPEN), RETRIEVED)
    body = answer.to_json(NOW)
    assert body["nextTransitionTime"] is None
    assert body["nextOpeningTime"] is None and body["nextClosingTime"] is None
    assert body["status"] == "available"
    assert answer.next_transition_time is None


def test_closed_but_agents_flagged_available_is_still_closed():
    # Older docs: IsAgentAvailable may be true when an AI agent is linked; outside hours nobody can escalate.
    answer = parse_availability({**CLOSED, "IsAgentAvailable": True}, RETRIEVED)
    assert answer.status == "closed" and answer.can_escalate is False
    assert answer.representatives_available is True


def test_odata_annotations_are_ignored():
    payload = {**OPEN, "@odata.context": 12, "QueueId@odata.type": "#Guid"}
    assert parse_availability(payload, RETRIEVED).queue_id == QUEUE


def test_names_in_any_case():
    payload = {k.upper(): v for k, v in OPEN.items() if not k.startswith("@")}
    assert parse_availability(payload, RETRIEVED) == parse_availability(OPEN, RETRIEVED)


def test_queue_id_is_lowercased():
    assert parse_availability({**OPEN, "QueueId": QUEUE.upper()}, RETRIEVED).queue_id == QUEUE


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00.0000000Z",
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.9999999Z",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T00:00:00Z",
        None,
    ],
)
def test_sentinels_and_null_become_none(value):
    payload = {**CLOSED, "NextTransitionTime": value, "StartTimeOfNextOperatingHour": value}
    answer = parse_availability(payload, RETRIEVED)
    assert answer.next_transition_time is None and answer.next_opening_time is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-25T07:00:00Z", "2026-11-25T07:00:00Z"),
        ("2026-11-25T07:00:00.1234567Z", "2026-11-25T07:00:00Z"),
        ("2026-11-25T08:00:00+01:00", "2026-11-25T07:00:00Z"),
        ("2026-11-25T07:00:00", "2026-11-25T07:00:00Z"),
        ("2026-11-25T07:00:00.000+00:00", "2026-11-25T07:00:00Z"),
    ],
)
def test_upstream_times_normalized_to_utc_seconds(value, expected):
    answer = parse_availability({**CLOSED, "EndTimeOfNextOperatingHour": value}, RETRIEVED)
    assert answer.to_json(NOW)["nextClosingTime"] == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"AverageWaitTimeInSeconds": 45, "AverageWaitTime": 3}, 45),  # seconds win
        ({"AverageWaitTimeInSeconds": None, "AverageWaitTime": 3}, 180),
        ({"AverageWaitTimeInSeconds": None, "AverageWaitTime": 1.5}, 90),
        ({"AverageWaitTime": 2}, 120),
        ({"AverageWaitTimeInSeconds": 0, "AverageWaitTime": 3}, 0),  # zero is a value, not "missing"
        ({"AverageWaitTimeInSeconds": 44.6}, 45),
        ({"AverageWaitTimeInSeconds": None, "AverageWaitTime": None}, None),
        ({}, None),
    ],
)
def test_average_wait_conversions(fields, expected):
    base = {k: v for k, v in OPEN.items() if not k.startswith("AverageWait")}
    answer = parse_availability({**base, **fields}, RETRIEVED)
    assert answer.average_wait_seconds == expected
    assert isinstance(answer.to_json(NOW)["averageWaitSeconds"], (int, type(None)))


def test_absent_number_of_representatives_is_null():
    payload = {k: v for k, v in OPEN.items() if k != "NumberOfExpertsAvailableInQueue"}
    answer = parse_availability(payload, RETRIEVED)
    assert answer.available_representatives is None
    assert answer.to_json(NOW)["availableRepresentatives"] is None
    assert answer.status == "available"


def test_absent_optional_fields_are_null():
    minimal = {"QueueId": QUEUE, "IsQueueAvailable": True, "IsAgentAvailable": False}
    body = parse_availability(minimal, RETRIEVED).to_json(NOW)
    for field in ("availableRepresentatives", "positionInQueue", "averageWaitSeconds", "nextTransitionTime",
                  "nextOpeningTime", "nextClosingTime"):
        assert body[field] is None, field
    assert body["message"] == "The queue is open but no representative is free right now."


def test_integral_float_counts_are_accepted():
    assert parse_availability({**OPEN, "PositionInQueue": 2.0}, RETRIEVED).position_in_queue == 2


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "QueueId",
        {},
        {k: v for k, v in OPEN.items() if k != "QueueId"},
        {k: v for k, v in OPEN.items() if k != "IsQueueAvailable"},
        {k: v for k, v in OPEN.items() if k != "IsAgentAvailable"},
        {**OPEN, "QueueId": None},
        {**OPEN, "QueueId": 42},
        {**OPEN, "QueueId": "not-a-guid"},
        {**OPEN, "IsQueueAvailable": "true"},
        {**OPEN, "IsAgentAvailable": 1},
        {**OPEN, "IsAgentAvailable": None},
        {**OPEN, "NumberOfExpertsAvailableInQueue": "5"},
        {**OPEN, "NumberOfExpertsAvailableInQueue": True},
        {**OPEN, "PositionInQueue": 1.5},
        {**OPEN, "AverageWaitTimeInSeconds": "45"},
        {**OPEN, "AverageWaitTimeInSeconds": float("nan")},
        {**OPEN, "AverageWaitTimeInSeconds": float("inf")},
        {**OPEN, "AverageWaitTimeInSeconds": 10**400},
        {**OPEN, "PositionInQueue": 10**400},
        {**OPEN, "AverageWaitTime": [3]},
        {**OPEN, "NextTransitionTime": "tomorrow"},
        {**OPEN, "NextTransitionTime": 1764000000},
        {**OPEN, "StartTimeOfNextOperatingHour": {"value": "2026-11-25T07:00:00Z"}},
    ],
)
def test_malformed_payload_is_upstream_unavailable(payload):
    with pytest.raises(UpstreamUnavailable) as caught:
        parse_availability(payload, RETRIEVED)
    error = caught.value
    assert error.code == "upstream_unavailable" and error.status == 503
    assert error.target is None


def test_malformed_payload_is_never_echoed():
    secret = "tok-eyJhbGciOiJSUzI1NiJ9-secret"
    with pytest.raises(UpstreamUnavailable) as caught:
        parse_availability({**OPEN, "IsQueueAvailable": secret, "Note": secret}, RETRIEVED)
    assert secret not in caught.value.message
    assert secret not in json.dumps(caught.value.to_body())


def test_naive_retrieved_at_is_taken_as_utc():
    answer = parse_availability(OPEN, datetime(2026, 11, 24, 9, 0))
    assert answer.retrieved_at == utc(2026, 11, 24, 9, 0)
    assert answer.to_json(NOW)["retrievedAt"] == "2026-11-24T09:00:00Z"


# ----------------------------------------------------------------------------------- answer JSON

def test_source_and_age_follow_a_replaced_copy():
    live = parse_availability(OPEN, utc(2026, 11, 24, 9, 59, 50))
    cached = dataclasses.replace(live, source="cache")
    body = cached.to_json(NOW)
    assert body["source"] == "cache" and body["ageSeconds"] == 10.0
    assert live.source == "live"
    assert dataclasses.replace(live, source="stale").to_json(NOW)["source"] == "stale"


def test_answer_is_immutable_and_hashable():
    answer = parse_availability(OPEN, RETRIEVED)
    for name in ("source", "queue_id"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(answer, name, "cache")
    assert hash(answer) == hash(parse_availability(OPEN, RETRIEVED))


def test_age_is_never_negative_and_rounded_to_milliseconds():
    answer = parse_availability(OPEN, utc(2026, 11, 24, 10, 0, 1))
    assert answer.to_json(NOW)["ageSeconds"] == 0.0
    answer = parse_availability(OPEN, NOW - timedelta(microseconds=1_234_567))
    assert answer.to_json(NOW)["ageSeconds"] == 1.235


def test_field_names_are_exactly_the_contract():
    assert list(parse_availability(OPEN, RETRIEVED).to_json(NOW)) == [
        "queueId", "status", "canEscalate", "withinOperatingHours", "representativesAvailable",
        "availableRepresentatives", "positionInQueue", "averageWaitSeconds", "nextTransitionTime",
        "nextOpeningTime", "nextClosingTime", "message", "retrievedAt", "source", "ageSeconds", "language",
    ]


def test_answer_json_is_serializable():
    json.dumps(parse_availability(CLOSED, RETRIEVED).to_json(NOW, "Europe/Paris"))


@pytest.mark.parametrize(
    ("moment", "milliseconds", "expected"),
    [
        (utc(2026, 11, 24, 18, 0), False, "2026-11-24T18:00:00Z"),
        (utc(2026, 11, 24, 18, 0, 0, 999_999), False, "2026-11-24T18:00:00Z"),
        (utc(2026, 11, 24, 18, 0, 0, 120_000), True, "2026-11-24T18:00:00.120Z"),
        (utc(2026, 11, 24, 18, 0, 0, 500), True, "2026-11-24T18:00:00Z"),
        (datetime(2026, 11, 24, 19, 0, tzinfo=timezone(timedelta(hours=1))), False, "2026-11-24T18:00:00Z"),
        (None, False, None),
    ],
)
def test_format_time(moment, milliseconds, expected):
    assert format_time(moment, milliseconds) == expected


# ----------------------------------------------------------------------------------------- message

def answer(**changes):
    return dataclasses.replace(parse_availability(OPEN, RETRIEVED), **changes)


@pytest.mark.parametrize(
    ("seconds", "phrase"),
    [
        (None, "A representative is available now."),
        (0, "A representative is available now; the estimated wait is less than a minute."),
        (59, "A representative is available now; the estimated wait is less than a minute."),
        (60, "A representative is available now; the estimated wait is about 1 minute."),
        (61, "A representative is available now; the estimated wait is about 2 minutes."),
        (120, "A representative is available now; the estimated wait is about 2 minutes."),
        (7140, "A representative is available now; the estimated wait is about 119 minutes."),
        (3 * 3600, "A representative is available now; the estimated wait is about 3 hours."),
    ],
)
def test_available_message_wait_in_minutes_rounded_up(seconds, phrase):
    assert answer(average_wait_seconds=seconds).to_json(NOW)["message"] == phrase


def test_busy_message():
    busy = answer(representatives_available=False, average_wait_seconds=300)
    assert availability_message(busy, NOW) == (
        "The queue is open but no representative is free right now; the estimated wait is about 5 minutes."
    )
    assert availability_message(dataclasses.replace(busy, average_wait_seconds=None), NOW) == (
        "The queue is open but no representative is free right now."
    )


def closed_opening_at(moment):
    return answer(within_operating_hours=False, representatives_available=False,
                  next_opening_time=moment, next_transition_time=moment)


@pytest.mark.parametrize(
    ("opening", "time_zone", "expected"),
    [
        # Same UTC day, later today.
        (utc(2026, 11, 24, 13, 0), None, "today at 1:00\u202fPM UTC"),
        (utc(2026, 11, 25, 8, 0), None, "tomorrow at 8:00\u202fAM UTC"),
        (utc(2026, 11, 27, 8, 0), None, "on Friday at 8:00\u202fAM UTC"),
        (utc(2027, 1, 4, 8, 0), None, "on January 4, 2027 at 8:00\u202fAM UTC"),
        (utc(2026, 11, 24, 13, 0), "UTC", "today at 1:00\u202fPM UTC"),
        # Paris is UTC+1 in November: 07:00Z is 08:00 there; a zone asked for gets local times, unlabelled.
        (utc(2026, 11, 25, 7, 0), "Europe/Paris", "tomorrow at 8:00\u202fAM"),
        (utc(2026, 11, 24, 12, 0), "Europe/Paris", "today at 1:00\u202fPM"),
        # 23:30Z tonight is already tomorrow in Paris, so the local date decides.
        (utc(2026, 11, 24, 23, 30), "Europe/Paris", "tomorrow at 12:30\u202fAM"),
        (utc(2026, 11, 24, 23, 30), None, "today at 11:30\u202fPM UTC"),
        # Summer time: 06:00Z is 08:00 in Paris; a week or more ahead, the date (with the year when it differs).
        (utc(2027, 6, 1, 6, 0), "Europe/Paris", "on June 1, 2027 at 8:00\u202fAM"),
        (utc(2026, 11, 26, 14, 0), "America/New_York", "on Thursday at 9:00\u202fAM"),
        # Zones whose abbreviation is numeric ("+04") read the same as any other.
        (utc(2026, 11, 25, 4, 0), "Asia/Dubai", "tomorrow at 8:00\u202fAM"),
        # Tokyo (UTC+9) is already at 19:00 on the 24th; 23:00Z is 08:00 on the 25th there.
        (utc(2026, 11, 24, 23, 0), "Asia/Tokyo", "tomorrow at 8:00\u202fAM"),
    ],
)
def test_closed_message_words_the_next_opening(opening, time_zone, expected):
    message = closed_opening_at(opening).to_json(NOW, time_zone)["message"]
    assert message == f"The queue is closed; it opens again {expected}."


def test_closed_message_in_a_zone_keeps_fields_in_utc():
    body = parse_availability(CLOSED, RETRIEVED).to_json(NOW, "Europe/Paris")
    assert body["nextOpeningTime"] == "2026-11-25T07:00:00Z"
    assert body["message"] == "The queue is closed; it opens again tomorrow at 8:00\u202fAM."


def test_today_is_relative_to_now_in_the_zone():
    # At 23:30Z on the 24th it is already the 25th in Paris: an 08:00 opening there on the 25th is "today".
    late = utc(2026, 11, 24, 23, 30)
    closed = closed_opening_at(utc(2026, 11, 25, 7, 0))
    assert availability_message(closed, late, "Europe/Paris").endswith("today at 8:00\u202fAM.")
    assert availability_message(closed, late).endswith("tomorrow at 7:00\u202fAM UTC.")


def test_closed_without_known_opening():
    closed = answer(within_operating_hours=False, next_opening_time=None, next_transition_time=None)
    assert closed.to_json(NOW)["message"] == "The queue is closed right now."


def test_closed_falls_back_to_next_transition_when_window_missing():
    closed = answer(within_operating_hours=False, next_opening_time=None,
                    next_transition_time=utc(2026, 11, 25, 8, 0))
    assert closed.to_json(NOW)["message"] == "The queue is closed; it opens again tomorrow at 8:00\u202fAM UTC."


def test_cached_answer_is_reworded_per_time_zone():
    cached = dataclasses.replace(parse_availability(CLOSED, RETRIEVED), source="cache")
    assert cached.to_json(NOW)["message"] != cached.to_json(NOW, "Asia/Tokyo")["message"]
    assert cached.to_json(NOW, "Asia/Tokyo")["message"].endswith("at 4:00\u202fPM.")


def test_message_is_deterministic_given_now():
    closed = parse_availability(CLOSED, RETRIEVED)
    assert closed.message(NOW, "Europe/Paris") == closed.message(NOW, "Europe/Paris")
    assert closed.message(NOW + timedelta(days=1), "Europe/Paris").endswith("today at 8:00\u202fAM.")


def test_unknown_zone_at_render_time_falls_back_to_utc():
    closed = parse_availability(CLOSED, RETRIEVED)
    assert closed.message(NOW, "Not/AZone") == closed.message(NOW)


# -------------------------------------------------------------------------------- request parsing

def test_before_conversation_minimal():
    check = parse_before_conversation({"workstreamId": WS})
    assert check == BeforeConversationCheck(workstream_id=WS, context_items=(), engagement_context=(), time_zone=None)


def test_before_conversation_full():
    check = parse_before_conversation({
        "workstreamId": WS.upper(),
        "contextItems": {"Language": "fr", "Tier": 2,
                         "Segment": {"value": "gold", "type": "text", "isDisplayable": False}},
        "engagementContext": {"msdyn_browser": "Edge"},
        "timeZone": "Europe/Paris",
    })
    assert check.workstream_id == WS  # normalized to lowercase
    assert check.context_items == (
        ContextItem("Language", "fr", "text", True),
        ContextItem("Tier", 2, "integer", True),
        ContextItem("Segment", "gold", "text", False),
    )
    assert check.engagement_context == (("msdyn_browser", "Edge"),)
    assert check.time_zone == "Europe/Paris"


def test_for_conversation_full():
    check = parse_for_conversation({"conversationId": CONV.upper(), "contextItems": {"Tier": 3},
                                    "timeZone": "America/New_York"})
    assert check == ForConversationCheck(CONV, (ContextItem("Tier", 3, "integer", True),), "America/New_York")


def test_optional_fields_may_be_null():
    # Low-code tools send null for optional fields left empty.
    check = parse_before_conversation({"workstreamId": WS, "contextItems": None, "engagementContext": None,
                                       "timeZone": None})
    assert check == BeforeConversationCheck(WS)


@pytest.mark.parametrize(
    ("long_form", "expected"),
    [
        ({"value": "fr"}, ContextItem("X", "fr", "text", True)),
        ({"value": 7}, ContextItem("X", 7, "integer", True)),
        ({"value": "fr", "type": "text"}, ContextItem("X", "fr", "text", True)),
        ({"value": 7, "type": "integer", "isDisplayable": False}, ContextItem("X", 7, "integer", False)),
        ({"value": 7, "type": "Integer"}, ContextItem("X", 7, "integer", True)),
        ({"value": "", "type": "text"}, ContextItem("X", "", "text", True)),
        ({"value": -(2**31)}, ContextItem("X", -(2**31), "integer", True)),
    ],
)
def test_long_form_context_items(long_form, expected):
    assert parse_before_conversation({"workstreamId": WS, "contextItems": {"X": long_form}}).context_items == (
        expected,
    )


def test_an_integer_written_with_a_fraction_of_zero_is_that_integer():
    # JSON Schema, and so the published document, counts 2.0 as the integer 2; the API reads it the same way.
    check = parse_before_conversation({"workstreamId": WS, "contextItems": {"Tier": 2.0, "Big": 1e3,
                                                                           "Long": {"value": 3.0}}})
    assert check.context_items == (ContextItem("Tier", 2, "integer"), ContextItem("Big", 1000, "integer"),
                                   ContextItem("Long", 3, "integer"))
    assert all(type(item.value) is int for item in check.context_items)


def test_short_and_long_forms_give_the_same_item():
    short = parse_before_conversation({"workstreamId": WS, "contextItems": {"Tier": 2, "Language": "fr"}})
    long = parse_before_conversation({"workstreamId": WS, "contextItems": {
        "Tier": {"value": 2, "type": "integer", "isDisplayable": True},
        "Language": {"value": "fr", "type": "text", "isDisplayable": True}}})
    assert short == long


def limits_body(n):
    return {f"item{i}": "v" for i in range(n)}


def test_limits_at_the_edge_are_accepted():
    body = {"workstreamId": WS, "contextItems": {**limits_body(49), "n" * 100: "v" * 1000},
            "engagementContext": limits_body(50)}
    check = parse_before_conversation(body)
    assert len(check.context_items) == 50 and len(check.engagement_context) == 50
    assert isinstance(parse_before_conversation({"workstreamId": WS, "contextItems": {"Big": 2**31 - 1}}),
                      BeforeConversationCheck)


@pytest.mark.parametrize(
    ("body", "target"),
    [
        # Identity.
        ({}, "workstreamId"),
        ({"workstreamId": None}, "workstreamId"),
        ({"workstreamId": ""}, "workstreamId"),
        ({"workstreamId": "not-a-guid"}, "workstreamId"),
        ({"workstreamId": 42}, "workstreamId"),
        ({"workstreamId": WS.replace("-", "")}, "workstreamId"),
        ({"workstreamId": "{" + WS + "}"}, "workstreamId"),
        ({"workstreamId": WS + "\n"}, "workstreamId"),
        # Unknown fields, typos included.
        ({"workstreamID": WS}, "workstreamID"),
        ({"workstreamId": WS, "conversationId": CONV}, "conversationId"),
        ({"workstreamId": WS, "extra": 1}, "extra"),
        # contextItems.
        ({"workstreamId": WS, "contextItems": []}, "contextItems"),
        ({"workstreamId": WS, "contextItems": "Tier=2"}, "contextItems"),
        ({"workstreamId": WS, "contextItems": limits_body(51)}, "contextItems"),
        ({"workstreamId": WS, "contextItems": {"": "x"}}, "contextItems"),
        ({"workstreamId": WS, "contextItems": {"  ": "x"}}, "contextItems"),
        ({"workstreamId": WS, "contextItems": {"n" * 101: "x"}}, "contextItems"),
        ({"workstreamId": WS, "contextItems": {"Tier": 2.5}}, "contextItems.Tier"),
        ({"workstreamId": WS, "contextItems": {"Tier": True}}, "contextItems.Tier"),
        ({"workstreamId": WS, "contextItems": {"Tier": None}}, "contextItems.Tier"),
        ({"workstreamId": WS, "contextItems": {"Tier": [2]}}, "contextItems.Tier"),
        ({"workstreamId": WS, "contextItems": {"Tier": 2**31}}, "contextItems.Tier"),
        ({"workstreamId": WS, "contextItems": {"Tier": -(2**31) - 1}}, "contextItems.Tier"),
        ({"workstreamId": WS, "contextItems": {"Note": "x" * 1001}}, "contextItems.Note"),
        # Long form.
        ({"workstreamId": WS, "contextItems": {"Tier": {}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": None}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": {"value": 2}}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2.5}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": False}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": "2", "type": "integer"}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2, "type": "text"}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2**31}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": "x" * 1001}}}, "contextItems.Tier.value"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2, "type": "number"}}}, "contextItems.Tier.type"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2, "type": 192350001}}}, "contextItems.Tier.type"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2, "isDisplayable": "yes"}}},
         "contextItems.Tier.isDisplayable"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2, "isDisplayable": None}}},
         "contextItems.Tier.isDisplayable"),
        ({"workstreamId": WS, "contextItems": {"Tier": {"value": 2, "datatype": "192350001"}}},
         "contextItems.Tier.datatype"),
        # engagementContext.
        ({"workstreamId": WS, "engagementContext": ["Edge"]}, "engagementContext"),
        ({"workstreamId": WS, "engagementContext": limits_body(51)}, "engagementContext"),
        ({"workstreamId": WS, "engagementContext": {"": "Edge"}}, "engagementContext"),
        ({"workstreamId": WS, "engagementContext": {"b" * 101: "Edge"}}, "engagementContext"),
        ({"workstreamId": WS, "engagementContext": {"msdyn_browser": 3}}, "engagementContext.msdyn_browser"),
        ({"workstreamId": WS, "engagementContext": {"msdyn_browser": None}}, "engagementContext.msdyn_browser"),
        ({"workstreamId": WS, "engagementContext": {"msdyn_browser": {"x": "y"}}},
         "engagementContext.msdyn_browser"),
        ({"workstreamId": WS, "engagementContext": {"msdyn_city": "x" * 1001}}, "engagementContext.msdyn_city"),
        # timeZone.
        ({"workstreamId": WS, "timeZone": "Mars/Olympus"}, "timeZone"),
        ({"workstreamId": WS, "timeZone": "America"}, "timeZone"),
        ({"workstreamId": WS, "timeZone": "../../etc/passwd"}, "timeZone"),
        ({"workstreamId": WS, "timeZone": "/etc/localtime"}, "timeZone"),
        ({"workstreamId": WS, "timeZone": "Europe\\Paris"}, "timeZone"),
        ({"workstreamId": WS, "timeZone": "Europe/Paris\x00"}, "timeZone"),
        ({"workstreamId": WS, "timeZone": ""}, "timeZone"),
        ({"workstreamId": WS, "timeZone": "x" * 5000}, "timeZone"),
        ({"workstreamId": WS, "timeZone": 1}, "timeZone"),
        ({"workstreamId": WS, "timeZone": "+01:00"}, "timeZone"),
    ],
)
def test_before_conversation_rejections_name_the_field(body, target):
    error = invalid(parse_before_conversation, body)
    assert error.target == target
    assert error.code == "invalid_request" and error.status == 400
    assert error.message.endswith(".")


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({}, "conversationId"),
        ({"conversationId": "nope"}, "conversationId"),
        ({"workstreamId": WS}, "workstreamId"),  # wrong endpoint's field
        ({"conversationId": CONV, "engagementContext": {"a": "b"}}, "engagementContext"),
        ({"conversationId": CONV, "contextItems": {"Tier": 1.5}}, "contextItems.Tier"),
        ({"conversationId": CONV, "timeZone": "Nowhere"}, "timeZone"),
    ],
)
def test_for_conversation_rejections_name_the_field(body, target):
    assert invalid(parse_for_conversation, body).target == target


@pytest.mark.parametrize("body", [None, [], "text", 3, [{"workstreamId": WS}]])
def test_body_must_be_an_object(body):
    error = invalid(parse_before_conversation, body)
    assert error.target is None
    assert error.message == "The request body must be a JSON object."
    assert invalid(parse_for_conversation, body).target is None


def test_prefix_is_put_in_front_of_every_target():
    assert invalid(parse_before_conversation, {}, prefix="checks[3]").target == "checks[3].workstreamId"
    bad_type = {"workstreamId": WS, "contextItems": {"Tier": {"value": 1, "type": "x"}}}
    assert invalid(parse_before_conversation, bad_type, prefix="checks[0]").target == "checks[0].contextItems.Tier.type"
    typo = {"workstreamID": WS}
    assert invalid(parse_before_conversation, typo, prefix="checks[1]").target == "checks[1].workstreamID"
    assert invalid(parse_before_conversation, "x", prefix="checks[2]").target == "checks[2]"
    assert invalid(parse_for_conversation, {"conversationId": 1}, prefix="p").target == "p.conversationId"


@pytest.mark.parametrize("tag", ["fr", "fr-CA", "pt-BR", "zh-Hant-TW", "sv", None])
def test_a_language_tag_is_taken_supported_or_not(tag):
    assert parse_before_conversation({"workstreamId": WS, "language": tag}).language == tag
    assert parse_for_conversation({"conversationId": CONV, "language": tag}).language == tag
    assert parse_before_conversation({"workstreamId": WS, "language": tag}).cache_key() == (
        parse_before_conversation({"workstreamId": WS}).cache_key())  # it only rewords the message


@pytest.mark.parametrize("tag", [7, "", "fr_CA", "fr-", "français", "fr CA", "fr-CA\n", "a" * 36, ["fr"]])
def test_what_is_not_a_language_tag_is_refused_naming_language(tag):
    error = invalid(parse_before_conversation, {"workstreamId": WS, "language": tag})
    assert (error.target, error.message) == ("language", "language must be a BCP 47 language tag such as fr or pt-BR.")
    refused = parse_batch({"checks": [{"workstreamId": WS, "language": tag}]})[0]
    assert isinstance(refused, InvalidRequest) and refused.target == "checks[0].language"


def test_batch_entries_are_checked_one_by_one():
    checks = parse_batch({"checks": [{"workstreamId": WS}, {"workstreamId": "x"}, "text", {"workstreamID": WS}]})
    assert checks[0] == BeforeConversationCheck(WS)
    refused = [c for c in checks[1:] if isinstance(c, InvalidRequest)]
    assert [(c.target, c.status) for c in refused] == [
        ("checks[1].workstreamId", 400), ("checks[2]", 400), ("checks[3].workstreamID", 400)]
    assert refused[1].message == "Each entry of checks must be a JSON object."


@pytest.mark.parametrize(("body", "target"), [
    (None, None), ([], None), ({}, "checks"), ({"checks": []}, "checks"), ({"checks": {}}, "checks"),
    ({"checks": [{"workstreamId": WS}] * 26}, "checks"), ({"checks": [], "check": 1}, "check"),
])
def test_a_malformed_batch_is_refused_as_a_whole(body, target):
    error = invalid(parse_batch, body)
    assert error.target == target and error.message.endswith(".")


def test_rejections_are_worded_from_the_field_and_the_failed_rule():
    cases = {
        "workstreamId is required.": {},
        "workstreamId must be a GUID such as 00000000-0000-0000-0000-000000000000.": {"workstreamId": "42"},
        "Context item 'Tier' must be a 32-bit integer (-2147483648 to 2147483647).":
            {"workstreamId": WS, "contextItems": {"Tier": 2**31}},
        "Context item 'Tier': value must be a string.":
            {"workstreamId": WS, "contextItems": {"Tier": {"value": 2, "type": "text"}}},
        "Context item 'Tier': value is required.": {"workstreamId": WS, "contextItems": {"Tier": {}}},
        "Context item 'Tier' must be a string, an integer, or an object with value, type and isDisplayable.":
            {"workstreamId": WS, "contextItems": {"Tier": 1.5}},
        "Engagement context attribute 'b' may be at most 1000 characters long.":
            {"workstreamId": WS, "engagementContext": {"b": "x" * 1001}},
        "Names in contextItems must be 1 to 100 characters long and not blank.":
            {"workstreamId": WS, "contextItems": {" ": "x"}},
        "contextItems may hold at most 50 entries.": {"workstreamId": WS, "contextItems": limits_body(51)},
        "timeZone must be an IANA time zone name such as Europe/Paris.": {"workstreamId": WS, "timeZone": "Mars/Base"},
    }
    for message, body in cases.items():
        assert invalid(parse_before_conversation, body).message == message


def test_typo_gets_a_suggestion():
    error = invalid(parse_before_conversation, {"workstreamID": WS})
    assert error.message == ("Unknown field 'workstreamID'; did you mean 'workstreamId'? Allowed fields: workstreamId, "
                             "contextItems, engagementContext, timeZone, language.")
    assert invalid(parse_before_conversation, {"queue": WS}).message == (
        "Unknown field 'queue'. Allowed fields: workstreamId, contextItems, engagementContext, timeZone, language.")


def test_first_fault_reported_is_an_unknown_field():
    # A typo of the required field reports the typo, not "workstreamId is required".
    assert invalid(parse_before_conversation, {"WorkstreamId": WS}).target == "WorkstreamId"


def test_runaway_names_are_shortened_in_targets():
    error = invalid(parse_before_conversation, {"workstreamId": WS, "x" * 10_000: 1})
    assert len(error.target) <= 101 and len(error.message) < 400


def test_messages_do_not_echo_values():
    value = "secret-value-" + "s" * 1000
    error = invalid(parse_before_conversation, {"workstreamId": WS, "contextItems": {"Note": value}})
    assert value not in error.message


# ------------------------------------------------------------------------------------ upstream bodies

def test_before_conversation_body_without_context():
    assert request_body(BeforeConversationCheck(WS)) == {"ApiVersion": "1.0", "LiveWorkStreamId": WS}


def test_before_conversation_body_with_context():
    check = parse_before_conversation({
        "workstreamId": WS,
        "contextItems": {"Language": "fr", "Tier": 2, "Segment": {"value": "gold", "isDisplayable": False}},
        "engagementContext": {"msdyn_browser": "Edge", "msdyn_city": "florida"},
    })
    body = request_body(check)
    assert set(body) == {"ApiVersion", "LiveWorkStreamId", "CustomContextItems", "ChannelEngagementContext"}
    assert body["ApiVersion"] == "1.0" and body["LiveWorkStreamId"] == WS
    # Double-encoded: strings whose JSON decodes to the objects.
    assert isinstance(body["CustomContextItems"], str)
    assert json.loads(body["CustomContextItems"]) == {
        "Language": {"value": "fr", "isDisplayable": True, "datatype": "192350000"},
        "Tier": {"value": 2, "isDisplayable": True, "datatype": "192350001"},
        "Segment": {"value": "gold", "isDisplayable": False, "datatype": "192350000"},
    }
    assert isinstance(body["ChannelEngagementContext"], str)
    assert json.loads(body["ChannelEngagementContext"]) == {"msdyn_browser": "Edge", "msdyn_city": "florida"}
    # The whole body survives the wire's own encoding.
    assert json.loads(json.dumps(body)) == body


def test_body_omits_engagement_context_when_only_items_given():
    body = request_body(parse_before_conversation({"workstreamId": WS, "contextItems": {"Tier": 2}}))
    assert "ChannelEngagementContext" not in body
    body = request_body(parse_before_conversation({"workstreamId": WS, "engagementContext": {"a": "b"}}))
    assert "CustomContextItems" not in body


def test_for_conversation_body():
    check = ForConversationCheck(CONV)
    assert request_body(check) == {"ApiVersion": "1.0", "ConversationId": CONV}
    body = request_body(parse_for_conversation({"conversationId": CONV, "contextItems": {"Tier": 3}}))
    assert json.loads(body["CustomContextItems"]) == {"Tier": {"value": 3, "isDisplayable": True,
                                                                "datatype": "192350001"}}
    assert "ChannelEngagementContext" not in body and "LiveWorkStreamId" not in body


def test_non_ascii_context_survives_encoding():
    body = request_body(parse_before_conversation({"workstreamId": WS, "contextItems": {"Ville": "Zürich"},
                                      "engagementContext": {"msdyn_city": "São Paulo"}}))
    assert json.loads(body["CustomContextItems"])["Ville"]["value"] == "Zürich"
    assert json.loads(body["ChannelEngagementContext"]) == {"msdyn_city": "São Paulo"}


def test_action_names():
    assert action_of(BeforeConversationCheck(WS)) == "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
    assert action_of(ForConversationCheck(CONV)) == "CCaaS_GetRepresentativeAvailabilityForConversation"


# ------------------------------------------------------------------------------------------ cache keys

def key(body):
    return parse_before_conversation({"workstreamId": WS, **body}).cache_key()


def test_cache_key_is_hashable():
    hash(key({"contextItems": {"Tier": 2}, "engagementContext": {"a": "b"}}))
    hash(parse_for_conversation({"conversationId": CONV}).cache_key())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({}, {"timeZone": "Europe/Paris"}),
        ({"timeZone": "Asia/Tokyo"}, {"timeZone": "Europe/Paris"}),
        ({"contextItems": {"A": "1", "B": 2}}, {"contextItems": {"B": 2, "A": "1"}}),
        ({"engagementContext": {"a": "1", "b": "2"}}, {"engagementContext": {"b": "2", "a": "1"}}),
        ({"contextItems": {"Tier": 2}}, {"contextItems": {"Tier": {"value": 2, "type": "integer"}}}),
        ({}, {"contextItems": {}, "engagementContext": None}),
    ],
)
def test_cache_key_equal(a, b):
    assert key(a) == key(b)


def test_cache_key_ignores_guid_case():
    upper = parse_before_conversation({"workstreamId": WS.upper()}).cache_key()
    assert upper == key({})
    # Built directly (as the snapshot timer may), the key still normalizes.
    assert BeforeConversationCheck(WS.upper()).cache_key() == key({})
    assert ForConversationCheck(CONV.upper()).cache_key() == ForConversationCheck(CONV).cache_key()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({}, {"contextItems": {"Tier": 2}}),
        ({"contextItems": {"Tier": 2}}, {"contextItems": {"Tier": 3}}),
        ({"contextItems": {"Tier": 2}}, {"contextItems": {"Tier": "2"}}),  # Integer vs Text
        ({"contextItems": {"Tier": 2}}, {"contextItems": {"tier": 2}}),
        ({"contextItems": {"Tier": 2}}, {"contextItems": {"Tier": {"value": 2, "isDisplayable": False}}}),
        ({}, {"engagementContext": {"msdyn_browser": "Edge"}}),
        ({"engagementContext": {"msdyn_browser": "Edge"}}, {"engagementContext": {"msdyn_browser": "Chrome"}}),
        ({"contextItems": {"a": "b"}}, {"engagementContext": {"a": "b"}}),
    ],
)
def test_cache_key_differs(a, b):
    assert key(a) != key(b)


def test_cache_key_differs_across_workstreams_and_actions():
    other = "11111111-2222-3333-4444-555555555555"
    assert key({}) != parse_before_conversation({"workstreamId": other}).cache_key()
    # Same GUID as workstream and as conversation must not share an answer.
    assert BeforeConversationCheck(WS).cache_key() != ForConversationCheck(WS).cache_key()
    a = parse_for_conversation({"conversationId": CONV, "contextItems": {"Tier": 1}}).cache_key()
    assert a != parse_for_conversation({"conversationId": CONV}).cache_key()
    assert a == parse_for_conversation({"conversationId": CONV, "contextItems": {"Tier": 1},
                                        "timeZone": "Asia/Tokyo"}).cache_key()


# --------------------------------------------------------------------------------------------- fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
NAMES = st.sampled_from(["workstreamId", "conversationId", "contextItems", "engagementContext", "timeZone"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(NAMES, JSON | st.just(WS), max_size=5) | JSON)
def test_any_request_json_parses_or_is_invalid_request(body):
    for parse in (parse_before_conversation, parse_for_conversation):
        try:
            check = parse(body)
        except InvalidRequest as error:
            assert error.to_body()["error"]["code"] == "invalid_request"
        else:
            json.dumps(request_body(check))
            hash(check.cache_key())


UPSTREAM_NAMES = st.sampled_from([k for k in OPEN if not k.startswith("@")] + ["@odata.etag", "Other"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(UPSTREAM_NAMES, JSON | st.just(QUEUE) | st.just("0001-01-01T00:00:00Z")
                       | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)))
def test_any_upstream_payload_normalizes_or_is_upstream_unavailable(payload):
    try:
        answer = parse_availability({**OPEN, **payload}, RETRIEVED)
    except UpstreamUnavailable:
        return
    body = answer.to_json(NOW, "Europe/Paris")
    json.dumps(body)
    assert body["status"] in ("available", "busy", "closed")
    assert body["message"].endswith(".")
