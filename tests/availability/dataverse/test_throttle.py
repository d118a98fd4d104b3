"""One instance's `RetryAfterGate` and `CallsBudget` on a clock the tests move: the org's Retry-After is waited
out to the moment and followed by one probe; no `per_minute + 1` calls ever fall within 60 s."""

from __future__ import annotations

import pytest

from availability.dataverse.throttle import CallsBudget, RetryAfterGate
from availability.errors import UpstreamThrottled
from tests.clock import FakeClock


def gate(clock: FakeClock) -> RetryAfterGate:
    return RetryAfterGate(clock=clock.monotonic, sleep=clock.sleep)


def budget(clock: FakeClock, per_minute: int) -> CallsBudget:
    return CallsBudget(per_minute, clock=clock.monotonic, sleep=clock.sleep)


def most_within(times: list[float], seconds: float) -> int:
    """The most of `times` that any `seconds`-long span holds."""
    return max((sum(1 for t in times if start <= t < start + seconds) for start in times), default=0)


# -- the gate --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("comes_after", [0.0, 10.0, 29.5, 29.99])
def test_no_call_passes_before_the_retry_after_has_passed_then_the_first_is_the_probe(comes_after: float) -> None:
    clock = FakeClock()
    subject = gate(clock)
    noted = clock.now
    subject.note(30)
    clock.advance(comes_after)
    assert subject.wait(noted + 60) is True  # the first call after it goes alone
    assert clock.now >= noted + 30
    assert clock.now <= noted + 30.1  # and not much later


def test_a_retry_after_past_the_deadline_is_an_error_at_once_with_its_seconds() -> None:
    clock = FakeClock()
    subject = gate(clock)
    subject.note(30)
    with pytest.raises(UpstreamThrottled) as raised:
        subject.wait(clock.now + 10)
    assert raised.value.retry_after == 30
    assert clock.slept == 0.0  # nothing waited for that could not end in time


def test_only_one_call_goes_after_a_retry_after_until_the_probe_is_answered() -> None:
    clock = FakeClock()
    subject = gate(clock)
    subject.note(1)
    assert subject.wait(clock.now + 5) is True  # the probe
    with pytest.raises(UpstreamThrottled):  # a second call while the probe is out: held to its deadline
        subject.wait(clock.now + 1)
    answered = clock.now + 0.5
    clock.at(answered, lambda: subject.end_probe(recovered=True))
    assert subject.wait(clock.now + 5) is False  # the org recovered: calls go, none of them a probe
    assert clock.now >= answered
    slept = clock.slept
    assert subject.wait(clock.now + 5) is False and clock.slept == slept  # and go at once from then on


def test_a_probe_answered_429_holds_calls_for_the_new_retry_after_and_then_probes_again() -> None:
    clock = FakeClock()
    subject = gate(clock)
    subject.note(1)
    assert subject.wait(clock.now + 5) is True
    subject.note(10)  # the probe's answer: 429 again
    subject.end_probe(recovered=False)
    noted = clock.now
    assert subject.wait(clock.now + 20) is True
    assert clock.now >= noted + 10


def test_without_a_retry_after_calls_pass_at_once() -> None:
    clock = FakeClock()
    subject = gate(clock)
    assert [subject.wait(clock.now + 1) for _ in range(100)] == [False] * 100
    assert clock.slept == 0.0


# -- the budget ------------------------------------------------------------------------------------------------

def test_no_more_than_the_budget_is_ever_sent_in_60_s_and_room_is_used_as_soon_as_it_comes() -> None:
    clock = FakeClock()
    per_minute = 7
    subject = budget(clock, per_minute)
    sent: list[float] = []
    start = clock.now
    while clock.now < start + 300:
        subject.wait(clock.now + 120)
        if subject.take():
            sent.append(clock.now)
        clock.advance(0.5)  # callers keep coming
    assert most_within(sent, 60) == per_minute
    # Room comes back 60 s after each call, not later: the eighth call goes exactly a minute after the first.
    assert sent[per_minute] - sent[0] == pytest.approx(60)
    assert len(sent) >= 5 * per_minute


def test_a_full_budget_refuses_the_next_call_and_says_when_room_comes() -> None:
    clock = FakeClock()
    subject = budget(clock, 3)
    first = clock.now
    for _ in range(3):
        assert subject.take()
        clock.advance(10)
    assert not subject.take()  # a fourth call within the minute
    with pytest.raises(UpstreamThrottled) as raised:
        subject.wait(clock.now + 5)  # room comes 30 s from now: more than the caller allows
    assert raised.value.retry_after == 30
    clock.advance(first + 59.9 - clock.now)
    assert not subject.take()  # the first call is still within the last 60 s
    assert subject.wait(clock.now + 60) is True  # waited for it
    assert clock.now == pytest.approx(first + 60)
    assert subject.take()


def test_a_budget_of_zero_holds_nothing() -> None:
    clock = FakeClock()
    subject = budget(clock, 0)
    assert all(subject.take() for _ in range(1000))
    assert subject.wait(clock.now) is False and clock.slept == 0.0
