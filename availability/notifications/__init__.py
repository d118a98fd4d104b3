"""Change subscriptions: callers are told, by a signed webhook, when a watched check's availability changes.

- `subscriptions.py`: the API (make, list, get, delete) over `store.py`, the table of subscriptions and watches.
- `watch.py`: what the `notify_subscribers` timer runs: change detection (transitions, staffing, the snapshot
  rows) and delivery, its timed tasks on `scheduler.py`; `changes.py`: what a change is and what its delivery says;
  `delivery.py`: one signed POST; `guard.py`: which callbacks may be called.
- `blueprint.py`: the HTTP functions and the timer.

Nothing is imported here: the function app imports the blueprint, and the blueprint the rest on first use.
"""
