"""Blueprint: the snapshot timer. The work is `SnapshotRunner.run` (availability/snapshots/runner.py)."""

from __future__ import annotations

import logging

import azure.functions as func

from . import app
from .errors import AvailabilityError

log = logging.getLogger(__name__)
bp = func.Blueprint()


@bp.timer_trigger(schedule="%SNAPSHOT_SCHEDULE%", arg_name="timer", run_on_startup=False)
def snapshot_availability(timer: func.TimerRequest) -> None:
    """Record every target workstream's availability for the current schedule slot."""
    try:
        app.current().snapshot_runner.run(past_due=bool(timer.past_due))
    except AvailabilityError as error:
        # Logged without a trace (a setting or storage problem, not a bug); raised so the invocation fails.
        log.error("Snapshot run failed: %s (%s)", error.message, error.code)
        raise
