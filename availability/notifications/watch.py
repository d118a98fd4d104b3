"""Change detection and delivery: what one run of the `notify_subscribers` timer does.

Subscriptions asking the same upstream question share one **watch**, so the org's cost depends on the distinct
checks watched, never on the number of subscriptions. A run (every minute by default) reads every subscription
and watch, then for each watch:

- **A known transition** (the last answer's `nextTransitionTime`, turned from the org's clock into ours) that
  falls before the run's end is waited for: the watch asks 2 s after it, so an opening or closing is told within
  seconds, and within 90 s whatever the timer's jitter, since the run that follows asks at once for a transition
  already past. The org's clock is read anew at the start of a run that has subscriptions (`OrgClock`, one
  `WhoAmI`), so a transition is placed by the org's clock as it is now; a watch whose answer came before that clock
  was set to another time (a sandbox clock moved by days) starts afresh, as a new watch does: it asks at once, then
  at the transition that answer brings.
- **Other changes** (staffing): for a check without context (the one the snapshot timer records), the row of the
  current snapshot slot is used when it is newer than the watch's answer (the run polls for it during the slot's
  first 45 s), so such a watch costs nothing beyond the snapshot; any other check is asked again once its answer
  is nearly one snapshot interval old. Either way a staffing change is seen within one `SNAPSHOT_SCHEDULE` interval.
- A watch never asks twice within 60 s, and asks through the availability service (its cache and, with shared
  state, every instance's in-flight calls), so watching costs the org at most one call per distinct check per
  minute.

Each subscription whose watched field (status, or canEscalate) differs from the one last told gets a **pending
change**, written to its row (held by the run, in the same write) before anything is sent (store.py), then
delivered (delivery.py) by a pool of senders of its own: a slow receiver holds one sender for at most one
attempt's deadline, never the storage work nor, while fewer than `POST_CONCURRENCY` are slow at once, the others'
deliveries. A change's row is written twice, the change and then how its attempt went, each time in a transaction
with up to 99 others (a watch's changes together; the attempts' outcomes as they come, within 0.2 s). 5xx,
429 and timeouts are retried with back-off (2 s and 10 s within the run, then from later runs), 410 deletes the
subscription, and the 10th failed attempt in a row disables it. The run ends a few seconds before the timer's next
occurrence; what is left (a retry due later) is taken up by a later run, from the rows.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from .. import telemetry
from ..answer import Availability
from ..checks import BeforeConversationCheck
from ..dataverse.clock import OrgClock, jumped
from ..errors import AvailabilityError, ConfigurationError
from ..snapshots import HistoryQuery, SnapshotStore, next_slot, schedule_slot, schedule_zone, timer_slot
from .changes import ASK, change_body, merge_snapshot, status_since
from .delivery import MAX_FAILURES, Attempt, CallbackSender, backoff
from .scheduler import Scheduler
from .store import BATCH, Conflict, Gone, Pending, Subscription, SubscriptionStore, Watch

__all__ = ["GAP_SECONDS", "MARGIN_SECONDS", "Checks", "Notifier", "NotifySummary"]

log = logging.getLogger(__name__)

GAP_SECONDS = 60.0  # between two asks of one watch: the org's cost cap per distinct check
MARGIN_SECONDS = 2.0  # after a known transition before asking: clock skew, the Date header's whole seconds
SNAPSHOT_WAIT_SECONDS, SNAPSHOT_POLL_SECONDS = 45.0, 3.0  # a slot's rows are awaited that long, read that often
STAFFING_MARGIN_SECONDS = 75.0  # a staffing refresh is due this long before one snapshot interval has passed
LEASE_SECONDS = 30.0  # a run sending a change holds it that long (an attempt lasts at most ~10 s, DNS included)
RECORD_SECONDS = 0.2  # how long an attempt's row waits for others to be written with (unless BATCH are waiting)
ASK_SECONDS = 20.0  # the time budget of one ask
MIN_RUN_SECONDS, MAX_RUN_SECONDS, END_MARGIN_SECONDS = 20.0, 120.0, 3.0
DEFAULT_INTERVAL = 300.0  # seconds between snapshots when the schedule cannot say
# Deliveries sent at once. A sender mostly waits on its receiver (a few hundred milliseconds across the internet),
# so the senders, not the CPU, bound how fast a run tells everyone; a receiver that answers slowly (or not at all)
# holds one for one attempt's deadline, and with 1 % of them slow about a third of 128 senders were held at once,
# delaying the others' deliveries by seconds. Threads blocked on a socket cost little memory and no CPU.
POST_CONCURRENCY = 256


@dataclass(frozen=True)
class NotifySummary:
    """What one run did; `line()` is its log line (counts only: no URL, no secret, no caller text)."""

    subscriptions: int
    watches: int
    counts: Mapping[str, int]
    duration_seconds: float

    def line(self) -> str:
        counts = "".join(f" {name}={self.counts[name]}" for name in sorted(self.counts))
        return (f"Notify subscriptions={self.subscriptions} watches={self.watches}{counts} "
                f"duration={self.duration_seconds:.2f}s")



class Checks(Protocol):
    """Where the answers come from: the `AvailabilityService` (its cache, the shared state, then the org)."""

    def check(self, check: BeforeConversationCheck, *, deadline: float | None = None) -> Availability: ...


class Notifier:
    """Runs change detection and delivery for every subscription (one `run()` per timer occurrence).

    :keyword store: the `SubscriptionStore`.
    :keyword service: the `AvailabilityService` the watches ask through.
    :keyword sender: the `CallbackSender` deliveries go through.
    :keyword snapshots: the `SnapshotStore` whose rows stand in for asks of checks without context (None: none).
    :keyword schedule: `NOTIFY_SCHEDULE` (a run ends before its next occurrence).
    :keyword snapshot_schedule: `SNAPSHOT_SCHEDULE` (the staffing interval, and the slots rows are read for).
    :keyword snapshot_workstreams: `SNAPSHOT_WORKSTREAMS` (None: every workstream has rows).
    :keyword time_zone: `WEBSITE_TIME_ZONE`, where the schedules are evaluated.
    :keyword org_clock: the org's clock: transitions and snapshot slots are the org's times (default: this
        machine's clock, for a notifier that never talks to an org).
    """

    def __init__(self, *, store: SubscriptionStore, service: Checks, sender: CallbackSender,
                 snapshots: SnapshotStore | None = None, schedule: str = "0 * * * * *",
                 snapshot_schedule: str = "0 */5 * * * *", snapshot_workstreams: Iterable[str] | None = None,
                 time_zone: str | None = None, ask_concurrency: int = 8, delivery_concurrency: int = 16,
                 post_concurrency: int = POST_CONCURRENCY, org_clock: OrgClock | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.service = service
        self.sender = sender
        self.snapshots = snapshots
        self.schedule = schedule
        self.snapshot_schedule = snapshot_schedule
        self.snapshot_workstreams = None if snapshot_workstreams is None else {w.lower() for w in
                                                                               snapshot_workstreams}
        self.zone = schedule_zone(time_zone)
        self.ask_concurrency = ask_concurrency
        self.delivery_concurrency = delivery_concurrency
        self.post_concurrency = post_concurrency
        self.clock = clock
        self.monotonic = monotonic
        self.org_clock = org_clock if org_clock is not None else OrgClock(wall=clock, monotonic=monotonic)

    def run(self, *, past_due: bool = False) -> NotifySummary:
        """One run: detect the changes of every watched check and deliver them; raises when storage fails."""
        started = self.clock()
        if past_due:
            log.warning("Notify run is past due")
        subscriptions = self.store.subscriptions()
        watches = self.store.watches()  # those no subscription uses any more are deleted by the run
        if subscriptions:
            self.org_clock.refresh(0.0)  # transitions are placed by the org's clock as it is at the run's start
        run = _Run(self, started, self.deadline(started), subscriptions, watches)
        run.go()
        summary = NotifySummary(subscriptions=len(subscriptions), watches=len(run.groups), counts=dict(run.counts),
                                duration_seconds=round(self.clock() - started, 3))
        log.info(summary.line())
        return summary

    def deadline(self, started: float) -> float:
        """When a run that started at `started` stops starting work: a few seconds before the next occurrence."""
        moment = datetime.fromtimestamp(started, UTC)
        try:
            following = next_slot(self.schedule, timer_slot(self.schedule, moment, self.zone), self.zone).timestamp()
        except ConfigurationError:
            following = started + 60.0
        return min(max(following - END_MARGIN_SECONDS, started + MIN_RUN_SECONDS), started + MAX_RUN_SECONDS)

    def snapshot_interval(self, now: float) -> tuple[float, float] | None:
        """(the current snapshot slot on the org's clock, seconds to the next one) at `now` (this machine's epoch
        seconds), as the snapshot timer slots its rows; None when the schedule is unusable."""
        moment = self.org_clock.to_org(now)
        try:
            slot = schedule_slot(self.snapshot_schedule, moment, self.zone)
            return slot.timestamp(), (next_slot(self.snapshot_schedule, slot, self.zone) - slot).total_seconds()
        except ConfigurationError:
            return None

    def covered(self, check: BeforeConversationCheck) -> bool:
        """True when the snapshot timer records this very check (a workstream without context)."""
        return (self.snapshots is not None and not check.context_items and not check.engagement_context
                and (self.snapshot_workstreams is None or check.workstream_id.lower() in self.snapshot_workstreams))


class _Run:
    """The state of one run: the subscriptions by watch, the watches, and the tasks on their way."""

    def __init__(self, notifier: Notifier, started: float, deadline: float, subscriptions: list[Subscription],
                 watches: Mapping[str, Watch]) -> None:
        self.n = notifier
        self.started = started
        self.deadline = deadline
        self.lock = threading.RLock()
        self.recorded: list[tuple[str, Subscription]] = []  # attempts whose rows are to be written together
        self.counts: Counter[str] = Counter()
        self.groups: dict[str, dict[str, Subscription]] = {}
        for subscription in subscriptions:
            if subscription.enabled:
                self.groups.setdefault(subscription.check_key, {})[subscription.id] = subscription
        self.orphans = set(watches) - set(self.groups)
        self.watches = {key: watches.get(key) or Watch(key) for key in self.groups}
        self.checks: dict[str, BeforeConversationCheck] = {}
        for key, members in list(self.groups.items()):
            try:
                self.checks[key] = next(iter(members.values())).check()
            except AvailabilityError:  # a row written by a version with other rules: left alone, said once a run
                log.error("Subscriptions of watch %s hold a check this version cannot read", key)
                del self.groups[key]

    # -- the run --
    def go(self) -> None:
        if self.orphans:
            try:
                self.n.store.delete_watches(self.orphans)
            except AvailabilityError as exc:
                log.warning("Unused watches not deleted: %s", exc.message)
        with ThreadPoolExecutor(self.n.ask_concurrency, thread_name_prefix="notify-watch") as watch_pool, \
                ThreadPoolExecutor(self.n.delivery_concurrency, thread_name_prefix="notify-deliver") as deliveries, \
                ThreadPoolExecutor(self.n.post_concurrency, thread_name_prefix="notify-post") as posts:
            self.scheduler = Scheduler(self.deadline, self.n.clock, {"watch": watch_pool, "deliver": deliveries,
                                                                     "post": posts})
            for key in self.groups:
                self.compare(key)
                self.plan(key)
            self.scheduler.run()
        if self.scheduler.dropped:
            self.counts["left_for_next_run"] += self.scheduler.dropped

    def plan(self, key: str) -> None:
        """Schedule what the watch needs this run: an ask at its transition, a snapshot read, or a refresh."""
        watch, now = self.watches[key], self.n.clock()
        earliest = max(now, watch.asked_at + GAP_SECONDS)
        if watch.answer is None:
            self.ask_at(key, earliest)
            return
        if jumped(watch.answer.clock_offset.total_seconds(), self.n.org_clock.offset):
            # What the watch knows was true on the org's clock as it was and tells nothing now: it starts afresh,
            # as a new watch does (its first ask at once, then the transition that ask learns).
            self.learn(key, None, asked_at=0.0)
            self.ask_at(key, now)
            return
        transition = self.transition(watch.answer)
        if transition is not None and transition <= self.deadline:
            self.ask_at(key, max(transition, earliest))
            return
        interval = self.n.snapshot_interval(now)
        if interval is not None and self.n.covered(self.checks[key]):
            if watch.snapshot_slot != interval[0]:  # not "<": slots follow the org's clock, which may go back
                self.scheduler.at(now, "watch", self.snapshot, key, interval[0])
            return  # this slot's row was used: the next one comes with the next slot
        if self.staffing_due(watch, now):
            self.ask_at(key, earliest)

    def transition(self, answer: Availability) -> float | None:
        """When to ask after the answer's known transition, on this machine's clock (epoch seconds), placed by the
        org's clock as it is now; None without one."""
        if answer.next_transition_time is None:
            return None
        return self.n.org_clock.to_local(answer.next_transition_time) + MARGIN_SECONDS

    def staffing_due(self, watch: Watch, now: float) -> bool:
        interval = self.n.snapshot_interval(now)
        seconds = interval[1] if interval else DEFAULT_INTERVAL
        assert watch.answer is not None
        return now - watch.answer.retrieved_at.timestamp() >= max(GAP_SECONDS, seconds - STAFFING_MARGIN_SECONDS)

    def ask_at(self, key: str, when: float) -> None:
        self.scheduler.at(when, "watch", self.ask, key)

    # -- learning the availability --
    def ask(self, key: str) -> None:
        """Ask the org (through the service) for the watched check, then compare; a transition the answer brings
        before the run's end is asked for too (60 s after this ask at the earliest, unless the watch is new)."""
        asked_at, first = self.n.clock(), self.watches[key].asked_at == 0.0
        try:
            answer: Availability | None = self.n.service.check(self.checks[key],
                                                               deadline=self.n.monotonic() + ASK_SECONDS)
        except AvailabilityError as exc:
            log.warning("Watch %s: the check failed (%s)", key, exc.code)
            answer = None
        self.tally("asked")
        if answer is not None and answer.source == "stale":
            answer = None  # an old answer tells no change
        self.learn(key, answer, asked_at=asked_at)
        if answer is not None:
            self.compare(key)
            transition = self.transition(answer)
            if transition is not None and asked_at < transition <= self.deadline:
                self.ask_at(key, transition if first else max(transition, asked_at + GAP_SECONDS))

    def snapshot(self, key: str, slot: float) -> None:
        """Use the snapshot row of `slot` for the watch (it is a check without context), or wait for it a while."""
        assert self.n.snapshots is not None
        check, now = self.checks[key], self.n.clock()
        moment = datetime.fromtimestamp(slot, UTC)
        rows = self.n.snapshots.history(HistoryQuery(start=moment, end=moment, limit=1,
                                                     workstream_id=check.workstream_id.lower()),
                                        deadline=self.n.monotonic() + 10)
        watch = self.watches[key]
        if not rows:
            if self.n.org_clock.to_org(now + SNAPSHOT_POLL_SECONDS).timestamp() <= slot + SNAPSHOT_WAIT_SECONDS:
                self.scheduler.at(now + SNAPSHOT_POLL_SECONDS, "watch", self.snapshot, key, slot)
            elif self.staffing_due(watch, now):  # no row this slot (the timer failed, or skips it): ask
                self.ask_at(key, max(now, watch.asked_at + GAP_SECONDS))
            return
        assert watch.answer is not None
        merged = merge_snapshot(watch.answer, rows[0])
        if merged is ASK:
            self.learn(key, None, snapshot_slot=slot)
            self.ask_at(key, max(now, watch.asked_at + GAP_SECONDS))
        elif merged is None:  # not newer than what the watch knows, or the snapshot's check failed
            self.learn(key, None, snapshot_slot=slot)
            if self.staffing_due(self.watches[key], now):
                self.ask_at(key, max(now, watch.asked_at + GAP_SECONDS))
        else:
            assert isinstance(merged, Availability)
            self.tally("from_snapshot")
            self.learn(key, merged, snapshot_slot=slot)
            self.compare(key)

    def learn(self, key: str, answer: Availability | None, *, asked_at: float | None = None,
              snapshot_slot: float | None = None) -> None:
        """Record what the watch now knows, in memory and in its row."""
        with self.lock:
            watch = self.watches[key]
            changes: dict[str, Any] = {}
            if asked_at is not None:
                changes["asked_at"] = asked_at
            if snapshot_slot is not None:
                changes["snapshot_slot"] = snapshot_slot
            previous = watch.answer
            if answer is not None and (previous is None or answer.retrieved_at > previous.retrieved_at):
                changes["answer"] = answer
                changes["changed_at"] = status_since(previous, answer, watch.changed_at)
            watch = self.watches[key] = replace(watch, **changes)
        self.n.store.save_watch(watch)

    # -- telling the subscribers --
    def compare(self, key: str) -> None:
        """Give each subscription of the watch whose watched field changed a pending change, written already held by
        this run in transactions of up to `BATCH` rows, and send those at once."""
        with self.lock:
            watch, members = self.watches[key], list(self.groups.get(key, {}).values())
        writes: list[tuple[Subscription, bool]] = []
        for subscription in members:
            write = self.consider(key, subscription, watch)
            if write is not None:
                writes.append(write)
        for start in range(0, len(writes), BATCH):
            chunk = writes[start:start + BATCH]
            try:
                saved = self.save_all([(key, subscription) for subscription, _ in chunk])
            except AvailabilityError as exc:
                log.warning("Watch %s: %d subscriptions not compared (%s)", key, len(chunk), exc.code)
                continue
            for (_, send), written in zip(chunk, saved, strict=True):
                if send and written is not None:
                    self.tally("changes")
                    self.scheduler.at(self.n.clock(), "post", self.post, key, written)

    def consider(self, key: str, subscription: Subscription, watch: Watch) -> tuple[Subscription, bool] | None:
        """What the watch's answer means for the subscription: the row to write and whether to send its pending
        change then, or None (nothing to write: no change, another run sending it, or a retry scheduled)."""
        answer, now, pending = watch.answer, self.n.clock(), subscription.pending
        if pending is not None:
            if pending.lease_until > now:
                return None  # another run is sending it
            if answer is None or answer.retrieved_at <= pending.answered_at \
                    or subscription.watched(answer) == pending.value(subscription.notify_on):
                self.scheduler.at(max(now, pending.next_at), "deliver", self.deliver, key, subscription.id)
                return None  # not outdated: sent again when due
            if subscription.watched(answer) == subscription.seen:  # it went back to what the receiver knows
                return replace(subscription, pending=None), False
        elif answer is None or answer.retrieved_at <= subscription.seen_at:
            return None
        elif subscription.watched(answer) == subscription.seen:
            if answer.status != subscription.seen_status:  # canEscalate unchanged: keep previousStatus true
                return replace(subscription, seen_status=answer.status, seen_at=answer.retrieved_at), False
            return None
        # Written already held by this run (one write for the change and its lease), and posted at once.
        pending = replace(self.new_pending(subscription, watch), lease_until=now + LEASE_SECONDS)
        return replace(subscription, pending=pending), True

    def new_pending(self, subscription: Subscription, watch: Watch) -> Pending:
        answer = watch.answer
        assert answer is not None
        # The watch's change is on the org's clock; the subscriber's baseline (`seen_at`) on the gateway's, like
        # every answer's `retrieved_at`: it is read on the org's clock as the answer at hand gives it.
        seen = subscription.seen_at + answer.clock_offset
        changed_at = watch.changed_at if watch.changed_at and watch.changed_at > seen else answer.org_retrieved_at
        body = change_body(subscription, answer, changed_at, datetime.fromtimestamp(self.n.clock(), UTC))
        return Pending(id=str(uuid.uuid4()), body=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                       status=answer.status, can_escalate=answer.can_escalate, answered_at=answer.retrieved_at)

    def deliver(self, key: str, subscription_id: str, again: bool = True) -> None:
        """Take the subscription's pending change (a lease on its row) and send it once."""
        with self.lock:
            subscription = self.groups.get(key, {}).get(subscription_id)
        if subscription is None or subscription.pending is None:
            return
        now = self.n.clock()
        claimed = self.save(key, replace(subscription, pending=replace(subscription.pending,
                                                                       lease_until=now + LEASE_SECONDS)))
        if claimed is None:
            fresh = self.groups.get(key, {}).get(subscription_id)
            if again and fresh is not None and fresh.pending is not None and fresh.enabled \
                    and fresh.pending.id == subscription.pending.id and fresh.pending.lease_until <= now:
                self.deliver(key, subscription_id, again=False)
            return
        self.scheduler.soon("post", self.post, key, claimed)

    def post(self, key: str, claimed: Subscription) -> None:
        """Send the change this run holds, on the pool of senders (a slow receiver holds one sender, never the
        storage work), then record the attempt."""
        pending = claimed.pending
        assert pending is not None
        if pending.lease_until - self.n.clock() < self.n.sender.attempt_seconds + 1.0:  # waited for a sender
            renewed = self.save(key, replace(claimed, pending=replace(pending, lease_until=self.n.clock()
                                                                      + LEASE_SECONDS)))
            if renewed is None:
                return  # taken, changed or deleted meanwhile
            claimed, pending = renewed, renewed.pending
            assert pending is not None
        attempt = self.n.sender.post(claimed.callback_url, pending.body.encode("utf-8"), secret=claimed.secret,
                                     delivery_id=pending.id)
        self.scheduler.soon("deliver", self.record, key, claimed, attempt)

    def record(self, key: str, subscription: Subscription, attempt: Attempt) -> None:
        """What the attempt means for the subscription's row, and the next attempt when one is due this run."""
        pending = subscription.pending
        assert pending is not None
        now = self.n.clock()
        base = replace(subscription, last_delivery_at=datetime.fromtimestamp(now, UTC),
                       last_response_status=attempt.status)
        told: dict[str, Any] = {"pending": None, "seen_status": pending.status,
                                "seen_can_escalate": pending.can_escalate, "seen_at": pending.answered_at}
        if attempt.outcome == "delivered":
            result, updated = "delivered", replace(base, **told, consecutive_failures=0,
                                                   last_delivery_status="delivered")
        elif attempt.outcome == "gone":
            log.info("Subscription %s deleted: its callback at %s answered 410 Gone", subscription.id,
                     subscription.callback_host)
            self.n.store.delete(subscription.id)
            self.forget(key, subscription.id)
            self.count("failed")
            return
        else:
            failures = subscription.consecutive_failures + 1
            log.warning("Subscription %s: delivery %s to %s failed (%s); %d in a row", subscription.id, pending.id,
                        subscription.callback_host, attempt.reason, failures)
            if failures >= MAX_FAILURES:
                log.warning("Subscription %s disabled after %d failed deliveries in a row", subscription.id, failures)
                result, updated = "failed", replace(base, pending=None, enabled=False, consecutive_failures=failures,
                                                    last_delivery_status="failed")
            elif attempt.outcome == "retry":
                tries = pending.failures + 1
                retry = replace(pending, failures=tries, next_at=now + backoff(tries), lease_until=0.0)
                result, updated = "retried", replace(base, pending=retry, consecutive_failures=failures,
                                                     last_delivery_status="retrying")
            else:  # refused: this change is not sent again; the next one will be
                result, updated = "failed", replace(base, **told, consecutive_failures=failures,
                                                    last_delivery_status="failed")
        self.count(result)
        with self.lock:  # written with others, in a transaction, soon (and its retry scheduled then)
            self.recorded.append((key, updated))
            full, first = len(self.recorded) >= BATCH, len(self.recorded) == 1
        if full:
            self.write_recorded()
        elif first:
            self.scheduler.soon("deliver", self.write_recorded, delay=RECORD_SECONDS)

    def write_recorded(self) -> None:
        """Write the attempts recorded so far (up to `BATCH` rows in one transaction), and schedule their retries."""
        with self.lock:
            taken, self.recorded = self.recorded[:BATCH], self.recorded[BATCH:]
            if self.recorded:
                self.scheduler.soon("deliver", self.write_recorded)
        saved = self.save_all(taken)
        for (key, _), written in zip(taken, saved, strict=True):
            if written is not None and written.pending is not None:
                self.scheduler.at(written.pending.next_at, "deliver", self.deliver, key, written.id)

    # -- rows --
    def save(self, key: str, subscription: Subscription) -> Subscription | None:
        """Write the subscription's row on its ETag; None when it changed meanwhile (the fresh row is kept) or is
        gone."""
        try:
            saved = self.n.store.save(subscription)
        except Gone:
            self.forget(key, subscription.id)
            return None
        except Conflict:
            fresh = self.n.store.get(subscription.id)
            if fresh is None or not fresh.enabled:
                self.forget(key, subscription.id)
            else:
                with self.lock:
                    self.groups.setdefault(key, {})[fresh.id] = fresh
            return None
        with self.lock:
            if subscription.id in self.groups.get(key, {}):
                self.groups[key][subscription.id] = saved
        return saved

    def save_all(self, rows: list[tuple[str, Subscription]]) -> list[Subscription | None]:
        """Write the rows of distinct subscriptions (each with its watch's key) in one transaction; when one of them
        changed meanwhile, each one by one as `save` does. What was written, None where it was not."""
        try:
            written = self.n.store.save_all([subscription for _, subscription in rows])
        except AvailabilityError as exc:  # (a connection lost on the way, say): the rows' ETags settle it
            log.warning("%d subscription rows not written together (%s): one by one", len(rows), exc.code)
            written = None
        if written is None:
            return [self.save_or_none(key, subscription) for key, subscription in rows]
        with self.lock:
            for (key, _), subscription in zip(rows, written, strict=True):
                if subscription.id in self.groups.get(key, {}):
                    self.groups[key][subscription.id] = subscription
        return list(written)

    def save_or_none(self, key: str, subscription: Subscription) -> Subscription | None:
        """`save`, and None when storage fails too (the row keeps what it had; a later run goes on from it)."""
        try:
            return self.save(key, subscription)
        except AvailabilityError as exc:
            log.warning("Subscription %s: row not written (%s)", subscription.id, exc.code)
            return None

    def forget(self, key: str, subscription_id: str) -> None:
        with self.lock:
            self.groups.get(key, {}).pop(subscription_id, None)

    def tally(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1

    def count(self, result: str) -> None:
        """A delivery attempt's result: delivered, retried or failed (the API's metric)."""
        self.tally(result)
        telemetry.count_delivery(result)
