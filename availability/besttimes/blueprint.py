"""The HTTP function of the best times: `GET /api/workstreams/{id}/best-times` (function key).

As in the other blueprints, everything past `azure.functions` and the composition root is imported inside the
function: importing the app is the cold start.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from .. import app
from ..http.respond import answers, handle

bp = func.Blueprint()


@bp.route(route="workstreams/{id}/best-times")
@answers("GET")
def best_times(req: func.HttpRequest) -> func.HttpResponse:
    """When a workstream is usually staffed: suggestions from its snapshot history, with how sure each is."""

    def listed(workstream_id: str, deadline: float | None) -> bool:
        from ..errors import AvailabilityError

        try:
            return any(w.id == workstream_id.lower() for w in app.current().workstreams.workstreams(deadline=deadline))
        except AvailabilityError:
            return True  # the org cannot say now: the history speaks alone

    def work(deadline: float) -> tuple[Any, str]:
        from .answer import best_times
        from .query import parse_best_times_query

        query = parse_best_times_query(req.route_params.get("id", ""), req.params,
                                       req.headers.get("accept-language"))
        body = best_times(app.current().profiles, query, deadline=deadline, listed=listed)
        return body, f"{len(body['suggestions'])} suggestions" if body["reason"] is None else body["reason"]

    return handle("best-times", req, work)
