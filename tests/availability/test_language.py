"""Languages of `message`: negotiation, complete catalogs, and each language's sentences in two time zones."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta

import pytest
from babel.messages.pofile import read_po

from availability.answer import Availability, availability_message
from availability.language import LOCALES, SOURCE, SUPPORTED, is_language_tag, negotiate, translations

TRANSLATED = [language for language in SUPPORTED if language != SOURCE]
# Tuesday 1 December 2026, 09:00 UTC: 10:00 in Paris, 04:00 in New York, 18:00 in Tokyo.
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def catalog(language: str):
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=language)


def template():
    with (LOCALES / "messages.pot").open("rb") as source:
        return read_po(source)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# ------------------------------------------------------------------------------------------ negotiation


@pytest.mark.parametrize(("language", "header", "expected"), [
    ("fr", None, "fr"),
    ("fr-CA", None, "fr"),
    ("pt-BR", "de", "pt"),  # the field wins over the header
    ("PT-br", None, "pt"),
    ("sv", "de", "en"),  # an unsupported field is not an error, and is not overridden by the header
    (None, "de-DE,de;q=0.9", "de"),
    (None, "sv-SE, ja;q=0.8, fr;q=0.9", "fr"),  # q-values, not order
    (None, "es;q=0, it;q=0.1", "it"),  # q=0 means "not this one"
    (None, "*, nl;q=0.5", "nl"),
    (None, "zh-Hant-TW, ko", "en"),
    (None, "", "en"),
    (None, "en-GB;q=0.8, en;q=0.9, ja", "ja"),
    (None, "fr;q=bogus, de", "de"),
])
def test_negotiation(language, header, expected):
    assert negotiate(language, header) == expected


@pytest.mark.parametrize("tag", ["fr", "fr-CA", "pt-BR", "zh-Hant-TW", "sl-rozaj-biske", "x" * 2, "en-US-x-twain"])
def test_language_tags(tag):
    assert is_language_tag(tag)


@pytest.mark.parametrize("tag", ["", "f", "fr_CA", "fr-", "-fr", "français", "fr CA", "fr-" + "a" * 9, 7, None,
                                 "a" * 36, "fr-CA\n"])
def test_not_language_tags(tag):
    assert not is_language_tag(tag)


# ---------------------------------------------------------------------------------------------- catalogs


def test_every_catalog_is_complete_with_the_same_placeholders():
    ids = {message.id for message in template() if message.id}
    assert ids, "the template holds the sentences of answer.py"
    for language in TRANSLATED:
        translated = catalog(language)
        assert {message.id for message in translated if message.id} == ids, language
        for message in translated:
            if not message.id:
                continue
            sources = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{language}: no translation for {sources[0]!r}"
            assert not message.fuzzy, f"{language}: fuzzy translation of {sources[0]!r}"
            expected = fields(sources[0]) | fields(sources[-1])
            for text in strings:
                assert fields(text) == expected, f"{language}: placeholders differ in {text!r}"
            if isinstance(message.id, tuple):
                assert len(strings) == translated.num_plurals, f"{language}: plural forms of {sources[0]!r}"


def test_the_template_holds_every_sentence_the_code_says():
    source = "".join((LOCALES.parent / path).read_text(encoding="utf-8")
                     for path in ("answer.py", "besttimes/wording.py"))
    said = set(re.findall(r'"((?:A representative|The queue|A good time|None of the|There is not)[^"]*)"', source))
    assert len(said) >= 20
    ids: set[str] = set()
    for message in template():
        if message.id:
            ids.update(message.id if isinstance(message.id, tuple) else (message.id,))
    assert said <= ids, f"run pybabel extract (README, Languages): missing {sorted(said - ids)}"


@pytest.mark.parametrize("language", SUPPORTED)
def test_each_language_says_when_to_come_back_in_two_time_zones(language):
    from availability.besttimes.wording import empty_message, window_message

    words = translations(language)
    for zone, hours in (("Europe/Paris", (15, 18)), ("Asia/Tokyo", (23, 2))):
        # 14:00-17:00 UTC, from Tuesday 09:00 UTC: Paris says today, Tokyo (already 18:00 there) says today too.
        said = [window_message(NOW + timedelta(days=days, hours=5), NOW + timedelta(days=days, hours=8), NOW, zone,
                               language) for days in (0, 1, 3, 10)]
        assert len(set(said)) == 4, said
        for text in said:
            start, end = hours
            shown = (lambda hour: hour % 12 or 12) if language == "en" else (lambda hour: hour)
            assert re.search(rf"(?<!\d)0?{shown(start)}[:.]00", text), (language, zone, text)
            assert re.search(rf"(?<!\d)0?{shown(end)}[:.]00", text), (language, zone, text)
            assert "UTC" not in text
        today = words.gettext("A good time to reach us is today between {start} and {end}.").split("{start}")[0]
        tomorrow = words.gettext("A good time to reach us is tomorrow between {start} and {end}.").split("{start}")[0]
        assert said[0].startswith(today) and said[1].startswith(tomorrow)
    assert "UTC" in window_message(NOW + timedelta(hours=5), NOW + timedelta(hours=8), NOW, None, language)
    assert empty_message("not_enough_history", language) != empty_message("no_good_time", language)


@pytest.mark.parametrize("language", SUPPORTED)
def test_a_window_that_runs_to_midnight_ends_at_its_last_minute_in_each_language(language):
    from availability.besttimes.wording import window_message

    paris = "Europe/Paris"  # UTC+1 in December: local midnight is 23:00 UTC
    evening = window_message(NOW + timedelta(hours=8), NOW + timedelta(hours=14), NOW, paris, language)  # 18:00-00:00
    whole_day = window_message(NOW + timedelta(hours=14), NOW + timedelta(days=1, hours=14), NOW, paris, language)
    last = "11:59" if language == "en" else "23:59"
    for text in (evening, whole_day):
        assert last in text and not re.search(r"(?<!\d)(12|0?0)[:.]00(?!\d)\D*$", text), (language, text)
    assert re.search(r"(?<!\d)(6|18)[:.]00", evening), (language, evening)


def test_every_language_loads():
    for language in SUPPORTED:
        assert translations(language).gettext("The queue is closed right now.")


# ------------------------------------------------------------------------------- each language's message


def answer(status: str, *, wait: int | None = 300, opening: datetime | None = None) -> Availability:
    return Availability(
        queue_id="11111111-0000-4000-8000-000000000001", within_operating_hours=status != "closed",
        representatives_available=status == "available", available_representatives=2 if status == "available" else 0,
        position_in_queue=1, average_wait_seconds=wait, next_transition_time=opening, next_opening_time=opening,
        next_closing_time=None, retrieved_at=NOW)


# The next opening in each case, and what each language says of it in Paris and in Tokyo.
TODAY = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # 17:00 Paris; Tokyo: Wednesday 01:00 (tomorrow there)
TOMORROW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)  # Wednesday 08:00 Paris, 16:00 Tokyo
LATER = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)  # Friday
HOLIDAY = datetime(2026, 12, 28, 7, 0, tzinfo=UTC)  # after Christmas week: a date, not a weekday

EXPECTED = {
    "en": ("A representative is available now; the estimated wait is about 5 minutes.",
           "The queue is open but no representative is free right now; the estimated wait is about 5 minutes.",
           # CLDR puts a narrow no-break space before AM and PM.
           {"Europe/Paris": ("today at 5:00\u202fPM", "tomorrow at 8:00\u202fAM", "on Friday at 8:00\u202fAM",
                             "on December 28 at 8:00\u202fAM"),
            "Asia/Tokyo": ("tomorrow at 1:00\u202fAM", "tomorrow at 4:00\u202fPM", "on Friday at 4:00\u202fPM",
                           "on December 28 at 4:00\u202fPM")},
           "The queue is closed; it opens again {}."),
}


@pytest.mark.parametrize("language", SUPPORTED)
def test_each_language_says_open_busy_and_closed_in_two_time_zones(language):
    available = availability_message(answer("available"), NOW, "Europe/Paris", language)
    busy = availability_message(answer("busy"), NOW, "Europe/Paris", language)
    assert available != busy and "5" in available and "5" in busy
    words = translations(language)
    for zone, clock in (("Europe/Paris", {"TODAY": 17, "TOMORROW": 8, "LATER": 8, "HOLIDAY": 8}),
                        ("Asia/Tokyo", {"TODAY": 1, "TOMORROW": 16, "LATER": 16, "HOLIDAY": 16})):
        today = availability_message(answer("closed", opening=TODAY), NOW, zone, language)
        tomorrow = availability_message(answer("closed", opening=TOMORROW), NOW, zone, language)
        later = availability_message(answer("closed", opening=LATER), NOW, zone, language)
        holiday = availability_message(answer("closed", opening=HOLIDAY), NOW, zone, language)
        assert len({today, tomorrow, later, holiday}) == 4
        # Tokyo's "today" 16:00Z is already Wednesday there: the same wording as "tomorrow".
        expected_today = "tomorrow" if zone == "Asia/Tokyo" else "today"
        sentence = {"today": "The queue is closed; it opens again today at {time}.",
                    "tomorrow": "The queue is closed; it opens again tomorrow at {time}."}
        shape = words.gettext(sentence[expected_today]).split("{time}")[0]
        assert today.startswith(shape), (language, zone, today)
        assert tomorrow.startswith(words.gettext(sentence["tomorrow"]).split("{time}")[0])
        for text, hour in ((today, clock["TODAY"]), (tomorrow, clock["TOMORROW"]), (later, clock["LATER"]),
                           (holiday, clock["HOLIDAY"])):
            assert re.search(rf"(?<!\d)0?{hour % 12 if language == 'en' and hour > 12 else hour}[:.]00", text), \
                (language, zone, text)
        assert "UTC" not in today  # a zone was asked for: local times, no label
    if language in EXPECTED:
        ok, open_busy, closed, shape = EXPECTED[language]
        assert (available, busy) == (ok, open_busy)
        for zone, phrases in closed.items():
            said = [availability_message(answer("closed", opening=moment), NOW, zone, language)
                    for moment in (TODAY, TOMORROW, LATER, HOLIDAY)]
            assert said == [shape.format(phrase) for phrase in phrases]


def test_without_a_time_zone_times_are_utc_and_say_so():
    message = availability_message(answer("closed", opening=TOMORROW), NOW, None, "fr")
    assert message.endswith("demain à 07:00 UTC.")


def test_worded_examples():
    paris = "Europe/Paris"
    assert availability_message(answer("closed", opening=TOMORROW), NOW, paris, "fr") == \
        "La file d'attente est fermée\u00a0; elle rouvre demain à 08:00."
    assert "morgen um 08:00" in availability_message(answer("closed", opening=TOMORROW), NOW, paris, "de")
    assert "明日" in availability_message(answer("closed", opening=TOMORROW), NOW, paris, "ja")
    assert "8:00" in availability_message(answer("closed", opening=TOMORROW), NOW, paris, "ja")


def test_plural_forms():
    for language, one, many in (("en", "1 minute.", "2 minutes."), ("fr", "1 minute.", "2 minutes."),
                                ("de", "1 Minute.", "2 Minuten."), ("nl", "1 minuut.", "2 minuten.")):
        assert availability_message(answer("available", wait=60), NOW, None, language).endswith(one)
        assert availability_message(answer("available", wait=61), NOW, None, language).endswith(many)


def test_the_same_sentence_comes_from_memory_the_second_time():
    first = availability_message(answer("closed", opening=LATER), NOW, "Europe/Paris", "it")
    again = availability_message(answer("closed", opening=LATER), NOW + timedelta(minutes=1), "Europe/Paris", "it")
    assert first is again  # memoized per answer, day, zone and language: cache hits word nothing anew


# ---------------------------------------------------------------------------------------- over the wire


def test_a_check_answers_in_french_with_paris_times(fresh_gateway, clean_sandbox):
    from tests.availability.scenario import OFFICE

    gateway = fresh_gateway()
    clean_sandbox.set_clock("2026-11-28T12:00:00Z")  # a Saturday: the Paris office opens on Monday at 08:00
    answer = gateway.post("availability/before-conversation",
                          {"workstreamId": OFFICE, "language": "fr", "timeZone": "Europe/Paris"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["language"] == "fr"
    assert answer.json()["message"] == "La file d'attente est fermée\u00a0; elle rouvre lundi à 08:00."


def test_accept_language_picks_the_language_when_the_body_does_not(gateway):
    from tests.availability.scenario import CHAT

    german = gateway.post("availability/before-conversation", {"workstreamId": CHAT},
                          headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert german.status_code == 200 and german.json()["language"] == "de"
    assert german.json()["message"].startswith("Ein Mitarbeiter ist jetzt verfügbar")
    field_wins = gateway.post("availability/before-conversation", {"workstreamId": CHAT, "language": "ja"},
                              headers={"Accept-Language": "de"})
    assert field_wins.json()["language"] == "ja"
    unsupported = gateway.post("availability/before-conversation", {"workstreamId": CHAT, "language": "sv-SE"})
    assert unsupported.status_code == 200 and unsupported.json()["language"] == "en"
    batch = gateway.post("availability/batch", {"checks": [{"workstreamId": CHAT, "language": "nl"},
                                                           {"workstreamId": CHAT}]},
                         headers={"Accept-Language": "it"})
    assert [r["availability"]["language"] for r in batch.json()["results"]] == ["nl", "it"]


@pytest.mark.parametrize("language", [7, "fr_CA", "", "français", ["fr"]])
def test_a_language_that_is_not_a_tag_is_a_400_naming_it(gateway, language):
    from tests.availability.scenario import CHAT

    answer = gateway.post("availability/before-conversation", {"workstreamId": CHAT, "language": language})
    assert answer.status_code == 400
    assert answer.json()["error"]["target"] == "language"


def test_eight_languages_cost_one_upstream_call(fresh_gateway, clean_sandbox):
    from tests.availability.scenario import CHAT

    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=60)
    said = {gateway.post("availability/before-conversation",
                         {"workstreamId": CHAT, "contextItems": {"Case": "languages"}, "language": language}
                         ).json()["message"] for language in SUPPORTED}
    assert len(said) == len(SUPPORTED)
    assert clean_sandbox.stats()["actions"]["CCaaS_GetRepresentativeAvailabilityBeforeConversation"] == 1
