"""One MCP tool call, from the invocation the Functions MCP extension hands the function to the result it returns.

The extension passes a JSON string: `{"name", "arguments", "sessionid"?, "transport": {"name", "properties":
{"headers": {...}}}}` (Azure/azure-functions-mcp-extension, Abstractions/ToolInvocationContext.cs). The headers are
the client's HTTP request's, key included: only `Accept-Language` is read from them, and the context is never
logged. The arguments are the body of the tool's HTTP twin and go through the same validation, service (cache,
single flight, stale answers, budget) and rules.

The function returns the whole `CallToolResult`, wrapped as the extension reads a worker's result when
`useResultSchema` is set: `{"type": "call_tool_result", "content": "<the CallToolResult as JSON>"}`
(Trigger/ToolReturnValueBinder.cs). An answer is `structuredContent` and, for clients that read only text, the
same JSON as a text block; an error is a result with `isError: true` holding the API's error body (code,
message, target, and `retryAfter` where the HTTP answer would carry `Retry-After`), never an exception: the
extension would turn one into a bare "An error occurred invoking ..." for the client.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from .. import app, telemetry
from ..errors import AvailabilityError, InternalError, InvalidRequest

__all__ = ["call_tool", "result_envelope"]

log = logging.getLogger(__name__)


def call_tool(name: str, context: Any) -> str:
    """Run the tool `name` for the extension's invocation `context`; the result envelope, whatever happens."""
    started = time.monotonic()
    correlation = str(uuid.uuid4())
    endpoint = f"mcp/{name}"
    with telemetry.request_span(endpoint, correlation) as span:
        try:
            from ..http.respond import REQUEST_BUDGET

            arguments, accept_language = _invocation(context)
            structured, outcome = _run(name, arguments, accept_language, started + REQUEST_BUDGET)
            status, result = 200, result_envelope(structured, correlation)
        except AvailabilityError as error:
            status, outcome, result = error.status, error.code, _error_envelope(error, correlation)
        except Exception:  # a bug must still answer as a tool error in the API's shape, without a trace
            log.exception("%s failed unexpectedly (correlation %s)", endpoint, correlation)
            failure = InternalError()
            status, outcome, result = failure.status, failure.code, _error_envelope(failure, correlation)
        span.set_attribute("http.response.status_code", status)
    telemetry.count_request(endpoint, status)
    log.info("%s %d %s %.0fms correlation=%s", endpoint, status, outcome, (time.monotonic() - started) * 1000,
             correlation)
    return result


def result_envelope(structured: dict[str, Any], correlation: str, *, is_error: bool = False) -> str:
    """The function's return value for the extension: a `CallToolResult` with `structured` as content and text."""
    result = {"content": [{"type": "text", "text": _json(structured)}], "structuredContent": structured,
              "isError": is_error, "_meta": {"correlationId": correlation}}
    return json.dumps({"type": "call_tool_result", "content": _json(result)})


def _error_envelope(error: AvailabilityError, correlation: str) -> str:
    body = error.to_body()
    if error.retry_after is not None:
        body["error"]["retryAfter"] = error.retry_after  # what the HTTP answer says in Retry-After
    return result_envelope(body, correlation, is_error=True)


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # half a UTF-16 character echoed from a caller: escaped, still valid JSON
        return json.dumps(value, separators=(",", ":"))
    return text


def _invocation(context: Any) -> tuple[dict[str, Any], str | None]:
    """The call's arguments (an argument given as null is left out, as models fill unused parameters with null)
    and the client's Accept-Language."""
    invocation = json.loads(context) if isinstance(context, (str, bytes)) else context
    if not isinstance(invocation, dict):
        raise InternalError(message="The tool call could not be read.")
    arguments = invocation.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidRequest("The tool's arguments must be a JSON object.")
    transport = invocation.get("transport")
    properties = transport.get("properties") if isinstance(transport, dict) else None
    headers = properties.get("headers") if isinstance(properties, dict) else None
    accept_language = None
    if isinstance(headers, dict):
        accept_language = next((value for key, value in headers.items()
                                if isinstance(key, str) and key.lower() == "accept-language"), None)
    return ({key: value for key, value in arguments.items() if value is not None},
            accept_language if isinstance(accept_language, str) else None)


def _run(name: str, arguments: dict[str, Any], accept_language: str | None, deadline: float
         ) -> tuple[dict[str, Any], str]:
    """The tool's answer and its outcome for the log, as its HTTP twin answers."""
    from ..checks import Check, parse_before_conversation, parse_escalation, parse_for_conversation, validated
    from ..language import negotiate

    request = None
    check: Check
    if name == "decide_escalation":
        request = parse_escalation(arguments)
        check = request.check
    elif name == "check_availability":
        check = parse_before_conversation(arguments)
    elif name == "check_conversation_availability":
        check = parse_for_conversation(arguments)
    elif name == "list_workstreams":
        channel = validated("WorkstreamsRequest", arguments).get("channel")
        listing = app.current().workstreams.listing(deadline=deadline)
        return listing.to_json(channel), listing.source
    else:
        raise InternalError(message="No such tool.")
    current = app.current()
    language = negotiate(check.language, accept_language)
    if request is not None:
        from ..decision import decision_for

        decision, now = decision_for(current, request, deadline=deadline)
        return decision.to_json(now, check.time_zone, language), decision.reason
    answer = current.service.check(check, deadline=deadline)
    now = datetime.now(UTC)
    return answer.to_json(now, check.time_zone, language), answer.source
