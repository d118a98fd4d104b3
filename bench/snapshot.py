"""The snapshot figure: the timer's run over every workstream, one at a time vs with its bounded parallelism."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from availability.snapshots import run_snapshot, schedule_slot
from availability.snapshots.runner import DEFAULT_CONCURRENCY
from devtools.sandbox_client import sandbox_app


class SnapshotSide:
    """One side of the comparison: its own service and store, kept across runs as a running app keeps them."""

    def __init__(self, app_settings: Mapping[str, str], workstreams: list[str], concurrency: int) -> None:
        # Cache and stale answers off: every run checks every workstream live, as the timer does. Each side has a
        # state table, so a calls budget (the default one), of its own: the runs of both within a minute would
        # spend more than one budget, while each run alone stays well inside it.
        app = sandbox_app({**app_settings, "AVAILABILITY_CACHE_SECONDS": "0", "AVAILABILITY_STALE_SECONDS": "0",
                           "AVAILABILITY_STATE_TABLE": f"Bench{uuid.uuid4().hex[:16]}"})
        app.credential.token()  # secret and token in memory before anything is timed
        self.service, self.settings, self.store = app.service, app.settings, app.snapshot_store
        self.store.ensure_table()
        self.workstreams = workstreams
        self.concurrency = concurrency
        self.slot = schedule_slot(self.settings.snapshot_schedule, datetime.now(UTC))

    def run(self) -> tuple[float, int]:
        """Seconds one run takes, and the rows it wrote (a new slot each run, as the timer's runs have)."""
        self.slot -= timedelta(minutes=5)
        started = time.perf_counter()
        summary = run_snapshot(self.slot, targets=self.workstreams, service=self.service, store=self.store,
                               concurrency=self.concurrency)
        elapsed = time.perf_counter() - started
        if summary.failed or summary.unwritten:
            raise RuntimeError(f"snapshot run failed: {summary.line()}")
        return elapsed, summary.ok


def snapshot_sides(app_settings: Mapping[str, str], workstreams: list[str]) -> tuple[SnapshotSide, SnapshotSide]:
    """One by one (the same work, check then write, for one workstream after another) and the timer's way."""
    return (SnapshotSide(app_settings, workstreams, concurrency=1),
            SnapshotSide(app_settings, workstreams, concurrency=DEFAULT_CONCURRENCY))
