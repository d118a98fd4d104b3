"""HTTP caching of public answers: how long a browser or CDN may keep one (`max-age`) and its validator (`ETag`).

- `max-age` is what is left of the answer's freshness in the gateway's own cache: `AVAILABILITY_CACHE_SECONDS`
  from when the org produced it, cut at its `nextTransitionTime`, rounded down; 0 for a stale answer. A page
  and a CDN therefore never keep an answer longer than the gateway does, and ask again just as it refreshes.
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


def max_age(answer: Availability, now: datetime, cache_seconds: float) -> int:
    """Whole seconds `answer` stays fresh from `now` (0..cache_seconds), never past its next transition."""
    if answer.source == "stale":
        return 0
    fresh_for = cache_seconds
    until_transition = answer.seconds_until_transition()
    if until_transition is not None:
        fresh_for = min(fresh_for, until_transition)
    # retrieved_at is taken before the gateway's cache entry starts: the page's window ends no later than it.
    left = math.floor(fresh_for - answer.age_seconds(now))
    return max(0, min(int(cache_seconds), left))


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
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or _opaque(candidate) == wanted:
            return True
    return False


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith(("W/", "w/")) else tag
