"""`DataverseClient`: the two availability actions and the discovery queries, over a pooled session.

Budgets are explicit: every call gets `timeout` seconds in all (retries and waits included), each
attempt at most `attempt_timeout`. Within that budget:
- 429: wait `Retry-After` and try again if the wait fits, else raise `UpstreamThrottled` carrying it; until
  that moment passes, calls for any key fail fast (or wait, if it fits) instead of hammering the org.
- 5xx, connection errors and timeouts: retried with jittered exponential back-off, `max_attempts` in all.
- 401: one fresh token and one retry, then `UpstreamAuthFailed`.

The loop is written here rather than with azure-core's RetryPolicy because the policy sleeps a
Retry-After even past the caller's budget; this one turns such a wait into an error the caller can pass on.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
import urllib.request
import uuid
from collections import deque
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from .errors import (
    AvailabilityError,
    InvalidRequest,
    NotFound,
    UpstreamAuthFailed,
    UpstreamThrottled,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .model import Availability, BeforeConversationCheck, ForConversationCheck, parse_upstream

log = logging.getLogger(__name__)

BEFORE_CONVERSATION = "CCaaS_GetRepresentativeAvailabilityBeforeConversation"
FOR_CONVERSATION = "CCaaS_GetRepresentativeAvailabilityForConversation"
API_PATH = "/api/data/v9.2/"
MIN_RETRY_AFTER = 1.0  # seconds


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
    :keyword pool_size: pooled connections kept to the org (default 32).
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
        pool_size: int = 32,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base = org_url.rstrip("/") + API_PATH
        self._credential = credential
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self.backoff = backoff
        self.max_attempts = max_attempts
        self._clock = clock
        self._sleep = sleep
        self._session = pooled_session(org_url, pool_size)
        self.page_size = 500  # records per page of a discovery query
        self.max_pages = 100
        self._throttle_lock = threading.Lock()
        self._throttled_until = 0.0  # monotonic time before which the org asked us not to call
        self._recovering = False  # a 429 was seen and no call has succeeded since
        self._probing = False  # the one call allowed through after Retry-After is out
        self.max_calls_per_minute = max_calls_per_minute
        self._budget_lock = threading.Lock()
        self._budget_spent: deque[float] = deque()  # when each action call of the last minute went out

    # -- operations --
    def get_availability_before_conversation(self, check: BeforeConversationCheck, *, deadline: float | None = None,
                                             queue_until: float | None = None) -> Availability:
        """Call CCaaS_GetRepresentativeAvailabilityBeforeConversation for one workstream and context.

        `queue_until` lets the call wait for room in `max_calls_per_minute` past its own time budget (a timer
        run may queue until its next slot); by default such waits count against the budget like any other.
        """
        payload = self._send("POST", BEFORE_CONVERSATION, body=check.to_upstream_body(), deadline=deadline,
                             queue_until=queue_until, budgeted=True,
                             not_found=f"The workstream {check.workstream_id} is not known to the org.",
                             not_found_target="workstreamId")
        return parse_upstream(payload, datetime.now(timezone.utc))

    def get_availability_for_conversation(self, check: ForConversationCheck, *, deadline: float | None = None,
                                          queue_until: float | None = None) -> Availability:
        """Call CCaaS_GetRepresentativeAvailabilityForConversation for one active conversation."""
        payload = self._send("POST", FOR_CONVERSATION, body=check.to_upstream_body(), deadline=deadline,
                             queue_until=queue_until, budgeted=True,
                             not_found=f"The conversation {check.conversation_id} is not known to the org "
                                       "or is not active.", not_found_target="conversationId")
        return parse_upstream(payload, datetime.now(timezone.utc))

    def get_availability(self, check: BeforeConversationCheck | ForConversationCheck, *,
                         deadline: float | None = None, queue_until: float | None = None) -> Availability:
        if isinstance(check, ForConversationCheck):
            return self.get_availability_for_conversation(check, deadline=deadline, queue_until=queue_until)
        return self.get_availability_before_conversation(check, deadline=deadline, queue_until=queue_until)

    def list_workstreams(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Workstreams (`msdyn_liveworkstreams`): id, name, channel code, default queue."""
        query = "$select=msdyn_liveworkstreamid,msdyn_name,msdyn_streamsource,_msdyn_defaultqueue_value"
        if active_only:
            query += "&$filter=statecode eq 0"
        return self._list(f"msdyn_liveworkstreams?{query}")

    def list_queues(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Queues (`queues`): id, name, type."""
        query = "$select=queueid,name,msdyn_queuetype,msdyn_isomnichannelqueue"
        if active_only:
            query += "&$filter=statecode eq 0"
        return self._list(f"queues?{query}")

    def who_am_i(self) -> dict[str, Any]:
        """`WhoAmI`: proves the credentials and the application user."""
        return self._send("GET", "WhoAmI")

    def close(self) -> None:
        self._session.close()

    # -- the wire --
    def _list(self, path: str) -> list[dict[str, Any]]:
        """Every record of a query, page after page (`Prefer: odata.maxpagesize`, `@odata.nextLink`)."""
        records: list[dict[str, Any]] = []
        for _ in range(self.max_pages):
            page = self._send("GET", path, prefer=f"odata.maxpagesize={self.page_size}")
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

    def _send(self, method: str, path: str, *, body: dict | None = None, deadline: float | None = None,
              not_found: str = "The org does not know this resource.", not_found_target: str | None = None,
              prefer: str | None = None, budgeted: bool = False, queue_until: float | None = None
              ) -> dict[str, Any]:
        caller_deadline = deadline if deadline is not None else self._clock() + self.timeout
        deadline = min(caller_deadline, self._clock() + self.timeout)
        refreshed = False
        attempt = 0
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        while True:
            attempt += 1
            # Room in the app's own budget first, holding nothing (not the probe slot of the 429 gate below),
            # and leaving the call some time of its own after the wait.
            if budgeted and self._wait_for_budget((queue_until or deadline) - min(5.0, self.timeout / 2)):
                if queue_until:  # queueing was not the call's time: its own budget starts now
                    deadline = min(caller_deadline, queue_until, self._clock() + self.timeout)
            probe = self._wait_for_throttle(deadline)
            response = None
            try:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise UpstreamTimeout(message="Dynamics 365 did not answer within the time budget.")
                token = self._credential.token(deadline=deadline)
                request_id = str(uuid.uuid4())
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json",
                    "OData-MaxVersion": "4.0",
                    "OData-Version": "4.0",
                    "x-ms-client-request-id": request_id,
                }
                if data is not None:
                    headers["Content-Type"] = "application/json; charset=utf-8"
                if prefer:
                    headers["Prefer"] = prefer
                if budgeted and not self._take_budget():
                    attempt -= 1  # another call took the room meanwhile: wait again, this was no attempt
                    continue
                try:
                    response = self._session.request(
                        method, self._base + path, data=data, headers=headers,
                        timeout=(min(5.0, remaining), min(self.attempt_timeout, remaining)), allow_redirects=False)
                except requests.Timeout:
                    failure: AvailabilityError = UpstreamTimeout(
                        message="Dynamics 365 did not answer within the time budget.")
                    log.warning("Dataverse %s %s timed out (client request %s)", method, _name(path), request_id)
                except requests.RequestException as exc:
                    failure = UpstreamUnavailable(message="Dynamics 365 could not be reached.")
                    log.warning("Dataverse %s %s failed: %s (client request %s)", method, _name(path),
                                type(exc).__name__, request_id)
            finally:
                # Whatever happened (even a token failure before sending), the probe slot is given back.
                if response is not None and response.status_code == 429:
                    self._note_throttle(_retry_after(response))  # before the probe ends: no gap for others
                if probe:
                    self._end_probe(recovered=response is not None and response.status_code != 429)
            if response is not None:
                status = response.status_code
                log.debug("Dataverse %s %s -> %d (client request %s, service request %s)", method, _name(path),
                          status, request_id, response.headers.get("x-ms-service-request-id"))
                if status == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise UpstreamUnavailable(message="Dynamics 365 sent an answer that is not JSON.") from None
                if status >= 500 or status not in (400, 401, 403, 404, 405, 429):
                    log.warning("Dataverse %s %s -> %d (service request %s)", method, _name(path), status,
                                response.headers.get("x-ms-service-request-id"))
                if status == 401 and not refreshed:
                    refreshed = True
                    self._credential.invalidate(token)
                    continue
                if status == 429:
                    wait = _retry_after(response)
                    if self._clock() + wait < deadline:
                        continue  # _wait_for_throttle sleeps it off
                    raise UpstreamThrottled(message="Dynamics 365 is rate-limiting requests; try again later.",
                                            retry_after=max(1, round(wait)))
                if status < 500:
                    raise _client_error(status, _upstream_message(response), not_found, not_found_target)
                failure = UpstreamUnavailable(message=f"Dynamics 365 answered with HTTP {status}.")
            pause = self.backoff * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            if attempt >= self.max_attempts or self._clock() + pause >= deadline - 0.05:
                raise failure
            self._sleep(pause)

    def _note_throttle(self, wait: float) -> None:
        with self._throttle_lock:
            self._throttled_until = max(self._throttled_until, self._clock() + wait)
            self._recovering = True

    def _wait_for_throttle(self, deadline: float) -> bool:
        """Wait out the org's Retry-After if it fits the budget, else raise; True when this call is the probe.

        After a 429 the first call past the Retry-After moment goes alone (the probe); the others wait for
        its answer instead of all hitting the org at once, which would only make Retry-After grow.
        """
        while True:
            with self._throttle_lock:
                now = self._clock()
                wait = self._throttled_until - now
                if wait <= 0:
                    if not self._recovering:
                        return False
                    if not self._probing:
                        self._probing = True
                        return True
                    wait = 0.05  # a probe is out: look again shortly
            if now + wait >= deadline:
                raise UpstreamThrottled(message="Dynamics 365 is rate-limiting requests; try again later.",
                                        retry_after=max(1, round(self._throttled_until - now)))
            self._sleep(wait)

    def _wait_for_budget(self, wait_until: float) -> bool:
        """Wait until `max_calls_per_minute` (any 60 s) has room; True when that took a wait.

        Room that comes only after `wait_until` is not waited for: `UpstreamThrottled` with the wait instead.
        The org's own limit is per organization and undocumented for these actions (100 a minute for the
        older API), so an app sharing the org with others can keep to a share of it; without a budget the
        org's 429 and Retry-After are the only brake.
        """
        waited = False
        while True:
            wait = self._budget_wait()
            if wait <= 0:
                return waited
            now = self._clock()
            if now + wait > wait_until:
                raise UpstreamThrottled(message="The app's budget of calls to Dynamics 365 per minute "
                                                "(AVAILABILITY_MAX_CALLS_PER_MINUTE) is spent; try again later.",
                                        retry_after=max(1, math.ceil(wait)))
            self._sleep(wait)
            waited = True

    def _budget_wait(self) -> float:
        """Seconds until the budget has room (0 when it has, or when there is no budget)."""
        if not self.max_calls_per_minute:
            return 0.0
        with self._budget_lock:
            return self._budget_wait_locked()

    def _budget_wait_locked(self) -> float:
        now = self._clock()
        spent = self._budget_spent
        while spent and spent[0] <= now - 60:
            spent.popleft()
        return 0.0 if len(spent) < self.max_calls_per_minute else spent[0] + 60 - now

    def _take_budget(self) -> bool:
        """Count the call about to go out; False when others took the room since `_wait_for_budget`."""
        if not self.max_calls_per_minute:
            return True
        with self._budget_lock:
            if self._budget_wait_locked() > 0:
                return False
            self._budget_spent.append(self._clock())
            return True

    def _end_probe(self, *, recovered: bool) -> None:
        with self._throttle_lock:
            self._probing = False
            if recovered:
                self._recovering = False


def pooled_session(url: str, pool_size: int) -> requests.Session:
    """A requests Session for one host, with the environment's CA bundle and proxies read once.

    requests would otherwise re-read them (a scan of os.environ, a .netrc lookup) on every call, which is a
    good part of a call's CPU when the upstream is fast.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")}
    session.proxies = {} if proxies and urllib.request.proxy_bypass(urlsplit(url).hostname or "") else proxies
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _name(path: str) -> str:
    return path.split("?", 1)[0]


