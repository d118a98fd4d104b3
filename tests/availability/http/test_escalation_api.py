"""The escalation decision over the wire, with the sandbox clock: each decision and reason reached by a scenario
(available; open but everyone busy with a long wait, and a short one; a wait that runs past closing; closed), in
English and French, for one org call per check; and its errors."""

from __future__ import annotations

from datetime import timedelta

from tests.availability.scenario import BUSY_LINE, CHAT, CONVERSATION, OFFICE, UNKNOWN
from tests.conftest import unique
from tests.days import MONDAY, THURSDAY, sandbox_day
from tests.days import at as clock_at

NNBSP, NBSP = "\u202f", "\u00a0"
# The Paris office's queue closes at 18:00; it takes 30 s on average to reach a representative there.
SAID = {
    "representatives_available": (
        "A representative is available now; the expected wait is less than 3 minutes.",
        f"Un conseiller est disponible dès maintenant{NBSP}; le temps d'attente estimé est de moins de 3 minutes."),
    "long_wait": (
        "All representatives are busy right now; the expected wait is about 5 to 15 minutes.",
        f"Tous nos conseillers sont occupés pour le moment{NBSP}; le temps d'attente estimé est de 5 à 15 minutes "
        "environ."),
    "short_wait": (
        "All representatives are busy right now; one should be with you in about 5 to 15 minutes.",
        f"Tous nos conseillers sont occupés pour le moment{NBSP}; l'un d'eux devrait pouvoir vous répondre dans 5 à "
        "15 minutes environ."),
    "closes_before_served": (
        f"The queue closes at 6:00{NNBSP}PM, before a representative could take you.",
        "La file d'attente ferme à 18:00, avant qu'un conseiller puisse vous répondre."),
    "outside_hours": (
        f"The queue is closed; it opens again tomorrow at 8:00{NNBSP}AM.",
        f"La file d'attente est fermée{NBSP}; elle rouvre demain à 08:00."),
}


def decide(gateway, body: dict) -> list[dict]:
    """The decision for `body` in English and in French (the second from the cache: it words, it does not ask)."""
    answers = []
    for language in ("en", "fr"):
        response = gateway.post("escalation/decision", {**body, "language": language, "timeZone": "Europe/Paris"})
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def test_each_decision_and_reason_over_the_wire(fresh_gateway, clean_sandbox, side):
    gateway = fresh_gateway(AVAILABILITY_CACHE_SECONDS=60, ESCALATION_MAX_WAIT_SECONDS=900)
    day = sandbox_day(side, on=range(MONDAY, THURSDAY + 1))  # the next day is a working day too
    clean_sandbox.set_clock(clock_at(day, "17:59:45", "Europe/Paris"), frozen=True)
    scenarios: list[tuple[dict[str, object], str, str]] = [
        ({"workstreamId": CHAT}, "escalate", "representatives_available"),
        ({"workstreamId": BUSY_LINE, "maxWaitSeconds": 300}, "offer_alternative", "long_wait"),
        ({"workstreamId": BUSY_LINE}, "escalate", "short_wait"),  # the same check; the app's default, 900 s
        ({"workstreamId": OFFICE}, "offer_alternative", "closes_before_served"),  # 15 s left, 30 s of wait
    ]
    for body, decision, reason in scenarios:
        for language, answer in zip(("en", "fr"), decide(gateway, body), strict=True):
            assert (answer["decision"], answer["reason"]) == (decision, reason), (body, answer)
            assert answer["message"] == SAID[reason][language == "fr"]
            assert answer["availability"]["language"] == language and answer["nextOpeningTime"] is None
    busy = decide(gateway, {"workstreamId": BUSY_LINE, "maxWaitSeconds": 300})[0]
    default = decide(gateway, {"workstreamId": BUSY_LINE})[0]
    assert (busy["waitRange"], busy["maxWaitSeconds"], default["maxWaitSeconds"]) == ({"low": 300, "high": 900},
                                                                                      300, 900)
    assert busy["availability"]["averageWaitSeconds"] == 600 and busy["availability"]["status"] == "busy"

    # Two hours later on the org's clock; a check of its own, as the office's last answer is still fresh on the
    # gateway's clock, which did not move.
    clean_sandbox.set_clock(clock_at(day, "20:00:00", "Europe/Paris"), frozen=True)
    evening = {"workstreamId": OFFICE, "contextItems": unique()}
    for language, closed in zip(("en", "fr"), decide(gateway, evening), strict=True):
        assert (closed["decision"], closed["reason"], closed["waitRange"]) == ("closed", "outside_hours", None)
        assert closed["nextOpeningTime"] == clock_at(day + timedelta(days=1), "08:00:00", "Europe/Paris")
        assert closed["message"] == SAID["outside_hours"][language == "fr"]
    # One org call per check (CHAT, BUSY_LINE, OFFICE before closing, OFFICE once closed): deciding, wording in
    # two languages and deciding again with another limit cost nothing more.
    actions = clean_sandbox.stats()["actions"]
    assert sum(actions.values()) == 4, actions


def test_the_decisions_errors_are_the_checks(gateway, clean_sandbox):
    unknown = gateway.post("escalation/decision", {"conversationId": UNKNOWN})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    both = gateway.post("escalation/decision", {"conversationId": CONVERSATION, "workstreamId": CHAT})
    assert both.status_code == 400 and both.json()["error"]["target"] == "workstreamId"
    neither = gateway.post("escalation/decision", {"maxWaitSeconds": 60})
    assert neither.status_code == 400 and neither.json()["error"]["target"] == "conversationId"
    assert clean_sandbox.stats()["actions"].get("CCaaS_GetRepresentativeAvailabilityForConversation", 0) == 1
    keyless = gateway.session.post(f"{gateway.url}/api/escalation/decision", json={"conversationId": CONVERSATION},
                                   headers={"x-functions-key": ""}, timeout=10)
    assert keyless.status_code == 401

