"""HTTP caching of public answers: how long a browser or CDN may keep one (`Cache-Control`) and its validator (`ETag`).

- A fresh answer's `max-age` is what is left of its freshness in the gateway's own cache
  (`AVAILABILITY_CACHE_SECONDS` from when the org produced it), rounded **up**, at least 1: a shared cache never gets
  `max-age=0` for an answer the gateway still serves fresh (Varnish and others would stop keeping and coalescing
  for that URL), and keeps it at most one second longer than the gateway does. It never reaches past the
  answer's `nextTransitionTime`: in the last second before one, `max-age` is 0.
- A stale answer (the org failing) is kept `STALE_MAX_AGE` seconds at most (no longer than a fresh one): the app is
  asked again soon, and a cache never shows an outage's answer long after the org is back.
- `stale-while-revalidate=0` always: a cache must not serve a copy past `max-age` while it asks again (Varnish
  would otherwise use its default grace). `stale-if-error` is what is left of how long the gateway itself would
  serve the answer as stale (`AVAILABILITY_STALE_SECONDS`) once `max-age` has passed: a cache that honours it
  (nginx, for an app it cannot reach) serves no older answer than the gateway would. Varnish ignores it, and a
  5xx from the app replaces its copy, which is why the gateway answers a stale 200 whenever it has one.
- The `ETag` is weak (`W/`) and covers everything the page shows but `retrievedAt`: refreshed without
  changing, an answer keeps its tag, so a revalidation costs a 304 and no body. The wording is covered too: the
  same answer in another language or time zone, or on another day ("tomorrow" becoming "today"), gets another.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from typing import Any

from ..answer import Availability

UNCOVERED = ("retrievedAt",)  # refreshed at every upstream call, while what the page shows may be unchanged
STALE_MAX_AGE = 5  # seconds a cache may keep an answer served while the org fails: how long it may hide a recovery


def max_age(answer: Availability, now: datetime, cache_seconds: float, stale_seconds: float) -> int:
    """Whole seconds a cache may keep `answer` from `now`: 1..ceil(cache_seconds) rounded up, never past its next
    transition (0 within the last second before it), at most `STALE_MAX_AGE` when stale; 0 without a cache."""
    if cache_seconds <= 0:
        return 0
    age = answer.age_seconds(now)
    # retrieved_at is taken before the gateway's entry starts: rounded up, the copy outlives it by under a second.
    if answer.source == "stale":
        seconds = min(STALE_MAX_AGE, math.ceil(cache_seconds), max(1, math.ceil(stale_seconds - age)))
    else:
        seconds = max(1, math.ceil(cache_seconds - age))
    until_transition = answer.seconds_until_transition()
    if until_transition is not None:
        seconds = min(seconds, max(0, math.floor(until_transition - age)))  # the answer is wrong after it
    return seconds


def cache_control(answer: Availability, now: datetime, cache_seconds: float, stale_seconds: float) -> str:
    """The `Cache-Control` of a public answer: `public, max-age=N, stale-while-revalidate=0, stale-if-error=S`."""
    seconds = max_age(answer, now, cache_seconds, stale_seconds)
    servable = stale_seconds
    until_transition = answer.seconds_until_transition()
    if until_transition is not None:
        servable = min(servable, until_transition)
    if_error = max(0, math.floor(servable - answer.age_seconds(now) - seconds)) if seconds else 0
    return f"public, max-age={seconds}, stale-while-revalidate=0, stale-if-error={if_error}"


def entity_tag(body: dict[str, Any]) -> str:
    """A weak validator of `body` (a public answer): it changes exactly when what the page shows changes."""
    shown = {name: value for name, value in body.items() if name not in UNCOVERED}
    text = json.dumps(shown, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return 'W/"' + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest() + '"'


def strong_tag(payload: bytes) -> str:
    """A strong validator of a fixed payload (the script)."""
    return '"' + hashlib.blake2b(payload, digest_size=12).hexdigest() + '"'


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """Whether `If-None-Match` names `tag` (weak comparison, as RFC 9110 §13.1.2 asks), or is `*`."""
    if not if_none_match:
        return False
    wanted = _opaque(tag)
    for given in if_none_match.split(","):
        candidate = given.strip()
        if candidate == "*" or _opaque(candidate) == wanted:
            return True
    return False


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith(("W/", "w/")) else tag
