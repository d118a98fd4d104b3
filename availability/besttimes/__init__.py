"""Best times to reach a workstream: the coming hours its snapshot history shows open and staffed, with how sure
each is, or plainly that the history is too short to say.

- `cache.py`: `ProfileCache`, each workstream's `Profile` (its history by hour of the week, `snapshots/profile.py`)
  built from the snapshot table at most once per snapshot slot, never asking the org (`App.profiles`).
- `windows.py`: `suggest(profile, now, ...)`, the windows from a moment on, and `confidence`.
- `answer.py`, `wording.py`, `query.py`: the API's answer, its sentences in every language, its parameters.
- `blueprint.py`: `GET /api/workstreams/{id}/best-times`.

Other features read the same two: `app.profiles.profile(workstream_id).hour(moment)` is what an hour of the week
usually looks like (its share of snapshots with a representative free, its waits and their spread), and
`suggest(profile, now, count=1)` the next good time. Nothing is imported here: the function app imports the
blueprint, and the blueprint the rest on first use.
"""
