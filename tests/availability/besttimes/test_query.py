"""What the best-times endpoint accepts (pure): defaults, bounds, and a 400 naming each parameter at fault."""

from __future__ import annotations

import pytest

from availability.besttimes.query import BestTimesQuery, parse_best_times_query
from availability.errors import InvalidRequest
from tests.availability.scenario import CHAT


def test_defaults():
    assert parse_best_times_query(CHAT.upper(), {}) == BestTimesQuery(workstream_id=CHAT, count=3, within_hours=72,
                                                                      min_share=0.8, time_zone=None, language="en")
    assert parse_best_times_query(CHAT, {"code": "the-function-key"}).count == 3  # the host's key in the URL


def test_values_are_read():
    query = parse_best_times_query(CHAT, {"count": "10", "within": "336", "minAvailableShare": "0.65",
                                          "tz": "Europe/Paris", "lang": "fr-CA"})
    assert (query.count, query.within_hours, query.min_share, query.time_zone, query.language) == (
        10, 336, 0.65, "Europe/Paris", "fr")
    assert parse_best_times_query(CHAT, {"minAvailableShare": "1"}).min_share == 1.0
    assert parse_best_times_query(CHAT, {"minAvailableShare": "0"}).min_share == 0.0
    assert parse_best_times_query(CHAT, {"minAvailableShare": "5e-1"}).min_share == 0.5
    assert parse_best_times_query(CHAT, {"tz": " ", "lang": ""}).time_zone is None  # blank is absent


def test_accept_language_decides_unless_lang_does():
    assert parse_best_times_query(CHAT, {}, "de-DE,de;q=0.9").language == "de"
    assert parse_best_times_query(CHAT, {"lang": "ja"}, "de").language == "ja"
    assert parse_best_times_query(CHAT, {"lang": "sv"}, "de").language == "en"  # unsupported: not an error


@pytest.mark.parametrize(("route", "params", "target"), [
    ("not-a-guid", {}, "id"),
    (CHAT, {"count": "0"}, "count"),
    (CHAT, {"count": "11"}, "count"),
    (CHAT, {"count": "2.5"}, "count"),
    (CHAT, {"count": "٣"}, "count"),  # an Arabic-Indic three: int() reads it, the API does not
    (CHAT, {"within": "337"}, "within"),
    (CHAT, {"within": "0"}, "within"),
    (CHAT, {"minAvailableShare": "1.01"}, "minAvailableShare"),
    (CHAT, {"minAvailableShare": "-0.1"}, "minAvailableShare"),
    (CHAT, {"minAvailableShare": "nan"}, "minAvailableShare"),
    (CHAT, {"minAvailableShare": "1_0"}, "minAvailableShare"),
    (CHAT, {"minAvailableShare": "80%"}, "minAvailableShare"),
    (CHAT, {"tz": "Mars/Olympus"}, "tz"),
    (CHAT, {"lang": "fr_CA"}, "lang"),
    (CHAT, {"days": "7"}, "days"),
])
def test_faults_name_their_parameter(route, params, target):
    with pytest.raises(InvalidRequest) as raised:
        parse_best_times_query(route, params)
    assert raised.value.target == target
