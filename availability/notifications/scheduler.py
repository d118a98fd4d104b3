"""The notify run's timed tasks: run at their time on bounded pools, until none is left or the run's deadline."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import AvailabilityError

log = logging.getLogger(__name__)

__all__ = ["Scheduler"]


class Scheduler:
    """Timed tasks on two bounded pools, until none is left or the deadline passes (later ones are dropped: the
    rows keep what they need, and a later run takes them up)."""

    def __init__(self, deadline: float, clock: Callable[[], float], pools: Mapping[str, ThreadPoolExecutor]) -> None:
        self.deadline = deadline
        self._clock = clock
        self._pools = pools
        self._heap: list[tuple[float, int, str, Callable[..., None], tuple[Any, ...]]] = []
        self._kept: set[int] = set()  # the order numbers of tasks that run even past the deadline
        self._condition = threading.Condition()
        self._active = 0
        self._order = itertools.count()
        self.dropped = 0

    def at(self, when: float, pool: str, task: Callable[..., None], *args: Any) -> bool:
        """Run `task(*args)` on `pool` at `when` (epoch seconds); False when that is past the deadline."""
        if when > self.deadline:
            return False
        with self._condition:
            heapq.heappush(self._heap, (when, next(self._order), pool, task, args))
            self._condition.notify()
        return True

    def soon(self, pool: str, task: Callable[..., None], *args: Any, delay: float = 0.0) -> None:
        """Run `task(*args)` on `pool` now (or `delay` seconds from now), even past the deadline: what was sent
        must be recorded."""
        with self._condition:
            order = next(self._order)
            self._kept.add(order)
            heapq.heappush(self._heap, (self._clock() + delay, order, pool, task, args))
            self._condition.notify()

    def run(self) -> None:
        while True:
            with self._condition:
                while True:
                    now = self._clock()
                    if now >= self.deadline and len(self._heap) > len(self._kept):
                        kept = [entry for entry in self._heap if entry[1] in self._kept]
                        self.dropped += len(self._heap) - len(kept)
                        self._heap = kept
                        heapq.heapify(self._heap)
                    if self._heap and self._heap[0][0] <= now:
                        _, order, pool, task, args = heapq.heappop(self._heap)
                        self._kept.discard(order)
                        self._active += 1
                        break
                    if not self._heap and not self._active:
                        return
                    wait = None
                    if self._heap:  # until the next task (or the deadline, when tasks are to be dropped then)
                        due = self._heap[0][0]
                        wait = (due if now >= self.deadline else min(due, self.deadline)) - now
                    self._condition.wait(wait if wait is None else max(0.01, wait))
            self._pools[pool].submit(self._call, task, args)

    def _call(self, task: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            task(*args)
        except AvailabilityError as exc:  # storage or the org failed: the rows keep the state, a later run goes on
            log.warning("Notify task %s failed: %s (%s)", getattr(task, "__name__", "?"), exc.message, exc.code)
        except Exception:  # a bug in one task must not stop the others
            log.exception("Notify task %s failed unexpectedly", getattr(task, "__name__", "?"))
        finally:
            with self._condition:
                self._active -= 1
                self._condition.notify()
