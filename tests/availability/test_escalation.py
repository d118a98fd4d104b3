"""The escalation decision in process: each rule and its order, the wait range, the sentence in every language, the
answer's shape against its published schema, the request's validation, and what the snapshot history adds when given."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from availability.answer import Availability
from availability.checks import BeforeConversationCheck, ForConversationCheck, parse_escalation
from availability.errors import InvalidRequest
from availability.escalation import (
    RULES,
    HourHistory,
    Suggestion,
    WaitRange,
    decide,
    decisions,
    reasons,
    wait_range,
)
from availability.language import LOCALES, SUPPORTED
from tests.days import WEEKDAYS, at, sandbox_day

# 16:00 UTC on a weekday a month from now: 17:00 in Paris (18:00 in summer).
NOW = datetime.fromisoformat(at(sandbox_day(30, on=WEEKDAYS), "16:00:00").replace("Z", "+00:00"))
QUEUE = "11111111-0000-4000-8000-000000000001"
WS = "22222222-0000-4000-8000-000000000001"
CONVERSATION = "33333333-0000-4000-8000-000000000001"


def answer(*, within: bool = True, free: bool = True, wait: int | None = 90, closes_in: timedelta | None = None,
           opens_in: timedelta | None = None, org_ahead: timedelta = timedelta(0)) -> Availability:
    """An answer as the org gives it: while open, the next transition is the closing (None for 24x7); while
    closed, the next opening (and the window's times). `org_ahead`: the org's clock less the gateway's."""
    org_now = NOW + org_ahead
    opening = org_now + opens_in if opens_in is not None else None
    return Availability(
        queue_id=QUEUE, within_operating_hours=within, representatives_available=within and free,
        available_representatives=2 if within and free else 0, position_in_queue=3, average_wait_seconds=wait,
        next_transition_time=(org_now + closes_in if closes_in is not None else None) if within else opening,
        next_opening_time=None if within else opening,
        next_closing_time=None if within or opening is None else opening + timedelta(hours=10),
        retrieved_at=NOW, org_time=org_now)


CASES = [  # (answer, maxWaitSeconds, decision, reason)
    (answer(), 600, "escalate", "representatives_available"),
    (answer(wait=None), 600, "escalate", "representatives_available"),
    (answer(free=False, wait=600), 600, "escalate", "short_wait"),  # the limit itself is still short
    (answer(free=False, wait=601), 600, "offer_alternative", "long_wait"),
    (answer(free=False, wait=0), 0, "escalate", "short_wait"),
    (answer(free=False, wait=None), 600, "offer_alternative", "no_representatives"),
    (answer(free=False, wait=300, closes_in=timedelta(minutes=4)), 600, "offer_alternative", "closes_before_served"),
    (answer(free=False, wait=300, closes_in=timedelta(minutes=5)), 600, "escalate", "short_wait"),
    # A free representative does not outlast the closing: the wait the org expects is what a customer meets.
    (answer(wait=30, closes_in=timedelta(seconds=20)), 600, "offer_alternative", "closes_before_served"),
    (answer(wait=None, closes_in=timedelta(seconds=20)), 600, "escalate", "representatives_available"),
    (answer(free=False, wait=2400, closes_in=timedelta(minutes=10)), 600, "offer_alternative",
     "closes_before_served"),
    (answer(within=False, opens_in=timedelta(hours=15)), 600, "closed", "outside_hours"),
    (answer(within=False, wait=None), 600, "closed", "outside_hours"),
]


@pytest.mark.parametrize(("given", "max_wait", "expected", "reason"), CASES)
def test_each_rule_and_its_place_in_the_order(given, max_wait, expected, reason):
    decision = decide(given, max_wait=max_wait, now=NOW)
    assert (decision.decision, decision.reason) == (expected, reason)
    assert decision.max_wait == max_wait
    assert next(rule for rule in RULES if rule.reason == reason).decision == expected


def test_every_decision_and_reason_is_reachable_and_the_rules_name_them_all():
    reached = {(expected, reason) for _, _, expected, reason in CASES}
    assert {reason for _, reason in reached} == set(reasons()) == {rule.reason for rule in RULES}
    assert {decision for decision, _ in reached} == set(decisions())
    assert len(RULES) == len(reasons())  # one rule per reason, each reason one decision


def test_the_closing_is_measured_on_the_orgs_clock():
    # The gateway's clock is an hour behind the org's: the queue closes 4 minutes from the org's now.
    late = answer(free=False, wait=300, closes_in=timedelta(minutes=4), org_ahead=timedelta(hours=1))
    assert decide(late, max_wait=600, now=NOW).reason == "closes_before_served"
    early = answer(free=False, wait=300, closes_in=timedelta(minutes=6), org_ahead=timedelta(hours=-1))
    assert decide(early, max_wait=600, now=NOW).reason == "short_wait"


def test_the_next_opening_only_when_closed():
    closed = decide(answer(within=False, opens_in=timedelta(hours=15)), max_wait=600, now=NOW)
    assert closed.next_opening_time == NOW + timedelta(hours=15)
    # Without the window, the next transition is the opening too.
    bare = dataclasses.replace(answer(within=False, opens_in=timedelta(hours=15)), next_opening_time=None)
    assert decide(bare, max_wait=600, now=NOW).next_opening_time == NOW + timedelta(hours=15)
    assert decide(answer(closes_in=timedelta(hours=1)), max_wait=600, now=NOW).next_opening_time is None
    assert closed.wait_range is None  # nobody waits in a closed queue


# ------------------------------------------------------------------------------------------------ the range


@pytest.mark.parametrize(("average", "low", "high"), [
    (0, 0, 60), (30, 0, 60), (90, 0, 180), (120, 60, 180), (600, 300, 900), (700, 300, 1080),
    (1200, 600, 1800), (3000, 1500, 4500), (7200, 3600, 10800), (20000, 7200, 32400),
])
def test_the_range_runs_from_half_to_one_and_a_half_times_the_average_rounded_outwards(average, low, high):
    said = wait_range(average)
    assert said == WaitRange(low, high)
    assert said.low <= average * 0.5 and said.high >= average * 1.5
    step = 60 if said.high <= 1200 else 300 if said.high <= 7200 else 3600
    assert said.low % step == 0 and said.high % step == 0


def test_no_average_no_range():
    assert wait_range(None) is None
    assert decide(answer(free=False, wait=None), max_wait=600, now=NOW).wait_range is None


def test_the_history_widens_the_range_and_suggests_a_time_when_not_escalating():
    later = Suggestion(NOW + timedelta(hours=2), NOW + timedelta(hours=4), "high")
    history = HourHistory(wait_low_seconds=60, wait_high_seconds=2400, best=later)
    assert wait_range(600, history) == WaitRange(0, 2400)  # 60 s, rounded down to the 5 minutes of its size
    assert wait_range(600, HourHistory(400, 700)) == WaitRange(300, 900)  # never narrower than the average's
    assert wait_range(600, HourHistory(best=later)) == WaitRange(300, 900)  # no waits recorded: no widening
    busy = decide(answer(free=False, wait=900), max_wait=600, now=NOW, history=history)
    assert (busy.reason, busy.best, busy.wait_range) == ("long_wait", later, WaitRange(0, 2400))
    said = busy.to_json(NOW)
    assert said["bestTime"]["start"] == later.start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert said["bestTime"]["confidence"] == "high"
    assert said["message"].endswith(said["bestTime"]["message"])  # the suggestion is said too
    assert said["message"].startswith("All representatives are busy right now")
    escalating = decide(answer(), max_wait=600, now=NOW, history=history)
    assert escalating.best is None and "bestTime" not in escalating.to_json(NOW)
    without = decide(answer(free=False, wait=900), max_wait=600, now=NOW)
    assert without.best is None and "bestTime" not in without.to_json(NOW)


# ----------------------------------------------------------------------------------------------- the words


ENGLISH = {
    "representatives_available": "A representative is available now; the expected wait is less than 3 minutes.",
    "short_wait": "All representatives are busy right now; one should be with you in about 5 to 15 minutes.",
    "long_wait": "All representatives are busy right now; the expected wait is about 20 to 60 minutes.",
    "closes_before_served": "The queue closes at {closing}, before a representative could take you.",
    "no_representatives": "No representative is free right now, and there is no estimate of when one will be.",
}
SAID = {  # the answer each reason is said of, in the tests of the words
    "representatives_available": answer(),
    "short_wait": answer(free=False, wait=600),
    "long_wait": answer(free=False, wait=2400),
    "closes_before_served": answer(free=False, wait=600, closes_in=timedelta(minutes=5)),
    "no_representatives": answer(free=False, wait=None),
    "outside_hours": answer(within=False, opens_in=timedelta(hours=15)),
}


def test_the_english_sentences():
    closing = (NOW + timedelta(minutes=5)).strftime("%-I:%M\u202f%p") + " UTC"
    for reason, expected in ENGLISH.items():
        decision = decide(SAID[reason], max_wait=600, now=NOW)
        assert decision.reason == reason
        assert decision.message(NOW) == expected.format(closing=closing)
    closed = decide(SAID["outside_hours"], max_wait=600, now=NOW)
    assert closed.message(NOW) == SAID["outside_hours"].message(NOW)  # the availability's own closed sentence
    assert decide(answer(wait=None), max_wait=600, now=NOW).message(NOW) == "A representative is available now."


@pytest.mark.parametrize(("average", "said"), [
    (30, "less than a minute"), (90, "less than 3 minutes"), (600, "about 5 to 15 minutes"),
    (3000, "about 25 to 75 minutes"), (7200, "about 1 to 3 hours"), (5000, "less than 3 hours"),
])
def test_ranges_are_said_as_ranges(average, said):
    assert decide(answer(free=False, wait=average), max_wait=86_400, now=NOW).message(NOW).endswith(f" {said}.")


@pytest.mark.parametrize("language", SUPPORTED)
def test_each_language_words_each_reason_with_its_range(language):
    said = {}
    for reason, given in SAID.items():
        decision = decide(given, max_wait=600, now=NOW)
        said[reason] = decision.message(NOW, "Europe/Paris", language)
        assert said[reason] and "{" not in said[reason], (language, reason)
    assert len(set(said.values())) == len(said)  # every reason says something of its own
    assert re.search(r"5\D{1,5}15", said["short_wait"]), said["short_wait"]
    assert re.search(r"20\D{1,5}60", said["long_wait"]), said["long_wait"]
    assert "3" in said["representatives_available"]
    closing = (NOW + timedelta(minutes=5)).astimezone(ZoneInfo("Europe/Paris"))
    assert f"{closing.hour % 12 if language == 'en' else closing.hour}:{closing.minute:02d}" in \
        said["closes_before_served"]
    assert "UTC" not in said["closes_before_served"]  # a zone was asked for: its local time


def test_french_and_japanese_examples():
    busy = decide(answer(free=False, wait=600), max_wait=600, now=NOW)
    assert busy.message(NOW, None, "fr") == ("Tous nos conseillers sont occupés pour le moment\u00a0; l'un d'eux "
                                             "devrait pouvoir vous répondre dans 5 à 15 minutes environ.")
    assert busy.message(NOW, None, "ja") == "現在、すべての担当者が対応中です。約5〜15分でおつなぎできる見込みです。"


def test_the_template_holds_the_decisions_sentences():
    from babel.messages.pofile import read_po

    source = (LOCALES.parent / "escalation.py").read_text(encoding="utf-8")
    said = set(re.findall(r'\bgettext\(\s*"([^"]+)"', source))
    said |= {form for pair in re.findall(r'ngettext\(\s*"([^"]+)",\s*"([^"]+)"', source) for form in pair}
    with (LOCALES / "messages.pot").open("rb") as template:
        ids = {part for message in read_po(template) if message.id
               for part in (message.id if isinstance(message.id, tuple) else (message.id,))}
    assert len(said) == 15 and said <= ids, f"run pybabel extract (docs/languages.md): missing {sorted(said - ids)}"


# ----------------------------------------------------------------------------------------- answer and request


def test_the_answer_is_what_the_published_schema_says():
    import jsonschema_rs

    from availability import schemas

    document = {"$schema": schemas.DIALECT, "components": {"schemas": schemas.public(schemas.components())}}
    validator = jsonschema_rs.validator_map_for(document)[schemas.SCHEMA_PREFIX + "EscalationDecision"]
    history = HourHistory(60, 2400, Suggestion(NOW + timedelta(hours=2), NOW + timedelta(hours=3), "low"))
    for given, max_wait, _, _ in CASES:
        for with_history in (None, history):
            body = decide(given, max_wait=max_wait, now=NOW, history=with_history).to_json(NOW, "Europe/Paris", "de")
            assert validator.is_valid(body), list(validator.iter_errors(body))[:1]
            assert body["availability"]["language"] == "de"
    body = decide(answer(free=False, wait=600), max_wait=600, now=NOW).to_json(NOW)
    assert (body["waitRange"], body["maxWaitSeconds"], body["nextOpeningTime"]) == (
        {"low": 300, "high": 900}, 600, None)


def test_a_request_is_either_check_with_the_wait():
    conversation = parse_escalation({"conversationId": CONVERSATION.upper(), "maxWaitSeconds": 120,
                                     "contextItems": {"Tier": 2}, "language": "fr", "engagementContext": None})
    assert conversation.check == ForConversationCheck(CONVERSATION, conversation.check.context_items, None, "fr")
    assert conversation.max_wait(600) == 120
    before = parse_escalation({"workstreamId": WS, "engagementContext": {"msdyn_browser": "Edge"},
                               "timeZone": "Europe/Paris", "maxWaitSeconds": None})
    assert isinstance(before.check, BeforeConversationCheck)
    assert before.check.engagement_context == (("msdyn_browser", "Edge"),) and before.max_wait(600) == 600
    # The same check as the availability endpoints': the decision shares their cache entry.
    assert before.check.cache_key() == BeforeConversationCheck(WS, (), (("msdyn_browser", "Edge"),)).cache_key()


@pytest.mark.parametrize(("body", "target"), [
    ({}, "conversationId"),
    ({"contextItems": {"Tier": 2}}, "conversationId"),
    ({"conversationId": CONVERSATION, "workstreamId": WS}, "workstreamId"),
    ({"conversationId": CONVERSATION, "engagementContext": {"msdyn_browser": "Edge"}}, "engagementContext"),
    ({"conversationId": "not-a-guid"}, "conversationId"),
    ({"workstreamId": WS, "maxWaitSeconds": -1}, "maxWaitSeconds"),
    ({"workstreamId": WS, "maxWaitSeconds": 86_401}, "maxWaitSeconds"),
    ({"workstreamId": WS, "maxWaitSeconds": "600"}, "maxWaitSeconds"),
    ({"workstreamId": WS, "maxWaitSeconds": 1.5}, "maxWaitSeconds"),
    ({"workstreamId": WS, "maxwaitseconds": 60}, "maxwaitseconds"),
    ({"workstreamId": WS, "language": "fr_FR"}, "language"),
    ({"conversationId": CONVERSATION, "contextItems": {"Tier": 1.5}}, "contextItems.Tier"),
])
def test_a_bad_request_names_the_field(body, target):
    with pytest.raises(InvalidRequest) as refused:
        parse_escalation(body)
    assert refused.value.target == target, refused.value.message
    assert refused.value.status == 400


def test_the_docs_table_is_the_rules_in_their_order():
    page = (LOCALES.parents[1] / "docs" / "agents.md").read_text(encoding="utf-8")
    table = page.split("<!-- decision rules:", 1)[1].split("<!-- end of decision rules -->", 1)[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in table.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert rows == [[str(number), f"`{rule.reason}`", f"`{rule.decision}`", rule.when]
                    for number, rule in enumerate(RULES, 1)]
