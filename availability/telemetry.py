"""The app's telemetry through the OpenTelemetry API only: the metrics docs/operations.md lists, a span per request and
one per upstream call.

Which SDK and exporter receive them is the host's business: in Azure the Python worker configures the Azure
Monitor distro; locally the local host configures the SDK towards the sandbox; with neither, the API's no-op
implementation makes every call here nearly free. The API itself is imported on first use, not at app import.
Attributes never hold a secret, a token or anything a caller sent: endpoint names, status codes, action names,
results and the gateway's own id of a request only (a caller's own `x-correlation-id` is echoed, never recorded).
The distro the worker configures in Azure also turns on the requests and urllib3 instrumentations, which record the
full URL of every outgoing request: the app's own requests carry no secret in theirs (the org, Key Vault, storage),
but a delivery's URL is the receiver's secret (a flow's callback signs itself in its query string), so deliveries
are written over plain sockets, which nothing instruments.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

NAME = "availability"

REQUESTS = "availability.requests"
CACHE_LOOKUPS = "availability.cache.lookups"
UPSTREAM_CALLS = "availability.upstream.calls"
UPSTREAM_DURATION = "availability.upstream.duration"
UPSTREAM_THROTTLED = "availability.upstream.throttled"
UPSTREAM_CIRCUIT = "availability.upstream.circuit"
SNAPSHOT_ROWS = "availability.snapshot.rows"
DELIVERIES = "availability.notifications.deliveries"
SHARED_STATE_FAILURES = "availability.state.failures"
PROFILE_BUILDS = "availability.profile.builds"

_lock = threading.Lock()
_instruments: dict[str, Any] = {}


def _instrument(name: str) -> Any:
    instrument = _instruments.get(name)
    if instrument is None:
        with _lock:
            if not _instruments:
                _create()
            instrument = _instruments[name]
    return instrument


def _create() -> None:
    from opentelemetry import metrics, trace

    meter = metrics.get_meter(NAME)
    _instruments.update({
        REQUESTS: meter.create_counter(REQUESTS, description="HTTP requests answered, by endpoint and status"),
        CACHE_LOOKUPS: meter.create_counter(CACHE_LOOKUPS, description="Answers looked up: hit, shared, miss "
                                                                       "or stale"),
        UPSTREAM_CALLS: meter.create_counter(UPSTREAM_CALLS, description="Calls to the org, by action and status"),
        UPSTREAM_DURATION: meter.create_histogram(UPSTREAM_DURATION, unit="ms",
                                                  description="Time the org took to answer, by action"),
        UPSTREAM_THROTTLED: meter.create_counter(UPSTREAM_THROTTLED, description="Calls held back: by the org's "
                                                                                 "429 or by the app's budget"),
        UPSTREAM_CIRCUIT: meter.create_counter(UPSTREAM_CIRCUIT, description="The org's circuit opened (it fails: "
                                                                             "no call until a probe) or closed"),
        SNAPSHOT_ROWS: meter.create_counter(SNAPSHOT_ROWS, description="Snapshot rows written, ok or error"),
        DELIVERIES: meter.create_counter(DELIVERIES, description="Change notifications: delivered, retried or "
                                                                 "failed"),
        SHARED_STATE_FAILURES: meter.create_counter(
            SHARED_STATE_FAILURES, description="Times shared-state storage was found failing: the instance answered "
                                               "with its own state meanwhile"),
        PROFILE_BUILDS: meter.create_counter(PROFILE_BUILDS, description="Workstream profiles built from the "
                                                                         "snapshot table for best times: ok or error"),
        "tracer": trace.get_tracer(NAME),
    })


def count_request(endpoint: str, status_code: int) -> None:
    _instrument(REQUESTS).add(1, {"endpoint": endpoint, "status_code": status_code})


def count_cache_lookup(result: str, lookups: int = 1) -> None:
    """`result`: hit (this instance's cache), shared (another instance's answer), miss, or stale."""
    _instrument(CACHE_LOOKUPS).add(lookups, {"result": result})


def count_throttled(source: str) -> None:
    """`source`: org (a 429 or its Retry-After), budget (AVAILABILITY_MAX_CALLS_PER_MINUTE) or concurrency
    (AVAILABILITY_MAX_CONCURRENT_CALLS)."""
    _instrument(UPSTREAM_THROTTLED).add(1, {"source": source})


def count_circuit(state: str) -> None:
    """`state`: open (the org fails: calls are held, then one probe) or closed (a probe was answered)."""
    _instrument(UPSTREAM_CIRCUIT).add(1, {"state": state})


def count_snapshot_rows(result: str, rows: int = 1) -> None:
    """`result`: ok or error."""
    if rows:
        _instrument(SNAPSHOT_ROWS).add(rows, {"result": result})


def count_shared_state_failure() -> None:
    """Table Storage failed the shared state: this instance goes on alone for a few seconds."""
    _instrument(SHARED_STATE_FAILURES).add(1)


def count_profile_build(result: str) -> None:
    """`result`: ok, or error (the snapshot table could not be read)."""
    _instrument(PROFILE_BUILDS).add(1, {"result": result})


def count_delivery(result: str) -> None:
    """`result`: delivered, retried or failed."""
    _instrument(DELIVERIES).add(1, {"result": result})


def request_span(endpoint: str, correlation_id: str) -> AbstractContextManager[Any]:
    """The span of one HTTP request, carrying the gateway's own id for it, `correlation_id`, never one a caller
    chose (a context manager that gives the span)."""
    span: AbstractContextManager[Any] = _instrument("tracer").start_as_current_span(
        f"availability {endpoint}", attributes={"availability.endpoint": endpoint,
                                                "availability.correlation_id": correlation_id})
    return span


class UpstreamCall:
    """One call to the org as it is being made: set `status_code` once it answered."""

    def __init__(self) -> None:
        self.status_code: int | None = None


@contextmanager
def upstream_call(action: str) -> Iterator[UpstreamCall]:
    """A child span, a count and a duration for one call to the org (`action`: an action or entity set name)."""
    call = UpstreamCall()
    started = time.perf_counter()
    with _instrument("tracer").start_as_current_span(
            f"dataverse {action}", attributes={"availability.action": action}) as span:
        try:
            yield call
        finally:
            status = call.status_code or 0  # 0: no answer (timeout, connection refused)
            span.set_attribute("http.response.status_code", status)
            _instrument(UPSTREAM_CALLS).add(1, {"action": action, "status_code": status})
            _instrument(UPSTREAM_DURATION).record((time.perf_counter() - started) * 1000, {"action": action})
