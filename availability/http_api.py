"""HTTP functions: parse the request, ask the service, render the answer or the error."""

from __future__ import annotations

import json
import uuid

import azure.functions as func

from . import __version__

bp = func.Blueprint()


def _json(body: object, status: int = 200, correlation_id: str | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers={"x-correlation-id": correlation_id or str(uuid.uuid4())},
    )


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: answers without calling upstream."""
    return _json({"status": "ok", "version": __version__})
