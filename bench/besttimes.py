"""The best-times figures, measured on a sandbox of their own.

- Calibration: the calibration scenario states, per hour of the week, how likely a representative is free
  (sandbox/scenarios/calibration.toml, drawn by a seeded generator every 5-minute slot). Eight weeks of its
  snapshots are backfilled through the timer's own run at every slot of the default schedule, the app's
  `ProfileCache` reads them back from Azurite, and each open hour of the week's predicted share
  (`availableShare`) is compared with the scenario's true probability: `best_times_calibration_mae` (mean absolute
  error, target ≤ 0.08) and `best_times_calibration_coverage` (how often, in %, the true probability is at or
  above `shareLow`, target ≥ 85). Closed hours, where both are trivially 0, are left out.
- Cost: 1,000 requests for the one workstream (50 concurrent) through a local host: profile builds (from its
  log, target ≤ 1 within the snapshot interval) and org calls (from the sandbox's counts, target 0).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from devtools.backfill import backfill_sandbox
from devtools.sandbox_client import SandboxControl, sandbox_app
from devtools.stack import ROOT, Stack
from sandbox import load_scenario

SCENARIO = ROOT / "sandbox" / "scenarios" / "calibration.toml"
WORKSTREAM = "c0ffee02-0000-4000-8000-000000000001"
QUEUE = "c0ffee01-0000-4000-8000-000000000001"
ZONE = "Europe/Paris"  # the queue's zone: the profile counts the hours of its week
WEEKS = 8
REQUESTS = 1000
CONCURRENCY = 50
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
QUIET = "0 0 0 1 1 *"  # the host's own timer stays still: the counts are the requests' alone


def measure_best_times(state_dir: Path, say: Callable[[str], None], *, weeks: int = WEEKS,
                       requests_count: int = REQUESTS, concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """Both figures on a stack of their own (the calibration scenario's sandbox and an Azurite)."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("AVAILABILITY_", "SNAPSHOT_", "DATAVERSE_", "BEST_TIMES_"))}
    stack = Stack(scenario=SCENARIO, state_dir=state_dir, log_dir=state_dir / "logs", environ=environ, quiet=True)
    try:
        sandbox = stack.start_sandbox()
        stack.start_azurite()
        table = f"Calibration{uuid.uuid4().hex[:12]}"
        settings = stack.app_settings({"SNAPSHOT_TABLE": table, "SNAPSHOT_WORKSTREAMS": WORKSTREAM,
                                       "BEST_TIMES_TIME_ZONE": ZONE})
        say(f"best times: backfilling {weeks} weeks of the calibration scenario, every slot of "
            f"{settings['SNAPSHOT_SCHEDULE']} ...")
        started = time.monotonic()
        summary = backfill_sandbox(settings, sandbox_url=sandbox["url"], ca_bundle=sandbox["caBundle"], days=7 * weeks)
        backfilled = time.monotonic() - started
        if summary.failed:
            raise RuntimeError(f"the backfill failed: {summary.line()}")
        results = calibration(settings, weeks)
        results.update(best_times_backfill_rows=summary.rows, best_times_backfill_seconds=round(backfilled, 1))
        say(f"best times: {requests_count:,} requests for one workstream, {concurrency} concurrent, fresh host ...")
        results.update(requests_for_one_workstream(stack, SandboxControl(sandbox["url"], sandbox["caBundle"]), table,
                                                   requests_count, concurrency))
        return results
    finally:
        stack.stop()


def _true_probability(queue: Any, zone: ZoneInfo, weekday: int, hour: int, end: datetime) -> float:
    """The scenario's probability in the middle of that local hour of the week, in the last week of the history."""
    day = end.astimezone(zone).date()
    day -= timedelta(days=(day.weekday() - weekday) % 7 + 7)  # a whole week before the end: inside the history
    return float(queue.free_probability_at(datetime.combine(day, clock(hour, 30), zone).astimezone(UTC)))


def calibration(settings: dict[str, str], weeks: int) -> dict[str, Any]:
    """The profile the app builds from the backfilled table, hour by hour against the scenario's truth."""
    app = sandbox_app(settings)
    try:
        started = time.monotonic()
        profile = app.profiles.profile(WORKSTREAM)
        built = time.monotonic() - started
    finally:
        app.close()
    queue = load_scenario(SCENARIO).queues[QUEUE]
    zone = ZoneInfo(ZONE)
    errors: dict[str, float] = {}
    covered = 0
    for cell in profile.cells:
        if not cell.operating:
            continue
        truth = _true_probability(queue, zone, cell.weekday, cell.hour, profile.end)
        errors[f"{DAYS[cell.weekday]} {cell.hour:02d}:00"] = abs((cell.share or 0.0) - truth)
        covered += truth >= cell.share_low
    hours = len(errors)
    worst = max(errors, key=errors.__getitem__)
    return {
        "best_times_calibration_mae": round(statistics.fmean(errors.values()), 4),
        "best_times_calibration_coverage": round(100 * covered / hours, 1),
        "best_times_calibration_hours": hours,
        "best_times_calibration_weeks": profile.weeks,
        "best_times_calibration_snapshots": profile.snapshots,
        "best_times_calibration_worst_error": round(errors[worst], 4),
        "best_times_calibration_worst_hour": worst,
        "best_times_profile_build_seconds": round(built, 2),
        "best_times_weeks": weeks,
    }


def requests_for_one_workstream(stack: Stack, control: SandboxControl, table: str, count: int,
                                concurrency: int) -> dict[str, Any]:
    """`count` best-times requests for one workstream on a fresh host: profile builds and org calls."""
    host = stack.start_host(port=0, name="bench-best-times", extra_settings={
        "SNAPSHOT_TABLE": table, "SNAPSHOT_SCHEDULE": QUIET, "NOTIFY_SCHEDULE": QUIET,
        "SNAPSHOT_WORKSTREAMS": WORKSTREAM, "BEST_TIMES_TIME_ZONE": ZONE})
    control.reset()
    url = f"{host.url}/api/workstreams/{WORKSTREAM}/best-times"
    local = threading.local()
    latencies: list[float] = []

    def ask(index: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        response = session.get(url, params={"count": str(1 + index % 10), "tz": ZONE},
                               headers={"x-functions-key": host.function_key}, timeout=30)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"best times answered {response.status_code}: {response.text[:200]}")

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(ask, range(count)))
    elapsed = time.monotonic() - started
    stats = control.stats()
    control.close()
    log = host.process.log_path.read_text(encoding="utf-8", errors="replace")
    return {
        "best_times_requests": count,
        "best_times_requests_seconds": round(elapsed, 2),
        "best_times_median_ms": round(statistics.median(latencies) * 1000, 3),
        "best_times_profile_builds": log.count(f"Profile of workstream {WORKSTREAM} built"),
        "best_times_org_calls": sum(stats["actions"].values()) + stats.get("whoAmI", 0) + stats.get("queries", 0),
    }
