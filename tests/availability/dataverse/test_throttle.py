"""One instance's `RetryAfterGate`, `CallsBudget` and `CallSlots` on a clock the tests move: the org's Retry-After
is waited out to the moment and followed by one probe; a failing org is left alone for a pause that doubles with
each failed probe; no `per_minute + 1` calls ever fall within 60 s, nor a share's more; no call past the cap."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from availability.dataverse.throttle import (
    CIRCUIT_BASE_SECONDS,
    CIRCUIT_MAX_SECONDS,
    CallsBudget,
    CallSlots,
    RetryAfterGate,
    circuit_pause,
)
from availability.errors import UpstreamThrottled, UpstreamUnavailable
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


# -- the circuit -----------------------------------------------------------------------------------------------

def test_a_failure_holds_every_call_for_a_pause_then_lets_one_probe_through() -> None:
    clock = FakeClock()
    subject = gate(clock)
    subject.failed("HTTP 503", probe=False)
    pause = subject.open_for()
    assert 0.75 * CIRCUIT_BASE_SECONDS <= pause <= CIRCUIT_BASE_SECONDS
    with pytest.raises(UpstreamUnavailable):  # at once: a caller with an older answer serves it
        subject.wait(clock.now + 20)
    assert clock.slept == 0.0
    clock.advance(pause)
    assert subject.wait(clock.now + 20) is True  # the probe
    with pytest.raises(UpstreamUnavailable):  # while it is out, no second call
        subject.wait(clock.now + 20)
    subject.end_probe(recovered=True)
    assert subject.wait(clock.now + 20) is False and subject.failures == 0


def test_each_failed_probe_doubles_the_pause_up_to_its_cap() -> None:
    clock = FakeClock()
    subject = gate(clock)
    subject.failed("timeout", probe=False)
    pauses = []
    for _ in range(10):
        pauses.append(subject.open_for())
        clock.advance(pauses[-1])
        assert subject.wait(clock.now + 20) is True
        subject.failed("HTTP 500", probe=True)
        subject.end_probe(recovered=False)
    for index, pause in enumerate(pauses):
        top = min(CIRCUIT_MAX_SECONDS, CIRCUIT_BASE_SECONDS * 2 ** index)
        assert 0.75 * top <= pause <= top, (index, pauses)
    assert max(pauses) <= CIRCUIT_MAX_SECONDS


def test_calls_that_were_on_their_way_when_it_opened_do_not_lengthen_the_pause() -> None:
    clock = FakeClock()
    subject = gate(clock)
    subject.failed("HTTP 503", probe=False)
    for _ in range(20):
        subject.failed("HTTP 503", probe=False)
    assert subject.failures == 1 and subject.open_for() <= CIRCUIT_BASE_SECONDS


def test_a_retry_of_the_failed_call_waits_out_a_short_pause_not_a_long_one() -> None:
    clock = FakeClock()
    subject = gate(clock)
    subject.failed("HTTP 503", probe=False)
    assert subject.wait(clock.now + 20, retry=True) is True  # a blip: the retry waits and goes as the probe
    subject.failed("HTTP 503", probe=True)
    subject.end_probe(recovered=False)
    assert subject.open_for() > 1.0
    with pytest.raises(UpstreamUnavailable):
        subject.wait(clock.now + 20, retry=True)


def test_one_minute_of_outage_costs_the_org_a_handful_of_calls() -> None:
    # One check asked five times a second through a minute of outage, each call failing: only probes go.
    clock = FakeClock()
    subject = gate(clock)
    sent = 0
    start = clock.now
    while clock.now < start + 60:
        try:
            probe = subject.wait(clock.now + 20)
            sent += 1
            subject.failed("HTTP 503", probe=probe)
            if probe:
                subject.end_probe(recovered=False)
        except UpstreamUnavailable:
            pass
        clock.advance(0.2)
    assert 5 <= sent <= 10


def test_the_pause_is_drawn_below_its_doubling() -> None:
    draws = [circuit_pause(3) for _ in range(200)]
    top = 4 * CIRCUIT_BASE_SECONDS
    assert all(0.75 * top <= pause <= top for pause in draws) and len(set(draws)) > 100


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


def test_a_share_of_the_budget_allows_that_part_and_a_fraction_one_call_per_its_time() -> None:
    clock = FakeClock()
    subject = budget(clock, 30)
    subject.share(30 / 3)  # three instances share it
    sent = []
    while clock.now < 1_000 + 120:
        if subject.take():
            sent.append(clock.now)
        clock.advance(0.5)
    assert most_within(sent, 60) == 10
    clock = FakeClock()
    subject = budget(clock, 30)
    subject.share(30 / 100)  # a hundred instances: one call per 200 s each
    sent = []
    while clock.now < 1_000 + 600:
        if subject.take():
            sent.append(clock.now)
        clock.advance(1)
    assert [later - earlier for earlier, later in itertools.pairwise(sent)] == [200, 200]


def test_calls_given_elsewhere_count_against_the_share() -> None:
    clock = FakeClock()
    subject = budget(clock, 10)
    subject.record(4)
    subject.share(5)
    assert [subject.take() for _ in range(2)] == [True, False]


# -- the cap on calls in flight --------------------------------------------------------------------------------

def test_no_call_past_the_cap_and_a_slot_freed_goes_to_a_waiting_call() -> None:
    subject = CallSlots(2)
    subject.acquire(0)
    subject.acquire(0)
    with pytest.raises(UpstreamThrottled):
        subject.acquire(0)  # no wait allowed, none free
    freed = threading.Timer(0.05, subject.release)
    freed.start()
    subject.acquire(time.monotonic() + 5)  # waits for the one freed
    freed.join()
    assert subject.in_use == 2
    subject.resize(1)
    subject.release()
    with pytest.raises(UpstreamThrottled):
        subject.acquire(0)  # narrowed to one, and one is in use
    CallSlots(0).acquire(0)  # no cap: never refused
