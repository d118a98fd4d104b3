"""`DataverseClient`: the two availability actions and the discovery queries, over a pooled session.

Budgets are explicit: every call gets `timeout` seconds in all (retries and waits included), each
attempt at most `attempt_timeout`. Within that budget:
- 429: wait `Retry-After` and try again if the wait fits, else raise `UpstreamThrottled` carrying it; until
  that moment passes, calls for any key fail fast (or wait, if it fits) instead of hammering the org.
- 5xx, connection errors and timeouts: retried with jittered exponential back-off, `max_attempts` in all; each
  failure also opens the gate's circuit, so that other calls fail fast (`UpstreamUnavailable`) instead of asking
  a failing org, until one probe finds it back.
- 401: one fresh token and one retry, then `UpstreamAuthFailed`.
- Calls keep to the app's budget of calls per minute and its cap on calls in flight.

The loop is written here rather than with azure-core's RetryPolicy because the policy sleeps a
Retry-After even past the caller's budget; this one turns such a wait into an error the caller can pass on.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from .. import telemetry
from ..answer import Availability
from ..checks import Check
from ..errors import AvailabilityError, UpstreamThrottled, UpstreamTimeout, UpstreamUnavailable
from ..session import pooled_session
from . import wire
from .clock import OrgClock
from .throttle import THROTTLED, Budget, CallsBudget, CallSlots, Gate, RetryAfterGate, Slots, jitter

log = logging.getLogger(__name__)

SYNC_SECONDS = 3.0  # the time budget of a request that only reads the org's clock


class DataverseClient:
    """Client for a Dynamics 365 org's availability actions, shaped like an Azure SDK client.

    :param org_url: the org URL, e.g. ``https://contoso.crm.dynamics.com`` (from settings only).
    :param credential: object with ``token() -> str`` and ``invalidate(token)``.
    :keyword timeout: seconds one call may take in all (default 20).
    :keyword attempt_timeout: seconds one HTTP attempt may take (default 10).
    :keyword backoff: first back-off after a 5xx or connection error, doubled each retry (default 0.25 s).
    :keyword max_attempts: attempts after 5xx, connection errors and timeouts (default 3), so an outage is
        reported in about a second rather than at the end of the budget.
    :keyword max_calls_per_minute: action calls allowed in any 60 s (0, the default: no budget of its own);
        past it a call waits for room while its budget allows, else raises `UpstreamThrottled`.
    :keyword gate: where the org's Retry-After is kept (default: this process's own `RetryAfterGate`).
    :keyword budget: the calls budget to keep to (default: a `CallsBudget` of `max_calls_per_minute` in this
        process); the shared state gives both for all instances together.
    :keyword slots: the cap on calls in flight to keep to (default: `CallSlots` of `max_concurrent_calls` in this
        process, 0 for none); the shared state gives one for all instances together.
    :keyword session: the HTTP transport to the org (default: a pooled session of `pool_size` connections).
    :keyword pool_size: pooled connections kept to the org (default 32).
    :keyword org_clock: learns the org's clock from every answer's `Date` (default: a clock of this client's own,
        which asks `WhoAmI` when it must be read anew).
    """

    def __init__(
        self,
        org_url: str,
        credential: Any,
        *,
        timeout: float = 20.0,
        attempt_timeout: float = 10.0,
        backoff: float = 0.25,
        max_attempts: int = 3,
        max_calls_per_minute: int = 0,
        max_concurrent_calls: int = 0,
        session: requests.Session | None = None,
        pool_size: int = 32,
        gate: Gate | None = None,
        budget: Budget | None = None,
        slots: Slots | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        org_clock: OrgClock | None = None,
    ) -> None:
        self._base = org_url.rstrip("/") + wire.API_PATH
        self._credential = credential
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.backoff = backoff
        self.max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._session = session if session is not None else pooled_session(org_url, pool_size)
        self.page_size = 500  # records per page of a discovery query
        self.max_pages = 100
        self._gate = gate if gate is not None else RetryAfterGate(clock=clock, sleep=sleep)
        self._budget = budget if budget is not None else CallsBudget(max_calls_per_minute, clock=clock, sleep=sleep)
        self._slots = slots if slots is not None else CallSlots(max_concurrent_calls, clock=clock)
        self.org_clock = org_clock if org_clock is not None else OrgClock(sync=self._read_org_clock)

    # -- operations --
    def get_availability(self, check: Check, *, deadline: float | None = None,
                         queue_until: float | None = None) -> Availability:
        """Call the action that answers `check` (before or for a conversation) and read its answer.

        `queue_until` lets the call wait for room in `max_calls_per_minute` past its own time budget (a timer
        run may queue until its next slot); by default such waits count against the budget like any other.
        """
        not_found, target = wire.not_found_message(check)
        payload, org_time = self._send("POST", wire.action_of(check), body=wire.request_body(check),
                                       deadline=deadline, queue_until=queue_until, budgeted=True,
                                       not_found=not_found, not_found_target=target)
        return wire.parse_availability(payload, datetime.now(UTC), org_time)

    def admit(self, deadline: float | None = None, queue_until: float | None = None) -> bool:
        """Room in the calls budget for an action call with this `deadline`, held for this thread until its call
        takes it (or `release_admission`): waited for as the call itself would, else `UpstreamThrottled`."""
        return self._budget.wait(self._budget_wait_until(self._deadline(deadline, queue_until), queue_until))

    def release_admission(self) -> None:
        """The room `admit` found is not used: no call follows."""
        self._budget.release()

    def _deadline(self, deadline: float | None, queue_until: float | None) -> float:
        caller_deadline = deadline if deadline is not None else queue_until or self._clock() + self.timeout
        return min(caller_deadline, self._clock() + self.timeout)

    def _budget_wait_until(self, deadline: float, queue_until: float | None) -> float:
        # The wait leaves the call some time of its own after it.
        return (queue_until or deadline) - min(5.0, self.timeout / 2)

    def list_workstreams(self, *, active_only: bool = True, deadline: float | None = None,
                         queue_until: float | None = None) -> list[dict[str, Any]]:
        """Workstreams (`msdyn_liveworkstreams`): id, name, channel code, default queue.

        `deadline` (monotonic) bounds the whole query (every page); `queue_until` lets it wait out the org's
        Retry-After until then (a timer run's slot).
        """
        query = "$select=msdyn_liveworkstreamid,msdyn_name,msdyn_streamsource,_msdyn_defaultqueue_value"
        if active_only:
            query += "&$filter=statecode eq 0"
        return self._list(f"msdyn_liveworkstreams?{query}", deadline=deadline, queue_until=queue_until)

    def list_queues(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Queues (`queues`): id, name, type."""
        query = "$select=queueid,name,msdyn_queuetype,msdyn_isomnichannelqueue"
        if active_only:
            query += "&$filter=statecode eq 0"
        return self._list(f"queues?{query}")

    def who_am_i(self) -> dict[str, Any]:
        """`WhoAmI`: proves the credentials and the application user."""
        return self._send("GET", "WhoAmI")[0]

    def _read_org_clock(self) -> None:
        # The cheapest request there is: its answer's Date is what the clock learns from (no action call, so no
        # room in the calls budget is spent); a short budget, since nobody waits for an answer.
        self._send("GET", "WhoAmI", deadline=self._clock() + SYNC_SECONDS, attempts=1)

    def close(self) -> None:
        self._session.close()

    # -- the wire --
    def _list(self, path: str, *, deadline: float | None = None, queue_until: float | None = None
              ) -> list[dict[str, Any]]:
        """Every record of a query, page after page (`Prefer: odata.maxpagesize`, `@odata.nextLink`)."""
        records: list[dict[str, Any]] = []
        for _ in range(self.max_pages):
            page, _ = self._send("GET", path, prefer=f"odata.maxpagesize={self.page_size}", deadline=deadline,
                                  queue_until=queue_until)
            records.extend(page.get("value") or [])
            link = page.get("@odata.nextLink")
            if not link:
                return records
            path = self._path_within_org(link)
        raise UpstreamUnavailable(message=f"Dynamics 365 sent more than {self.max_pages} pages for one query.")

    def _path_within_org(self, link: Any) -> str:
        """`link`'s path and query under the org's Web API root; refused when it points anywhere else."""
        try:
            parts, base = urlsplit(str(link)), urlsplit(self._base)
            same_host = ((parts.scheme.lower(), parts.hostname, parts.port or 443)
                         == (base.scheme.lower(), base.hostname, base.port or 443))
        except ValueError:  # a port that is not a number
            same_host = False
        # The bearer token goes only to the org it was minted for.
        if not isinstance(link, str) or not same_host or not parts.path.lower().startswith(base.path.lower()):
            raise UpstreamUnavailable(message="Dynamics 365 sent a next-page link outside the org.")
        return parts.path[len(base.path):] + (f"?{parts.query}" if parts.query else "")

    def _send(self, method: str, path: str, *, body: dict[str, Any] | None = None, deadline: float | None = None,
              not_found: str = "The org does not know this resource.", not_found_target: str | None = None,
              prefer: str | None = None, budgeted: bool = False, queue_until: float | None = None,
              attempts: int | None = None) -> tuple[dict[str, Any], datetime | None]:
        """One exchange with retries inside the budget: the 200's JSON and the org's clock when it answered."""
        max_attempts = attempts or self.max_attempts
        caller_deadline = deadline if deadline is not None else queue_until or self._clock() + self.timeout
        deadline = self._deadline(deadline, queue_until)
        refreshed = False
        attempt = 0
        last_failure: AvailabilityError | None = None
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        while True:
            attempt += 1
            # Room in the app's own budget first, holding nothing (not the probe slot of the 429 gate below),
            # and leaving the call some time of its own after the wait.
            try:
                waited = budgeted and self._budget.wait(self._budget_wait_until(deadline, queue_until))
            except UpstreamThrottled:
                telemetry.count_throttled("budget")
                raise
            if waited and queue_until:  # queueing was not the call's time: its own budget starts now
                deadline = min(caller_deadline, queue_until, self._clock() + self.timeout)
            taken = False
            try:
                # The org's Retry-After: waited out within the call's budget, or until `queue_until` (a timer run
                # waits inside its slot), after which the call has its own budget again. While the org fails, the
                # circuit refuses at once (a retry of this call may wait out a short pause).
                before = self._clock()
                try:
                    probe = self._gate.wait(queue_until - min(5.0, self.timeout / 2) if queue_until else deadline,
                                            retry=last_failure is not None)
                except UpstreamThrottled:
                    telemetry.count_throttled("org")
                    raise
                except UpstreamUnavailable as circuit:
                    if last_failure is not None:  # this call's own failure says more than the circuit
                        if last_failure.retry_after is None:
                            last_failure.retry_after = circuit.retry_after
                        raise last_failure from None
                    raise
                if queue_until and self._clock() > before:
                    deadline = min(caller_deadline, queue_until, self._clock() + self.timeout)
                tried = self._attempt(method, path, data, deadline=deadline, prefer=prefer, budgeted=budgeted,
                                      probe=probe)
                if tried.outrun:
                    attempt -= 1  # another call took the room meanwhile: wait again, this was no attempt
                    continue
                taken = budgeted
            finally:
                if budgeted and not taken:
                    self._budget.release()
            response, failure, request_id = tried.response, tried.failure, tried.request_id
            if response is not None:
                status = response.status_code
                org_time = wire.org_date(response.headers)
                if org_time is not None:
                    self.org_clock.observe(org_time)
                log.debug("Dataverse %s %s -> %d (client request %s, service request %s)", method, _name(path),
                          status, request_id, response.headers.get("x-ms-service-request-id"))
                if status == 200:
                    try:
                        return response.json(), org_time
                    except ValueError:
                        raise UpstreamUnavailable(message="Dynamics 365 sent an answer that is not JSON.") from None
                if status >= 500 or status not in (400, 401, 403, 404, 405, 429):
                    log.warning("Dataverse %s %s -> %d (service request %s)", method, _name(path), status,
                                response.headers.get("x-ms-service-request-id"))
                if status == 401 and not refreshed:
                    refreshed = True
                    self._credential.invalidate(tried.token)
                    continue
                if status == 429:
                    telemetry.count_throttled("org")
                    wait = wire.retry_after(response.headers)
                    if self._clock() + wait < deadline:
                        continue  # the gate, noted above, holds the next attempt until Retry-After has passed
                    raise UpstreamThrottled(message=THROTTLED, retry_after=max(1, round(wait)))
                if status < 500:
                    raise wire.client_error(status, _error_message(response), not_found, not_found_target)
                failure = UpstreamUnavailable(message=f"Dynamics 365 answered with HTTP {status}.")
            assert failure is not None
            last_failure = failure
            pause = self.backoff * (2 ** (attempt - 1)) * jitter(0.5, 1.5)
            if attempt >= max_attempts or self._clock() + pause >= deadline - 0.05:
                held = self._gate.open_for()
                if isinstance(failure, UpstreamUnavailable) and failure.retry_after is None and held > 0:
                    failure.retry_after = math.ceil(held)  # the circuit it opened: come back once it lets calls go
                raise failure
            self._sleep(pause)

    def _attempt(self, method: str, path: str, data: bytes | None, *, deadline: float, prefer: str | None,
                 budgeted: bool, probe: bool) -> Attempt:
        """One attempt past the gate: a token, the budget's room taken, a slot, the request. The gate hears how it
        went (a 429, a failure, the probe's end) whatever happens."""
        tried = Attempt(request_id=str(uuid.uuid4()))
        response: requests.Response | None = None
        try:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise UpstreamTimeout()
            tried.token = self._credential.token(deadline=deadline)
            headers = {
                "Authorization": f"Bearer {tried.token}",
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
                "x-ms-client-request-id": tried.request_id,
            }
            if data is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            if prefer:
                headers["Prefer"] = prefer
            if budgeted and not self._budget.take():
                tried.outrun = True
                return tried
            try:
                # A slot among the calls in flight, leaving the call time of its own once it has one.
                self._slots.acquire(deadline - min(1.0, remaining / 2))
            except UpstreamThrottled:
                telemetry.count_throttled("concurrency")
                raise
            try:
                remaining = deadline - self._clock()
                if remaining <= 0.01:  # the slot came as the time ran out: no request with a timeout of nothing
                    raise UpstreamTimeout()
                tried.sent = True
                # The org is at fault for a timeout only when it had the whole of an attempt's time.
                tried.whole_time = remaining >= 0.9 * self.attempt_timeout
                with telemetry.upstream_call(_name(path)) as call:
                    response = tried.response = self._session.request(
                        method, self._base + path, data=data, headers=headers,
                        timeout=(min(5.0, remaining), min(self.attempt_timeout, remaining)), allow_redirects=False)
                    call.status_code = response.status_code
            except requests.Timeout:
                tried.failure = UpstreamTimeout()
                tried.org_failed = tried.whole_time
                log.warning("Dataverse %s %s timed out (client request %s)", method, _name(path), tried.request_id)
            except requests.RequestException as exc:
                tried.failure = UpstreamUnavailable(message="Dynamics 365 could not be reached.")
                tried.org_failed = True
                log.warning("Dataverse %s %s failed: %s (client request %s)", method, _name(path),
                            type(exc).__name__, tried.request_id)
            finally:
                self._slots.release()
        finally:
            # Whatever happened (even a token failure before sending), the probe slot is given back.
            status = response.status_code if response is not None else None
            if status == 429:
                assert response is not None
                self._gate.note(wire.retry_after(response.headers))  # before the probe ends: no gap for others
            elif (status is not None and status >= 500) or tried.org_failed:
                self._gate.failed(f"HTTP {status}" if status else type(tried.failure).__name__, probe=probe)
            if probe:
                self._gate.end_probe(recovered=status is not None and status != 429 and status < 500)
        return tried

    @property
    def max_calls_per_minute(self) -> int:
        return self._budget.per_minute


@dataclass
class Attempt:
    """One attempt as it went: the response (None when none came), the failure when the org could not be reached
    (`org_failed`: the org's fault, not the caller's time running out), whether the request was sent, and `outrun`
    when the budget's room was taken by another call meanwhile."""

    request_id: str
    token: str = ""
    response: requests.Response | None = None
    failure: AvailabilityError | None = None
    sent: bool = False
    whole_time: bool = False
    org_failed: bool = False
    outrun: bool = False


def _name(path: str) -> str:
    return path.split("?", 1)[0]


def _error_message(response: requests.Response) -> str:
    try:
        return wire.error_message(response.json())
    except ValueError:
        return ""
