"""The OpenAPI 3.1 document served at `GET /api/openapi.json`: every operation, with the shapes of
`availability.schemas` as its components, unchanged but for their private keys (3.1's schema dialect is the
JSON Schema the validation runs)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .. import __version__
from ..schemas import components, public, ref
from . import examples
from .operation import CORRELATION_PARAMETER, ERROR_RESPONSES, RESPONSE_NAMES, Notification, Operation
from .operations import INFO_DESCRIPTION, TAGS, TITLE, operations

OPENAPI_VERSION = "3.1.0"


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every endpoint (a fresh copy; paths carry the `/api` prefix).

    `server_url` is the app's origin, e.g. `https://contoso-availability.azurewebsites.net`; a trailing `/` or
    `/api` is dropped. Without it the document has no `servers` (clients then use the URL it was read from).
    """
    document: dict[str, Any] = json.loads(_document_json())
    if server_url:
        url = server_url.rstrip("/")
        if url.endswith("/api"):
            url = url[: -len("/api")]
        ordered = {key: document[key] for key in ("openapi", "info")}
        ordered["servers"] = [{"url": url}]
        ordered.update((key, value) for key, value in document.items() if key not in ordered)
        document = ordered
    return document


def _correlation_header() -> dict[str, str]:
    return {"$ref": "#/components/headers/CorrelationId"}


def _id_headers() -> dict[str, Any]:
    """The ids every answer of the app carries: the correlation id, and the gateway's own when they differ."""
    return {"x-correlation-id": _correlation_header(), "x-request-id": {"$ref": "#/components/headers/RequestId"}}


def _error_response(description: str, codes: tuple[str, ...]) -> dict[str, Any]:
    if not codes:  # the Functions host's own answer: an empty body, nothing of the app's
        return {"description": description}
    bodies = examples.error_bodies()
    headers: dict[str, Any] = _id_headers()
    if "upstream_throttled" in codes:
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {
            "schema": ref("Error"),
            "examples": {code: {"value": bodies[code]} for code in codes},
        }},
    }


def _empty_as_absent(parameter: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter, which may also be empty: the Functions host drops `name=` before the app."""
    if parameter["in"] != "query" or parameter.get("required"):
        return parameter
    schema = parameter["schema"]
    choices = schema["anyOf"] if set(schema) == {"anyOf"} else [schema]
    return {**parameter, "schema": {"anyOf": [*choices, {"const": ""}]}}


def _operation(op: Operation) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                                 "description": op.description, "tags": [op.tag]}
    parameters: list[dict[str, Any]] = [{"$ref": "#/components/parameters/CorrelationId"}]
    parameters += [_empty_as_absent(public({key: value for key, value in param.items() if key != "title"}))
                   for param in op.parameters]
    operation["parameters"] = parameters
    if op.body:
        operation["requestBody"] = {
            "required": True,
            "description": op.body.description,
            "content": {"application/json": {"schema": ref(op.body.schema), "examples": op.body.examples}},
        }
    ok = op.ok
    if ok.schema:
        schema: dict[str, Any] = ref(ok.schema)
    else:
        schema = {"type": "string"} if (ok.media or "").startswith("text/") else {"type": "object"}
    media: dict[str, Any] = {"schema": schema}
    if ok.examples:
        media["examples"] = ok.examples
    headers = {**_id_headers(), **ok.headers}
    responses: dict[str, Any] = {str(ok.status): {"description": ok.description, "headers": headers}}
    if ok.media:
        responses[str(ok.status)]["content"] = {ok.media: media}
    if op.not_modified:
        responses["304"] = {"description": "Not modified: the ETag in If-None-Match still holds (no body).",
                            "headers": headers}
    for status in op.errors:
        # The shared response, or this operation's own when its causes differ.
        responses[str(status)] = (_error_response(*op.error_notes[status]) if status in op.error_notes
                                  else {"$ref": "#/components/responses/" + RESPONSE_NAMES[status]})
    operation["responses"] = responses
    if op.notification:
        operation["callbacks"] = _callbacks(op.notification)
    if op.public:
        operation["security"] = []
    elif op.admin:
        operation["security"] = [{"masterKeyHeader": []}, {"masterKeyQuery": []}]
    return operation


def _callbacks(notification: Notification) -> dict[str, Any]:
    """What the subscribed callback is sent, as an OpenAPI callback on the request's callbackUrl."""
    return {"availabilityChange": {"{$request.body#/callbackUrl}": {"post": {
        "summary": notification.summary,
        "description": notification.description,
        "parameters": [dict(header) for header in notification.headers],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": ref(notification.schema), "examples": notification.examples}}},
        "responses": {"2XX": {"description": "Taken: not sent again."},
                      "410": {"description": "Gone: the subscription is deleted."},
                      "default": {"description": "5xx, 429 or no answer: sent again later with the same delivery ID "
                                                 "(after 10 failures in a row the subscription is disabled)."}},
    }}}}


@lru_cache(maxsize=1)
def _document_json() -> str:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations():
        paths.setdefault("/api" + op.path, {})[op.method] = _operation(op)
    correlation = {key: value for key, value in CORRELATION_PARAMETER.items() if key != "title"}
    document = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE + " API", "version": __version__, "description": INFO_DESCRIPTION},
        "tags": TAGS,
        "security": [{"functionKeyHeader": []}, {"functionKeyQuery": []}],
        "paths": paths,
        "components": {
            "schemas": public(components()),
            "parameters": {"CorrelationId": public(correlation)},
            "headers": {
                "CorrelationId": {"description": "The request's correlation ID (yours when you sent a valid one); "
                                                 "quote it when reporting a problem (x-request-id, when there is "
                                                 "one).",
                                  "schema": {"type": "string"}},
                "RequestId": {"description": "Only when you sent your own x-correlation-id: the gateway's own ID for "
                                             "the request, the one its logs and telemetry hold (yours is echoed, "
                                             "never recorded).",
                              "schema": {"type": "string", "format": "uuid"}},
                "RetryAfter": {"description": "Seconds to wait before retrying (upstream_throttled).",
                               "schema": {"type": "integer", "minimum": 0}},
            },
            "responses": {RESPONSE_NAMES[status]: _error_response(*entry) for status, entry in ERROR_RESPONSES.items()},
            "securitySchemes": {
                "functionKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                                      "description": "A host key of the function app (a function key opens only "
                                                     "its own function)."},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                                     "description": "A host key of the function app, as a query parameter."},
                "masterKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                                    "description": "The master key of the function app (operators only)."},
                "masterKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                                   "description": "The master key of the function app, as a query parameter."},
            },
        },
    }
    return json.dumps(document)
