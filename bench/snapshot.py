"""The snapshot figure: the timer's run over every workstream, one at a time vs with its bounded parallelism."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
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


def _run(app_settings: Mapping[str, str], workstreams: list[str], concurrency: int) -> tuple[float, int]:
    service = _service(app_settings)
    settings = load_settings(app_settings)
    store = SnapshotStore.from_settings(settings)
    store.ensure_table()
    slot = schedule_slot(settings.snapshot_schedule, datetime.now(timezone.utc))
    started = time.perf_counter()
    summary = run_snapshot(slot, targets=workstreams, service=service, store=store, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    if summary.failed or summary.unwritten:
        raise RuntimeError(f"snapshot run failed: {summary.line()}")
    return elapsed, summary.ok


def snapshot_one_by_one(app_settings: Mapping[str, str], workstreams: list[str]) -> float:
    """The same work (check, then write the row) for one workstream after another."""
    return _run(app_settings, workstreams, concurrency=1)[0]


def snapshot_timer_way(app_settings: Mapping[str, str], workstreams: list[str]) -> tuple[float, int]:
    """The timer's run: checks in parallel within its concurrency bound, each row written as it comes."""
    return _run(app_settings, workstreams, concurrency=DEFAULT_CONCURRENCY)
