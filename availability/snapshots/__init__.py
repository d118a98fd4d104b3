"""Availability history: one Table Storage row per workstream per schedule slot — the slots, the rows, the
store, the targets, the run that writes them, and the profile of a history by hour of the week."""

from .profile import HourStats, Profile, hours_of_week
from .rows import HistoryQuery, Snapshot, row_key
from .runner import SnapshotRunner, SnapshotSummary, run_snapshot
from .slots import is_first_slot_of_day, next_slot, schedule_slot, schedule_zone, timer_slot
from .store import SnapshotStore
from .targets import WorkstreamTargets

__all__ = ["HistoryQuery", "HourStats", "Profile", "Snapshot", "SnapshotRunner", "SnapshotStore", "SnapshotSummary",
           "WorkstreamTargets", "hours_of_week", "is_first_slot_of_day", "next_slot", "row_key", "run_snapshot",
           "schedule_slot", "schedule_zone", "timer_slot"]
