"""Availability history: one Table Storage row per workstream per schedule slot — the slots, the rows, the
store, the targets and the run that writes them."""

from .rows import HistoryQuery, Snapshot, row_key
from .runner import SnapshotRunner, SnapshotSummary, run_snapshot
from .slots import is_first_slot_of_day, next_slot, schedule_slot, schedule_zone, timer_slot
from .store import SnapshotStore
from .targets import WorkstreamTargets

__all__ = ["HistoryQuery", "Snapshot", "SnapshotRunner", "SnapshotStore", "SnapshotSummary", "WorkstreamTargets",
           "is_first_slot_of_day", "next_slot", "row_key", "run_snapshot", "schedule_slot", "schedule_zone",
           "timer_slot"]