def _retry_after(response: requests.Response) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); at least 1 s, and 1 s when unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError, IndexError):
            seconds = MIN_RETRY_AFTER
    # 0, a past date or garbage must not turn into a tight loop against a throttling org.
    return max(MIN_RETRY_AFTER, seconds) if seconds == seconds else MIN_RETRY_AFTER


def _upstream_message(response: requests.Response) -> str:
    """The Dataverse error message (`{"error": {"code", "message"}}`), trimmed; never the whole body."""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""
    return message[:300]


def _client_error(status: int, message: str, not_found: str, target: str | None) -> AvailabilityError:
    if status == 404:
        return NotFound(message=not_found, target=target)
    if status == 400:
        # The org's own words go to the log, not to the caller (they may name the org's internals).
        log.warning("Dynamics 365 answered 400: %s", message or "(no message)")
        return InvalidRequest(message="Dynamics 365 rejected the request (for example a context item whose type "
                                      "differs from the one the org defines).")
    if status in (401, 403):
        return UpstreamAuthFailed(
            message="Dynamics 365 refused the app's credentials (the application user may be missing or lack "
                    "the Omnichannel administrator role).")
    if status == 405:
        return UpstreamUnavailable(message="Dynamics 365 does not allow this API in the org.")
    return UpstreamUnavailable(message=f"Dynamics 365 answered with HTTP {status}.")
