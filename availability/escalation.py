"""The escalation decision: should an AI agent hand the customer to a representative now? One availability answer
in; a decision, its reason, the expected wait as a range, the next opening and a sentence the agent can say out.

The rules are written once, here (`RULES`, tried in order, the first that applies decides), and every caller gets
the same ones: the HTTP action `POST /api/escalation/decision` and the MCP tool `decide_escalation`. The table of
docs/agents.md is these rules in words; a test holds the two together.

The expected wait is the org's average (`averageWaitSeconds`), said as a range around it rather than as one
figure, which customers take for a promise: from half of it to half as much again, rounded outwards to what is
said (whole minutes; 5 minutes past 20 minutes; hours past 2 hours). Where the snapshot history of this hour of
the week is at hand (`HourHistory`), the range widens to what it recorded and a time to come back is suggested.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

from .answer import Availability, availability_message, format_time, spoken_time
from .language import SOURCE, translations

__all__ = ["RULES", "SPREAD", "Decision", "EscalationDecision", "HourHistory", "Reason", "Rule", "Situation",
           "WaitRange", "decide", "decisions", "reasons", "wait_range"]

Decision = Literal["escalate", "offer_alternative", "closed"]
Reason = Literal["representatives_available", "short_wait", "long_wait", "closes_before_served",
                 "no_representatives", "outside_hours"]

SPREAD = 0.5  # the range runs from (1 - SPREAD) to (1 + SPREAD) times the average wait
MINUTE, HOUR = 60, 3600
# Steps the range's ends are rounded outwards to, by the size of its upper end: whole minutes up to 20 minutes,
# 5 minutes up to 2 hours, hours beyond.
_STEPS = ((20 * MINUTE, MINUTE), (2 * HOUR, 5 * MINUTE))


class _Words(Protocol):
    """A language's translations, as `message` uses them."""

    def gettext(self, message: str) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int) -> str: ...


def decisions() -> list[str]:
    """Every decision, in the order of the `Decision` type."""
    return list(get_args(Decision))


def reasons() -> list[str]:
    """Every reason, in the order of the `Reason` type."""
    return list(get_args(Reason))


@dataclass(frozen=True)
class Suggestion:
    """A coming window (UTC) in which the history suggests a representative is likeliest to be free."""

    start: datetime
    end: datetime
    confidence: str  # high / medium / low

    def to_json(self, now: datetime, time_zone: str | None, language: str) -> dict[str, Any]:
        return {"start": format_time(self.start), "end": format_time(self.end), "confidence": self.confidence,
                "message": self.message(now, time_zone, language)}

    def message(self, now: datetime, time_zone: str | None, language: str) -> str:
        from .besttimes.wording import window_message

        return window_message(self.start, self.end, now, time_zone, language)


@dataclass(frozen=True)
class HourHistory:
    """What the snapshot history recorded for one check at this hour of the week.

    :param wait_low_seconds: the short end of the waits recorded then (None: none recorded).
    :param wait_high_seconds: the long end.
    :param best: the first coming window the history suggests, if any.
    """

    wait_low_seconds: int | None = None
    wait_high_seconds: int | None = None
    best: Suggestion | None = None


@dataclass(frozen=True)
class WaitRange:
    """The expected wait, in seconds, as said: both ends whole steps of what `message` words."""

    low: int
    high: int

    def to_json(self) -> dict[str, int]:
        return {"low": self.low, "high": self.high}


