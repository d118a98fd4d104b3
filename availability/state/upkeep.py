"""The shared state's upkeep, done in the background: the roster of instances, and the purge of old answers.

`Roster`: every instance keeps a row of its own in the roster's partition (`LastSeen`, written about once a minute)
and adds itself to `Active` in the throttle row when it first joins; about once a minute one instance (the one that
takes `CountedAt`) counts the rows seen in the last 150 s, deletes those gone for ten minutes and writes the count,
plus whoever joined meanwhile, to `Active`. `Active` is what the budget and the cap are shared by while storage
fails, and near the budget's end: it may count an instance gone or twice for a minute, never one too few.

`Purge`: once a generation of answers is past use (`Layout.purgeable`), one instance (the one that takes the purge's
lease in the throttle row) deletes its partitions whole, a hundred rows per transaction and a few thousand rows per
run, and writes how far it got in `PurgedThrough`; rows are listed by partition, never searched by a property.
"""

from __future__ import annotations

import logging

from ..dataverse.throttle import jitter
from .rows import SHARDS, Allowance, Conflict, Layout, Rows, as_number
from .throttle import SharedStorage, Throttle

log = logging.getLogger(__name__)

BEAT_SECONDS = 60.0  # an instance writes its roster row about this often
LIVE_SECONDS = 150.0  # a roster row written this recently counts as an active instance
FORGET_SECONDS = 600.0  # a roster row older than this is deleted
COUNT_SECONDS = 60.0  # the roster is counted about this often, by one instance
PURGE_LEASE_SECONDS = 120.0
PURGE_PAGES = 30  # pages of at most 100 rows one purge run deletes
BACKGROUND_SECONDS = 10.0  # storage time of one piece of upkeep


class Roster:
    """This instance in the org's roster, and the count of active instances (for all, by one of them).

    :param rows: the state's table.
    :param layout: where the roster and the throttle row live.
    :param storage: this instance's way to the throttle row.
    """

    def __init__(self, rows: Rows, layout: Layout, storage: SharedStorage) -> None:
        self._rows = rows
        self._layout = layout
        self._storage = storage
        self._next_beat = -1.0e18  # monotonic
        self.joined = False

    def due(self) -> bool:
        """True when this instance's roster row is to be written again."""
        return self._storage.monotonic() >= self._next_beat

    def beat(self, allowance: Allowance) -> None:
        """Write this instance's roster row (joining at the first time), then count the roster if it is due."""
        storage = self._storage
        self._next_beat = storage.monotonic() + BEAT_SECONDS * jitter(0.8, 1.2)
        self._rows.merge(self._layout.roster, {"RowKey": storage.owner, "LastSeen": storage.wall()}, allowance)
        if not self.joined:

            def join(row: Throttle) -> bool:
                row.joins += 1
                row.active += 1
                return True

            storage.throttle.change(join, allowance)
            self.joined = True
        else:
            storage.throttle.refresh(allowance, older_than=BEAT_SECONDS)  # the count known a minute old at most
        self._count(allowance)

    def _count(self, allowance: Allowance) -> None:
        storage = self._storage
        now = storage.wall()
        if storage.throttle.known().counted_at > now - COUNT_SECONDS * jitter(1.0, 1.5):
            return

        def take(row: Throttle) -> bool:
            if row.counted_at > now - COUNT_SECONDS:
                return False  # another instance counts
            row.counted_at, row.count_joins = now, row.joins
            return True

        taken = storage.throttle.change(take, allowance)
        if taken is None:
            return
        joins_then = taken.count_joins
        live, gone = 0, []
        for row in self._rows.every(self._layout.roster, allowance, select=("LastSeen",)):
            seen = as_number(row.values.get("LastSeen"))
            if seen >= now - LIVE_SECONDS:
                live += 1
            elif seen < now - FORGET_SECONDS:
                gone.append(str(row.values["RowKey"]))
        for start in range(0, len(gone), 100):
            try:
                self._rows.delete_all(self._layout.roster, gone[start:start + 100], allowance)
            except Conflict:
                break  # one came back meanwhile: the next count deletes the others

        def record(row: Throttle) -> bool:
            # Instances that joined since the count began may be in it or not: counted once more, never missed.
            row.active = max(1, live + max(0, row.joins - joins_then))
            return True

        storage.throttle.change(record, allowance)


class Purge:
    """Whole generations of answers deleted once past use, by one instance at a time.

    :param rows: the state's table.
    :param layout: where the answers and the throttle row live.
    :param storage: this instance's way to the throttle row.
    """

    def __init__(self, rows: Rows, layout: Layout, storage: SharedStorage) -> None:
        self._rows = rows
        self._layout = layout
        self._storage = storage

    def due(self) -> bool:
        """True when a generation is past use and no instance is known to be purging it."""
        storage = self._storage
        known, now = storage.throttle.known(), storage.wall()
        return (known.purged_through < self._layout.purgeable(now)
                and not (known.purger and known.purger != storage.owner
                         and known.purge_taken > now - PURGE_LEASE_SECONDS))

    def run(self, allowance: Allowance, pages: int = PURGE_PAGES) -> int:
        """Delete what is past use, `pages` of rows at most, if this instance takes the purge; returns how many."""
        storage = self._storage
        now, owner = storage.wall(), storage.owner
        newest = self._layout.purgeable(now)

        def take(row: Throttle) -> bool:
            if row.purged_through >= newest or (
                    row.purger and row.purger != owner and row.purge_taken > now - PURGE_LEASE_SECONDS):
                return False
            row.purge_taken, row.purger = now, owner
            return True

        taken = storage.throttle.change(take, allowance, max_age=0.0)
        if taken is None:
            return 0
        # Generations before the last three were deleted, or never held anything this version wrote.
        first = max(taken.purged_through + 1, newest - 2)
        deleted, left = 0, pages
        done = taken.purged_through
        for generation in range(first, newest + 1):
            for shard in range(SHARDS):
                count, left = self._empty(self._layout.partition(generation, shard), allowance, left)
                deleted += count
                if left <= 0:
                    break
            if left <= 0:
                break
            done = generation
        if done == taken.purged_through:
            return deleted

        def record(row: Throttle) -> bool:
            row.purged_through = max(row.purged_through, done)
            if row.purger == owner:
                row.purger, row.purge_taken = "", 0.0
            return True

        storage.throttle.change(record, allowance, max_age=0.0)
        if deleted:
            log.info("Deleted %d answers of the shared state past use (generations to %d)", deleted, done)
        return deleted

    def _empty(self, partition: str, allowance: Allowance, pages: int) -> tuple[int, int]:
        """Delete the rows of `partition`, `pages` pages at most: (rows deleted, pages left)."""
        deleted = 0
        while pages > 0:
            pages -= 1
            keys = [str(row.values["RowKey"]) for row in self._rows.page(partition, allowance)]
            if not keys:
                return deleted, pages + 1
            try:
                self._rows.delete_all(partition, keys, allowance)
            except Conflict:
                continue  # deleted meanwhile by another purge: list again
            deleted += len(keys)
            if len(keys) < 100:
                return deleted, pages
        return deleted, 0

