"""HTTP responses in the API's shape: JSON bodies, errors, the correlation id, one log line per request.

Translation of the error tree to HTTP happens here and only here.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from .. import telemetry
from ..errors import AvailabilityError, InternalError, InvalidRequest, MethodNotAllowed

log = logging.getLogger(__name__)

REQUEST_BUDGET = 24.0  # seconds; Copilot Studio's HTTP node gives up at 30 s
REQUEST_ID = "x-request-id"  # the gateway's own id of a request that came with a correlation id of the caller's
_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def json_response(body: object, status: int, correlation_id: str, headers: dict[str, str] | None = None
                  ) -> func.HttpResponse:
    """A JSON response with the correlation id; never cached, never sniffed as anything but JSON."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError:
        # Half a UTF-16 character somewhere (echoed from a caller): escaped, the body is still valid JSON.
        payload = json.dumps(body, separators=(",", ":")).encode("ascii")
    return func.HttpResponse(
        payload,
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers={"x-correlation-id": correlation_id, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                 **(headers or {})},
    )


def error_response(error: AvailabilityError, correlation_id: str) -> func.HttpResponse:
    """The API's error body and status (with `Retry-After` when the error carries one)."""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return json_response(error.to_body(), error.status, correlation_id, headers)


def correlation_id(req: func.HttpRequest) -> str:
    """The caller's `x-correlation-id` when it is a sane token, else a new one."""
    return _given(req) or _new_id()


def _given(req: func.HttpRequest) -> str | None:
    given = req.headers.get("x-correlation-id") or ""
    return given if _CORRELATION.fullmatch(given) else None


def _new_id() -> str:
    import uuid  # imported on first use: it pulls in `platform`, which costs cold starts

    return str(uuid.uuid4())


def _shared(response: func.HttpResponse) -> bool:
    """Whether a shared cache (a CDN) may keep `response` and hand it to other callers."""
    return "public" in (response.headers.get("Cache-Control") or "")


def handle(name: str, req: func.HttpRequest, work: Callable[[float], tuple[Any, str]],
           render: Callable[[Any, str], func.HttpResponse] | None = None) -> func.HttpResponse:
    """Run `work(deadline)` → (body, outcome); render it (`render(body, correlation id)`, default a JSON 200) or
    its error; log one line either way."""
    started = time.monotonic()
    # The log line and the span hold the gateway's own id for the request, never a value the caller chose: a
    # caller's own x-correlation-id is echoed to it, and the gateway's id given beside it (x-request-id).
    own, given = _new_id(), _given(req)
    correlation = given or own
    with telemetry.request_span(name, own) as span:
        try:
            body, outcome = work(started + REQUEST_BUDGET)
            response = render(body, correlation) if render else json_response(body, 200, correlation)
        except AvailabilityError as error:
            response, outcome = error_response(error, correlation), error.code
        except Exception:  # a bug must still answer in the API's shape, without a trace
            log.exception("%s failed unexpectedly (correlation %s)", name, own)
            bug = InternalError()
            response, outcome = error_response(bug, correlation), bug.code
        span.set_attribute("http.response.status_code", response.status_code)
    if given is not None and _shared(response):
        # A cache would repeat the caller's id to everyone it serves this copy to: the gateway's own id instead.
        response.headers["x-correlation-id"] = own
    elif given is not None:
        response.headers[REQUEST_ID] = own
    telemetry.count_request(name, response.status_code)
    log.info("%s %d %s %.0fms correlation=%s", name, response.status_code, outcome,
             (time.monotonic() - started) * 1000, own)
    return response


Function = Callable[[func.HttpRequest], func.HttpResponse]

# What a Python function may declare (azure.functions.HttpMethod); any other method (TRACE, QUERY, ...) reaches
# only a function that declares no methods at all.
DECLARABLE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def answers(*methods: str, allow: tuple[str, ...] | None = None, endpoint: str | None = None
            ) -> Callable[[Function], Function]:
    """Run the function for `methods` only and answer any other method that reaches it with the app's 405.

    Azure's host answers a method no function of a route declares with an empty 404, so a route that should say
    405 (with `Allow`, in the API's shape) declares the other methods too and refuses them here: declared
    without methods, the function is handed every method. `allow` is what the whole route answers, when other
    functions serve the same route (default: `methods`); `endpoint` names the function's requests in the log and
    the metrics (default: its name, with dashes).
    """
    allowed = ", ".join(allow or methods)

    def decorate(function: Function) -> Function:
        name = endpoint or function.__name__.replace("_", "-")

        @functools.wraps(function)
        def dispatch(req: func.HttpRequest) -> func.HttpResponse:
            if req.method.upper() in methods:
                return function(req)

            def refuse(deadline: float) -> tuple[Any, str]:
                raise MethodNotAllowed(f"This route answers {allowed} only.")

            response = handle(name, req, refuse)
            response.headers["Allow"] = allowed
            return response

        dispatch.answered_methods = methods  # type: ignore[attr-defined]  # what the API document describes
        return dispatch

    return decorate


def declared_besides(*methods: str) -> list[str]:
    """The methods a function refusing with 405 declares: every declarable one but those of `methods`."""
    return [method for method in DECLARABLE_METHODS if method not in methods]


def json_body(req: func.HttpRequest) -> Any:
    """The request's JSON body (at most 64 KiB), or `InvalidRequest`."""
    from ..schemas import MAX_BODY_BYTES  # the request shapes load with the first request, not the app

    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequest(f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    if not raw.strip():
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        body = _DECODER.decode(raw.decode("utf-8"))
    except RecursionError:
        raise InvalidRequest("The request body nests arrays or objects too deeply.") from None
    except json.JSONDecodeError as exc:  # where, so that a stray comma is found at once (never the text itself)
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg.lower()} at line {exc.lineno}, column "
                             f"{exc.colno}.") from None
    except (UnicodeError, ValueError):
        raise InvalidRequest("The request body is not valid JSON (UTF-8).") from None
    # A \uD800-\uDFFF escape can leave half a character, which no UTF-8 text holds: refused, naming where.
    if b"\\u" in raw and re.search(rb"\\u[dD][89a-fA-F]", raw):
        at = _half_character(body, "")
        if at is not None:
            raise InvalidRequest("The request holds half a UTF-16 character (a lone surrogate) in "
                                 f"{at or 'the body'}; send text as valid Unicode.", target=at or None)
    return body


def _half_character(node: Any, path: str) -> str | None:
    """Where in `node` a string (a name or a value) holds a lone surrogate: the path of the field that holds
    it, never the text itself (it could not be written back); None when there is none."""
    if isinstance(node, str):
        return path if _LONE_SURROGATE.search(node) else None
    if isinstance(node, list):
        for index, item in enumerate(node):
            found = _half_character(item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(node, dict):
        for name, value in node.items():
            if _LONE_SURROGATE.search(name):
                return path
            found = _half_character(value, f"{path}.{name}" if path else name)
            if found is not None:
                return found
    return None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# Python reads NaN and Infinity, which JSON does not have. One decoder for all requests: json.loads with a hook
# would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_not_json)


def utcnow() -> datetime:
    return datetime.now(UTC)
