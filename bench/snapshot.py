"""The snapshot figure: the timer's run over every workstream, one at a time vs with its bounded parallelism."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from typing import Mapping

from availability.credentials import DataverseCredential
from availability.dataverse import DataverseClient
from availability.service import AvailabilityService
from availability.settings import load_settings
from availability.snapshots import DEFAULT_CONCURRENCY, SnapshotStore, run_snapshot, schedule_slot


def _service(app_settings: Mapping[str, str]) -> AvailabilityService:
    # The SDKs read the identity endpoint and the CA bundle from the process environment, as in Azure.
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "REQUESTS_CA_BUNDLE"):
        os.environ[name] = app_settings[name]
    settings = load_settings(app_settings)
    credential = DataverseCredential(settings)
    credential.token()  # secret and token in memory before anything is timed
    return AvailabilityService(DataverseClient(settings.dataverse_url, credential), cache_seconds=0, stale_seconds=0)


class SnapshotSide:
    """One side of the comparison: its own service and store, kept across runs as a running app keeps them."""

    def __init__(self, app_settings: Mapping[str, str], workstreams: list[str], concurrency: int) -> None:
        self.service = _service(app_settings)
        self.settings = load_settings(app_settings)
        self.store = SnapshotStore.from_settings(self.settings)
        self.store.ensure_table()
        self.workstreams = workstreams
        self.concurrency = concurrency
        self.slot = schedule_slot(self.settings.snapshot_schedule, datetime.now(timezone.utc))

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