def wait_range(average: int | None, history: HourHistory | None = None) -> WaitRange | None:
    """The range said for an average wait (None when the org gives none), widened to what `history` recorded."""
    if average is None:
        return None
    low, high = average * (1 - SPREAD), average * (1 + SPREAD)
    if history is not None and history.wait_low_seconds is not None and history.wait_high_seconds is not None:
        low, high = min(low, history.wait_low_seconds), max(high, history.wait_high_seconds)
    step = next((step for limit, step in _STEPS if high <= limit), HOUR)
    return WaitRange(int(low // step * step), max(step, math.ceil(high / step) * step))


@dataclass(frozen=True)
class Situation:
    """What the rules read: the answer, how long this customer may wait, and now on the org's clock."""

    answer: Availability
    max_wait: int
    org_now: datetime

    @property
    def wait(self) -> int | None:
        """The expected wait: the org's average, in seconds."""
        return self.answer.average_wait_seconds

    @property
    def closes_at(self) -> datetime | None:
        """When the open queue closes (while open, its next transition is its closing); None when closed or 24x7."""
        return self.answer.next_transition_time if self.answer.within_operating_hours else None

    @property
    def closes_before_served(self) -> bool:
        """True when the queue closes before the expected wait is over."""
        closes_at, wait = self.closes_at, self.wait
        return closes_at is not None and wait is not None and (closes_at - self.org_now).total_seconds() < wait


@dataclass(frozen=True)
class Rule:
    """One rule: when it applies (`applies`, and `when` in words for the docs), the decision and its reason."""

    reason: Reason
    decision: Decision
    when: str
    applies: Callable[[Situation], bool]


RULES: tuple[Rule, ...] = (
    Rule("outside_hours", "closed", "the queue is outside its operating hours",
         lambda s: not s.answer.within_operating_hours),
    Rule("closes_before_served", "offer_alternative",
         "the queue closes before the expected wait (`averageWaitSeconds`) is over, even with a representative free "
         "now", lambda s: s.closes_before_served),
    Rule("representatives_available", "escalate", "a representative is free now",
         lambda s: s.answer.representatives_available),
    Rule("no_representatives", "offer_alternative", "nobody is free and the org gives no expected wait",
         lambda s: s.wait is None),
    Rule("short_wait", "escalate", "nobody is free; the expected wait is at most `maxWaitSeconds`",
         lambda s: s.wait is not None and s.wait <= s.max_wait),
    Rule("long_wait", "offer_alternative", "nobody is free; the expected wait is longer than `maxWaitSeconds`",
         lambda s: s.wait is not None and s.wait > s.max_wait),
)


@dataclass(frozen=True)
class EscalationDecision:
    """A decision about one answer: what to do, why, the wait as a range, when the queue opens next."""

    decision: Decision
    reason: Reason
    wait_range: WaitRange | None
    next_opening_time: datetime | None
    max_wait: int
    answer: Availability
    best: Suggestion | None = None

    def message(self, now: datetime, time_zone: str | None = None, language: str = SOURCE) -> str:
        """What the agent can say, in `language`, times in `time_zone` (UTC when None): the decision's sentence,
        and the history's suggestion when there is one."""
        said = self._sentence(now, time_zone, language)
        if self.best is None:
            return said
        return f"{said} {self.best.message(self.answer.org_now(now), time_zone, language)}"

    def _sentence(self, now: datetime, time_zone: str | None, language: str) -> str:
        if self.reason == "outside_hours":
            return availability_message(self.answer, now, time_zone, language)
        words: _Words = translations(language)
        said = _range_words(words, self.wait_range) if self.wait_range is not None else None
        if self.reason == "closes_before_served":
            closes_at = self.answer.next_transition_time
            assert closes_at is not None  # the rule applies only with a closing time
            return words.gettext("The queue closes at {time}, before a representative could take you.").format(
                time=spoken_time(closes_at, time_zone, language))
        if self.reason == "representatives_available":
            if said is None:
                return words.gettext("A representative is available now.")
            return words.gettext("A representative is available now; the expected wait is {range}.").format(
                range=said)
        if self.reason == "no_representatives" or said is None:
            return words.gettext("No representative is free right now, and there is no estimate of when one will be.")
        if self.reason == "short_wait":
            return words.gettext("All representatives are busy right now; one should be with you in {range}."
                                 ).format(range=said)
        return words.gettext("All representatives are busy right now; the expected wait is {range}.").format(
            range=said)

    def to_json(self, now: datetime, time_zone: str | None = None, language: str = SOURCE) -> dict[str, Any]:
        """The decision's answer, `message` and the availability's in `language` for `time_zone`."""
        body: dict[str, Any] = {
            "decision": self.decision,
            "reason": self.reason,
            "message": self.message(now, time_zone, language),
            "waitRange": self.wait_range.to_json() if self.wait_range is not None else None,
            "nextOpeningTime": format_time(self.next_opening_time),
            "maxWaitSeconds": self.max_wait,
            "availability": self.answer.to_json(now, time_zone, language),
        }
        if self.best is not None:
            body["bestTime"] = self.best.to_json(self.answer.org_now(now), time_zone, language)
        return body


def decide(answer: Availability, *, max_wait: int, now: datetime, history: HourHistory | None = None
           ) -> EscalationDecision:
    """The decision for `answer` when the customer may wait `max_wait` seconds, `now` on the gateway's clock.

    `history` (None: none at hand) widens the wait range and suggests when to come back.
    """
    situation = Situation(answer, max_wait, answer.org_now(now))
    rule = next(rule for rule in RULES if rule.applies(situation))
    closed = rule.decision == "closed"
    # Outside hours the upstream's next transition is the next opening too: used when the window is missing.
    opening = (answer.next_opening_time or answer.next_transition_time) if closed else None
    suggested = history.best if history is not None and rule.decision != "escalate" else None
    return EscalationDecision(
        decision=rule.decision, reason=rule.reason,
        wait_range=None if closed else wait_range(answer.average_wait_seconds, history),
        next_opening_time=opening, max_wait=max_wait, answer=answer, best=suggested)


def _range_words(words: _Words, said: WaitRange) -> str:
    """The range as `message` says it: "less than a minute", "less than 3 minutes", "about 5 to 10 minutes"."""
    if said.high <= MINUTE:
        return words.gettext("less than a minute")
    if said.high <= 2 * HOUR:
        low, high = said.low // MINUTE, said.high // MINUTE
        if low == 0:
            return words.ngettext("less than {count} minute", "less than {count} minutes", high).format(count=high)
        return words.ngettext("about {low} to {high} minute", "about {low} to {high} minutes", high).format(
            low=low, high=high)
    low, high = said.low // HOUR, said.high // HOUR
    if low == 0:
        return words.ngettext("less than {count} hour", "less than {count} hours", high).format(count=high)
    return words.ngettext("about {low} to {high} hour", "about {low} to {high} hours", high).format(
        low=low, high=high)
