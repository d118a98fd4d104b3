"""HTTP functions: parse the request, ask the service, render the answer or the error.

Everything past `azure.functions` is imported inside the functions: importing the app is the cold start.

Translation of errors to HTTP happens here and only here (`_error_response`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import azure.functions as func

from . import __version__, runtime
from .errors import AvailabilityError, InvalidRequest

log = logging.getLogger(__name__)
bp = func.Blueprint()

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 25
REQUEST_BUDGET = 24.0  # seconds; Copilot Studio's HTTP node gives up at 30 s
_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{1,64}")


# -- rendering ---------------------------------------------------------------------------------------


def _json(body: object, status: int, correlation_id: str, headers: dict[str, str] | None = None
          ) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers={"x-correlation-id": correlation_id, "Cache-Control": "no-store", **(headers or {})},
    )


def _error_response(error: AvailabilityError, correlation_id: str) -> func.HttpResponse:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return _json(error.to_body(), error.status, correlation_id, headers)


def _correlation_id(req: func.HttpRequest) -> str:
    given = req.headers.get("x-correlation-id") or ""
    if _CORRELATION.fullmatch(given):
        return given
    import uuid  # imported on first use: it pulls in `platform`, which costs cold starts

    return str(uuid.uuid4())


def _handle(name: str, req: func.HttpRequest, work: Callable[[float], tuple[Any, str]]) -> func.HttpResponse:
    """Run `work(deadline)` → (body, outcome); render it or its error; log one line either way."""
    started = time.monotonic()
    correlation_id = _correlation_id(req)
    try:
        body, outcome = work(started + REQUEST_BUDGET)
        response = _json(body, 200, correlation_id)
    except AvailabilityError as error:
        response, outcome = _error_response(error, correlation_id), error.code
    except Exception:  # a bug must still answer in the contract's shape, without a trace
        log.exception("%s failed unexpectedly (correlation %s)", name, correlation_id)
        response = _json({"error": {"code": "internal_error", "message": "The request could not be completed."}},
                         500, correlation_id)
        outcome = "internal_error"
    log.info("%s %d %s %.0fms correlation=%s", name, response.status_code, outcome,
             (time.monotonic() - started) * 1000, correlation_id)
    return response


def _body(req: func.HttpRequest) -> Any:
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequest("The request body is larger than 64 KiB.")
    if not raw.strip():
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The request body is not valid JSON (UTF-8).") from None


def _now() -> datetime:
    return datetime.now(timezone.utc)


# -- functions -----------------------------------------------------------------------------------------


def _single_check(name: str, parser: str, req: func.HttpRequest) -> func.HttpResponse:
    """One check: `parser` (a model function name) turns the body into it; the service answers it."""

    def work(deadline: float) -> tuple[Any, str]:
        from . import model

        check = getattr(model, parser)(_body(req))
        answer = runtime.availability_service().check(check, deadline=deadline)
        return answer.to_json(_now(), check.time_zone), answer.source

    return _handle(name, req, work)


@bp.route(route="availability/before-conversation", methods=["POST"])
def before_conversation(req: func.HttpRequest) -> func.HttpResponse:
    """Queue, hours and staffing a new customer of a workstream would meet."""
    return _single_check("before-conversation", "parse_before_conversation", req)


@bp.route(route="availability/for-conversation", methods=["POST"])
def for_conversation(req: func.HttpRequest) -> func.HttpResponse:
    """Queue, hours and staffing for an ongoing conversation (e.g. an AI agent about to escalate)."""
    return _single_check("for-conversation", "parse_for_conversation", req)


@bp.route(route="availability/batch", methods=["POST"])
def batch(req: func.HttpRequest) -> func.HttpResponse:
    """Several before-conversation checks in one call; each gets its own status."""

    def work(deadline: float) -> tuple[Any, str]:
        from .model import parse_before_conversation

        body = _body(req)
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        unknown = sorted(set(body) - {"checks"})
        if unknown:
            raise InvalidRequest(f"Unknown field '{unknown[0][:100]}'.", target=unknown[0][:100])
        checks = body.get("checks")
        if not isinstance(checks, list) or not checks:
            raise InvalidRequest("'checks' must be a list of 1 to 25 before-conversation checks.", target="checks")
        if len(checks) > MAX_BATCH:
            raise InvalidRequest(f"'checks' holds {len(checks)} checks; at most {MAX_BATCH} are allowed.",
                                 target="checks")
        parsed: list[Any] = []
        for index, item in enumerate(checks):
            try:
                parsed.append(parse_before_conversation(item, prefix=f"checks[{index}]"))
            except InvalidRequest as error:
                parsed.append(error)
        valid = [check for check in parsed if not isinstance(check, AvailabilityError)]
        answers = iter(runtime.availability_service().check_many(valid, deadline=deadline)) if valid else iter(())
        now = _now()
        results = []
        for index, check in enumerate(parsed):
            outcome = check if isinstance(check, AvailabilityError) else next(answers)
            if isinstance(outcome, AvailabilityError):
                body = outcome.to_body()  # a copy: the error may be shared by identical checks
                target = body["error"].get("target")
                if target and not target.startswith("checks["):  # an upstream error names the field alone
                    body["error"]["target"] = f"checks[{index}].{target}"
                results.append({"status": outcome.status, **body})
            else:
                results.append({"status": 200, "availability": outcome.to_json(now, check.time_zone)})
        failed = sum(1 for r in results if r["status"] != 200)
        return {"results": results}, f"{len(results) - failed}/{len(results)} ok"

    return _handle("batch", req, work)


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: answers without calling upstream."""
    return _json({"status": "ok", "version": __version__}, 200, _correlation_id(req))


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3 document of this API, with this app's own address as its server."""
    from .openapi import openapi_document

    origin = urlsplit(req.url)
    server = f"{origin.scheme}://{origin.netloc}" if origin.scheme and origin.netloc else None
    return _json(openapi_document(server), 200, _correlation_id(req))


@bp.route(route="snapshots", methods=["GET"])
def snapshots(req: func.HttpRequest) -> func.HttpResponse:
    """Availability history recorded by the snapshot timer, newest first."""

    def work(deadline: float) -> tuple[Any, str]:
        from .snapshots import parse_history_query

        query = parse_history_query(req.params, _now())
        rows = runtime.snapshot_store().history(query, deadline=deadline)
        return {"snapshots": [row.to_json() for row in rows]}, f"{len(rows)} rows"

    return _handle("snapshots", req, work)


@bp.route(route="dashboard", methods=["GET"])
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """The supervisor dashboard: one self-contained HTML page (now, the last 24 hours, the hour-of-week heatmap)."""
    page: dict[str, str] = {}

    def work(deadline: float) -> tuple[Any, str]:
        from .dashboard import dashboard_page

        page["html"], page["nonce"] = dashboard_page(req.params, now=_now(), deadline=deadline)
        return None, "html"

    response = _handle("dashboard", req, work)  # errors (400 with target, ...) keep the contract's JSON shape
    if response.status_code != 200:
        return response
    from .dashboard import content_security_policy

    return func.HttpResponse(page["html"], status_code=200, mimetype="text/html", charset="utf-8", headers={
        "x-correlation-id": response.headers["x-correlation-id"], "Cache-Control": "no-store",
        "Content-Security-Policy": content_security_policy(page["nonce"]), "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})
